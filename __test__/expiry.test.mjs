// Contract §3: KV time is Date.now() at the moment of each call, so mocking
// Date (node:test mock.timers here; Jest/Vitest fake timers for users) moves
// expiry. A key is expired once floor(now / 1000) >= expiration.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, freezeTime } from "./helpers/kv.mjs";

const GONE = { value: null, metadata: null, cacheStatus: null };

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: expiry follows Date.now()`, () => {
    kvTest("an expirationTtl key is readable until its second, then gone from every read", async (ns, _mf, _p, t) => {
      const start = freezeTime(t);
      const expiration = Math.floor(start / 1000) + 60;
      await ns.put("ttl", "v", { expirationTtl: 60, metadata: { m: 1 } });
      await ns.put("stays", "v");
      assert.deepEqual((await ns.list()).keys, [{ name: "stays" }, { name: "ttl", expiration, metadata: { m: 1 } }]);

      // The last millisecond before the expiration second: still there.
      t.mock.timers.setTime(expiration * 1000 - 1);
      assert.equal(await ns.get("ttl"), "v");
      assert.deepEqual(await ns.getWithMetadata("ttl"), { value: "v", metadata: { m: 1 }, cacheStatus: null });
      assert.deepEqual((await ns.list({ prefix: "ttl" })).keys, [{ name: "ttl", expiration, metadata: { m: 1 } }]);

      // From the first millisecond of that second: expired everywhere.
      t.mock.timers.setTime(expiration * 1000);
      assert.equal(await ns.get("ttl"), null);
      assert.equal(await ns.get("ttl", "arrayBuffer"), null);
      assert.equal(await ns.get("ttl", "stream"), null);
      assert.equal(await ns.get("ttl", "json"), null);
      assert.deepEqual(await ns.getWithMetadata("ttl"), GONE);
      assert.deepEqual([...(await ns.get(["ttl", "stays"]))], [["ttl", null], ["stays", "v"]]);
      assert.deepEqual([...(await ns.getWithMetadata(["ttl"]))], [["ttl", null]]);
      assert.deepEqual(await ns.list(), { keys: [{ name: "stays" }], list_complete: true, cacheStatus: null });
      assert.equal(await ns.delete("ttl"), undefined);
      assert.equal(await ns.get("stays"), "v");
    });

    kvTest("an absolute expiration behaves the same way", async (ns, _mf, _p, t) => {
      const start = freezeTime(t);
      const expiration = Math.floor(start / 1000) + 3600;
      await ns.put("abs", "v", { expiration });
      t.mock.timers.setTime(expiration * 1000 - 1);
      assert.equal(await ns.get("abs"), "v");
      t.mock.timers.setTime(expiration * 1000 + 500);
      assert.equal(await ns.get("abs"), null);
      assert.deepEqual((await ns.list()).keys, []);
    });

    kvTest("moving time forward with tick() expires keys too", async (ns, _mf, _p, t) => {
      freezeTime(t, Math.floor(Date.now() / 1000) * 1000);
      await ns.put("k", "v", { expirationTtl: 120 });
      t.mock.timers.tick(119_999);
      assert.equal(await ns.get("k"), "v");
      t.mock.timers.tick(1);
      assert.equal(await ns.get("k"), null);
    });

    kvTest("list pages skip expired keys and stay complete and ordered", async (ns, _mf, _p, t) => {
      const start = freezeTime(t);
      const nowSeconds = Math.floor(start / 1000);
      for (let i = 0; i < 30; i++) {
        const key = `k${String(i).padStart(2, "0")}`;
        await ns.put(key, "v", i % 3 === 0 ? { expiration: nowSeconds + 60 } : { expiration: nowSeconds + 7200 });
      }
      t.mock.timers.setTime((nowSeconds + 60) * 1000);
      const seen = [];
      let cursor;
      for (;;) {
        const page = await ns.list({ limit: 4, cursor });
        seen.push(...page.keys.map((k) => k.name));
        for (const key of page.keys) assert.equal(key.expiration, nowSeconds + 7200);
        if (page.list_complete) break;
        cursor = page.cursor;
      }
      const expected = Array.from({ length: 30 }, (_, i) => i).filter((i) => i % 3 !== 0).map((i) => `k${String(i).padStart(2, "0")}`);
      assert.deepEqual(seen, expected);
    });

    kvTest("an expired key can be written again, fresh", async (ns, _mf, _p, t) => {
      const start = freezeTime(t);
      await ns.put("k", "old", { expirationTtl: 60, metadata: { old: true } });
      t.mock.timers.setTime(start + 61_000);
      assert.equal(await ns.get("k"), null);
      await ns.put("k", "new");
      assert.deepEqual(await ns.getWithMetadata("k"), { value: "new", metadata: null, cacheStatus: null });
      assert.deepEqual((await ns.list()).keys, [{ name: "k" }]);
    });

    kvTest("put validates expiration against the mocked clock", async (ns, _mf, _p, t) => {
      // Far in the future (still int32 seconds): real time would accept this
      // expiration, mocked time says it is in the past.
      const future = 2_000_000_000;
      freezeTime(t, future * 1000);
      await assert.rejects(ns.put("k", "v", { expiration: future - 3600 }), {
        name: "Error",
        message: `KV PUT failed: 400 Invalid expiration of ${future - 3600}. Please specify integer greater than the current number of seconds since the UNIX epoch.`,
      });
      await ns.put("k", "v", { expirationTtl: 60 });
      assert.equal((await ns.list()).keys[0].expiration, future + 60);
    });
  });
}

// Many writes in flight at once: the outcome is one of the writes, whole.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor } from "./helpers/kv.mjs";

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: concurrency`, () => {
    kvTest("200 concurrent puts to one key leave one written value with its own metadata", async (ns) => {
      const writes = Array.from({ length: 200 }, (_, i) => ({ value: `value-${i}-${"x".repeat(i * 37)}`, metadata: { i } }));
      const results = await Promise.all(writes.map(({ value, metadata }) => ns.put("key", value, { metadata })));
      assert.ok(results.every((r) => r === undefined));
      const final = await ns.get("key");
      const index = writes.findIndex((w) => w.value === final);
      assert.ok(index >= 0, "the final value is one of the written values");
      assert.deepEqual(await ns.getWithMetadata("key"), { value: final, metadata: { i: index }, cacheStatus: null });
      assert.deepEqual((await ns.list()).keys, [{ name: "key", metadata: { i: index } }]);
    });

    kvTest("concurrent puts, reads and deletes on many keys", async (ns) => {
      const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, "0")}`);
      await Promise.all(keys.map((k) => ns.put(k, k, { metadata: k })));
      const [reads, , bulk] = await Promise.all([
        Promise.all(keys.map((k) => ns.getWithMetadata(k))),
        Promise.all(keys.filter((_, i) => i % 2 === 0).map((k) => ns.delete(k))),
        ns.get(keys.slice(0, 100)),
      ]);
      for (const [i, read] of reads.entries()) {
        // Each read saw the key either before or after its delete, never half.
        if (read.value !== null) assert.deepEqual(read, { value: keys[i], metadata: keys[i], cacheStatus: null });
        else assert.equal(i % 2, 0);
      }
      for (const [k, v] of bulk) assert.ok(v === null || v === k);
      const remaining = (await ns.list()).keys.map((k) => k.name);
      assert.deepEqual(remaining, keys.filter((_, i) => i % 2 === 1));
    });
  });
}

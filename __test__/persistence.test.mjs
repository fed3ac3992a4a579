// Persistence (contract §1, §4): data outlives dispose() and the process, on
// every persistent backend (directory, sled, Redis); sled's one-process rule
// gives a clear error, never a hang; Redis going away and coming back; and
// dispose() really releases sled and Redis connections.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { startRedis } from "../scripts/redis-server.mjs";
import { backends, tmp } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";
import { holdingChild, kvChild, runNode, KV_CHILD } from "./helpers/processes.mjs";
import { otherClientCount } from "./helpers/resp.mjs";

const persistent = backends.filter((b) => b.name !== "memory");

// Absolute expirations well in the future (2033 and 2035), within int32.
const EXPIRATION_A = 2_000_000_000;
const EXPIRATION_B = 2_050_000_000;
const BINARY = [0, 1, 2, 0xff, 0xfe, 0x80];

/** The writes every persistence test makes, as kv-child ops. */
const WRITES = [
  { op: "put", key: "plain", value: "plain value" },
  { op: "put", key: "with-meta", value: "v1", options: { metadata: { n: 1, s: "ü" } } },
  { op: "put", key: "with-exp", value: "expiring", options: { expiration: EXPIRATION_A } },
  { op: "put", key: "with-both", value: "both", options: { expiration: EXPIRATION_B, metadata: [1, 2] } },
  { op: "put", key: "falsy-meta", value: "zero", options: { metadata: 0 } },
  { op: "put", key: "binary", valueBase64: Buffer.from(BINARY).toString("base64") },
  { op: "put", key: "empty", value: "" },
  { op: "put", key: "a/b:c\\d|e", value: "separators" },
  { op: "put", key: "ü😀", value: "non-ASCII" },
  { op: "put", key: "deleted", value: "gone soon" },
  { op: "delete", key: "deleted" },
  { op: "put", key: "overwritten", value: "old", options: { metadata: { old: true }, expiration: EXPIRATION_A } },
  { op: "put", key: "overwritten", value: "new" },
];

/** What a reader must see after WRITES: [key, value, metadata, expiration]. */
const EXPECTED = [
  ["a/b:c\\d|e", "separators", null, undefined],
  ["binary", null, null, undefined], // checked as bytes
  ["empty", "", null, undefined],
  ["falsy-meta", "zero", 0, undefined],
  ["overwritten", "new", null, undefined],
  ["plain", "plain value", null, undefined],
  ["with-both", "both", [1, 2], EXPIRATION_B],
  ["with-exp", "expiring", null, EXPIRATION_A],
  ["with-meta", "v1", { n: 1, s: "ü" }, undefined],
  ["ü😀", "non-ASCII", null, undefined],
];

/** kv-child ops that read back everything EXPECTED describes, plus "deleted". */
const READS = [
  ...EXPECTED.map(([key]) => ({ op: "getWithMetadata", key })),
  { op: "get", key: "binary", type: "arrayBuffer" },
  { op: "get", key: "deleted" },
  { op: "list", options: { all: true, limit: 3 } },
];

/** Asserts the results of READS (from a child, or computed here). */
function assertReadsSeeWrites(results) {
  const listed = results.at(-1).keys;
  EXPECTED.forEach(([key, value, metadata], i) => {
    const got = results[i];
    if (key !== "binary") assert.equal(got.value, value, `value of ${key}`);
    assert.deepEqual(got.metadata, metadata, `metadata of ${key}`);
  });
  assert.deepEqual(Buffer.from(results[EXPECTED.length].base64, "base64"), Buffer.from(BINARY), "binary bytes");
  assert.equal(results[EXPECTED.length + 1], null, "deleted key stays deleted");
  assert.deepEqual(
    listed,
    EXPECTED.map(([name, , metadata, expiration]) => ({
      name,
      ...(expiration !== undefined && { expiration }),
      ...(metadata !== null && { metadata }),
    })),
    "list",
  );
}

/** Runs kv-child-style ops in this process, with the same result shapes. */
async function runOps(ns, ops) {
  const results = [];
  for (const op of ops) {
    switch (op.op) {
      case "put":
        await ns.put(op.key, op.valueBase64 !== undefined ? Buffer.from(op.valueBase64, "base64") : op.value, op.options);
        results.push(null);
        break;
      case "delete":
        results.push((await ns.delete(op.key)) ?? null);
        break;
      case "get": {
        const v = await ns.get(op.key, op.type);
        results.push(v instanceof ArrayBuffer ? { base64: Buffer.from(v).toString("base64") } : v);
        break;
      }
      case "getWithMetadata":
        results.push(await ns.getWithMetadata(op.key));
        break;
      case "list": {
        const keys = [];
        let cursor;
        do {
          const page = await ns.list({ limit: op.options?.limit, cursor });
          keys.push(...page.keys);
          cursor = page.list_complete ? undefined : page.cursor;
        } while (cursor !== undefined);
        results.push({ keys });
        break;
      }
    }
  }
  return results;
}

for (const backend of persistent) {
  describe(`${backend.name}: persistence`, () => {
    test("data survives dispose() and is read by a new Miniflare", async () => {
      const persist = await backend.persist();
      const writer = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        await runOps(await writer.getKVNamespace("NS"), WRITES);
      } finally {
        await writer.dispose();
      }
      const reader = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        assertReadsSeeWrites(await runOps(await reader.getKVNamespace("NS"), READS));
      } finally {
        await reader.dispose();
      }
    });

    test("data written by one node process is read by another", async () => {
      const persist = await backend.persist();
      // Process A writes and exits (disposing first: sled allows one process).
      await kvChild({ persist, ops: WRITES });
      // Process B, a separate node process, reads.
      assertReadsSeeWrites(await kvChild({ persist, ops: READS }));
    });

    test("a process that exits without dispose() loses nothing it was told was written", async () => {
      const persist = await backend.persist();
      await kvChild({ persist, ops: WRITES, dispose: false });
      assertReadsSeeWrites(await kvChild({ persist, ops: READS }));
    });

    test("namespaces stay apart across processes", async () => {
      const persist = await backend.persist();
      const bindings = { FIRST: "ns-one", SECOND: "ns:one", THIRD: "ns/one" };
      for (const [binding, id] of Object.entries(bindings)) {
        await kvChild({ persist, bindings, binding, ops: [{ op: "put", key: "k", value: id }] });
      }
      for (const [binding, id] of Object.entries(bindings)) {
        const [value, list] = await kvChild({
          persist, bindings, binding, ops: [{ op: "get", key: "k" }, { op: "list" }],
        });
        assert.equal(value, id, `${binding} → ${id}`);
        assert.deepEqual(list.keys, [{ name: "k" }], `${binding} lists only its own key`);
      }
    });

    if (backend.name !== "sled") {
      test("another process's writes are seen by the next call of an open instance (no stale cache)", async () => {
        const persist = await backend.persist();
        const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
        try {
          const ns = await mf.getKVNamespace("NS");
          await ns.put("mine", "1");
          assert.deepEqual((await ns.list()).keys, [{ name: "mine" }]); // warms any list cache
          assert.equal(await ns.get("theirs"), null);
          await kvChild({
            persist,
            ops: [
              { op: "put", key: "theirs", value: "from another process", options: { metadata: { by: "child" } } },
              { op: "put", key: "mine", value: "2" },
            ],
          });
          assert.deepEqual(await ns.getWithMetadata("theirs"), {
            value: "from another process", metadata: { by: "child" }, cacheStatus: null,
          });
          assert.equal(await ns.get("mine"), "2");
          assert.deepEqual((await ns.list()).keys, [{ name: "mine" }, { name: "theirs", metadata: { by: "child" } }]);
          await kvChild({ persist, ops: [{ op: "delete", key: "theirs" }] });
          assert.equal(await ns.get("theirs"), null);
          assert.deepEqual((await ns.list()).keys, [{ name: "mine" }]);
        } finally {
          await mf.dispose();
        }
      });
    }
  });
}

const directory = persistent.find((b) => b.name === "directory");
if (directory) {
  describe("directory: kvPersist forms", () => {
    test("kvPersist: true is ./.mf/kv under the process's cwd", async () => {
      const cwdA = tmp("cwd");
      const cwdB = tmp("cwd");
      await kvChild({ persist: true, ops: WRITES }, { cwd: cwdA });
      assert.ok(existsSync(path.join(cwdA, ".mf", "kv")), "./.mf/kv created in the child's cwd");
      assert.ok(readdirSync(path.join(cwdA, ".mf", "kv")).length > 0, "./.mf/kv holds the namespace");
      assert.deepEqual(readdirSync(cwdB), [], "nothing written in another cwd");
      // Same cwd: the data is there. Another cwd: a different, empty store.
      assertReadsSeeWrites(await kvChild({ persist: true, ops: READS }, { cwd: cwdA }));
      const [elsewhere] = await kvChild({ persist: true, ops: [{ op: "list" }] }, { cwd: cwdB });
      assert.deepEqual(elsewhere.keys, []);
      // And an explicit path to that directory reads the same data.
      assertReadsSeeWrites(await kvChild({ persist: path.join(cwdA, ".mf", "kv"), ops: READS }));
    });

    test("a relative path resolves against the process's cwd; a file: URL names the same directory", async () => {
      const cwd = tmp("cwd");
      await kvChild({ persist: "data/kv", ops: WRITES }, { cwd });
      assert.ok(existsSync(path.join(cwd, "data", "kv")), "relative path created under the child's cwd");
      const url = pathToFileURL(path.join(cwd, "data", "kv")).href;
      assertReadsSeeWrites(await kvChild({ persist: url, ops: READS }));
      const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: url });
      try {
        assertReadsSeeWrites(await runOps(await mf.getKVNamespace("NS"), READS));
      } finally {
        await mf.dispose();
      }
    });
  });
}

const sled = persistent.find((b) => b.name === "sled");
if (sled) {
  describe("sled: one process at a time", () => {
    test("while a process holds the database, another gets a clear error naming the path (no hang)", async () => {
      const persist = await sled.persist();
      const sledPath = persist.slice("sled:".length);
      const holder = await holdingChild({ persist, ops: [{ op: "put", key: "k", value: "held" }] });
      try {
        // A second process: an error, promptly; the timeout turns a hang into a failure.
        const second = await runNode(KV_CHILD, { persist, ops: [{ op: "get", key: "k" }] }, { timeoutMs: 20_000 });
        assert.equal(second.timedOut, false, "the second process must not hang on the lock");
        assert.equal(second.code, 3, `the second process fails cleanly:\n${second.stdout}\n${second.stderr}`);
        assert.equal(second.json.error.name, "Error");
        assert.ok(second.json.error.message.includes(sledPath), `message names the path: ${second.json.error.message}`);
        // This process too (the holder is another process).
        assert.throws(
          () => new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist }),
          (e) => e instanceof Error && e.message.includes(sledPath),
        );
      } finally {
        await holder.kill();
      }
      // The holder is gone (killed, not disposed): the database opens again, data intact.
      assert.deepEqual(await kvChild({ persist, ops: [{ op: "get", key: "k" }] }), ["held"]);
    });

    test("dispose() releases the database: a new Miniflare in this process, and another process, open it", async () => {
      const persist = await sled.persist();
      const first = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      await (await first.getKVNamespace("NS")).put("k", "first");
      await first.dispose();

      const second = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        const ns = await second.getKVNamespace("NS");
        assert.equal(await ns.get("k"), "first");
        await ns.put("k", "second");
      } finally {
        await second.dispose();
      }
      // After both disposed, the file lock is free for another process.
      assert.deepEqual(
        await kvChild({ persist, ops: [{ op: "get", key: "k" }, { op: "put", key: "k", value: "child" }] }),
        ["second", null],
      );
      const third = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        assert.equal(await (await third.getKVNamespace("NS")).get("k"), "child");
      } finally {
        await third.dispose();
      }
    });
  });
}

/** Resolves `promise`'s rejection, failing if it resolves or takes longer than `ms`. */
async function rejectionWithin(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    await Promise.race([
      promise.then(
        (value) => assert.fail(`${what} resolved (${JSON.stringify(value)}) while Redis was down`),
        () => {},
      ),
      deadline,
    ]);
    return await promise.catch((e) => e);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until `condition()` is true, polling; fails after `ms`. */
async function eventually(condition, ms, what) {
  const start = Date.now();
  for (;;) {
    const value = await condition();
    if (value === true) return;
    if (Date.now() - start > ms) assert.fail(`${what} (last: ${value})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

if (persistent.some((b) => b.name === "redis")) {
  describe("redis: a server that goes away and comes back", () => {
    test("calls reject within 5 s naming the URL while Redis is down, and succeed again after a restart", async () => {
      const redis = await startRedis();
      const mf = new Miniflare({ kvNamespaces: ["NS", "LATER"], kvPersist: redis.url });
      try {
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "before");
        await redis.stop();

        const namesUrl = (e) => e instanceof Error && e.message.includes(redis.url);
        const calls = {
          get: ns.get("k"),
          getWithMetadata: ns.getWithMetadata("k"),
          put: ns.put("k", "while down"),
          delete: ns.delete("k"),
          list: ns.list(),
          bulk: ns.get(["k", "j"]),
          getKVNamespace: mf.getKVNamespace("LATER").then((later) => later.get("k")),
        };
        // All calls are in flight at once; mark them handled now, so one that
        // settles before the loop reaches it is not an unhandled rejection.
        for (const call of Object.values(calls)) call.catch(() => {});
        for (const [name, call] of Object.entries(calls)) {
          const error = await rejectionWithin(call, 5000, name);
          assert.ok(namesUrl(error), `${name}: the message names ${redis.url}: ${error?.message}`);
        }

        await redis.restart(); // same port, empty (no persistence)
        assert.equal(await ns.get("k"), null, "same namespace object works again");
        await ns.put("k", "after");
        assert.equal(await ns.get("k"), "after");
        assert.deepEqual((await ns.list()).keys, [{ name: "k" }]);
        const later = await mf.getKVNamespace("LATER");
        await later.put("x", "y");
        assert.equal(await later.get("x"), "y");
      } finally {
        await mf.dispose();
        await redis.cleanup();
      }
    });

    test("Redis down before the first call: getKVNamespace rejects naming the URL, then works once it is up", async () => {
      const redis = await startRedis();
      await redis.stop();
      const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: redis.url });
      try {
        const error = await rejectionWithin(mf.getKVNamespace("NS"), 5000, "getKVNamespace");
        assert.ok(error instanceof Error && error.message.includes(redis.url), error?.message);
        await redis.restart();
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "v");
        assert.equal(await ns.get("k"), "v");
      } finally {
        await mf.dispose();
        await redis.cleanup();
      }
    });

    test("dispose() closes the connection (CLIENT LIST), also when instances shared it", async () => {
      const redis = await startRedis();
      try {
        assert.equal(await otherClientCount(redis.url), 0);
        const first = new Miniflare({ kvNamespaces: ["NS"], kvPersist: redis.url });
        const second = new Miniflare({ kvNamespaces: ["NS"], kvPersist: redis.url });
        await (await first.getKVNamespace("NS")).put("k", "v");
        const ns2 = await second.getKVNamespace("NS");
        assert.equal(await ns2.get("k"), "v");
        const connected = await otherClientCount(redis.url);
        assert.ok(connected >= 1, `connected clients: ${connected}`);

        await first.dispose();
        // `second` still works after `first` let go.
        assert.equal(await ns2.get("k"), "v");
        await second.dispose();
        await eventually(
          async () => {
            const count = await otherClientCount(redis.url);
            return count === 0 || `${count} still connected`;
          },
          5000,
          "every connection closed after both instances were disposed",
        );
      } finally {
        await redis.cleanup();
      }
    });
  });
}

// Data written by the real Miniflare 2 (contract §4: "A directory written by
// Miniflare 2.14 can be read"; Redis "stays correct for keys that Miniflare 2
// wrote"). The fixtures in fixtures/miniflare2/ were made by generate.mjs
// running miniflare@2.14.4: the directory tree it wrote, a dump of the Redis
// keys it wrote, and its own answers to get/getWithMetadata/list. We open a
// copy of the tree (and the dump loaded into a flushed Redis) and must answer
// exactly as Miniflare 2 did; then our own writes over those keys must not
// leave duplicates behind.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { backends, redisUrl, tmp } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";
import { respCommand } from "./helpers/resp.mjs";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "miniflare2");
const expected = JSON.parse(readFileSync(path.join(fixtures, "expected.json"), "utf8"));
const redisDump = JSON.parse(readFileSync(path.join(fixtures, "redis.json"), "utf8"));
const BINDINGS = Object.keys(expected.writes);
const byUtf8 = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** A fresh copy of Miniflare 2's directory. */
function directoryCopy() {
  const copy = path.join(tmp("mf2"), "kv");
  cpSync(path.join(fixtures, "dir"), copy, { recursive: true });
  return copy;
}

/** Flushes the test Redis and loads Miniflare 2's keys with raw SETs; a key
 * that had a TTL gets the same absolute expiry it had at dump time. */
async function redisCopy() {
  await respCommand(redisUrl, "FLUSHDB");
  for (const { key, valueBase64, pttl } of redisDump) {
    const value = Buffer.from(valueBase64, "base64");
    if (pttl > 0) {
      const remaining = expected.redisDumpedAtMs + pttl - Date.now();
      await respCommand(redisUrl, "SET", key, value, "PX", String(remaining));
    } else {
      await respCommand(redisUrl, "SET", key, value);
    }
  }
  return redisUrl;
}

async function listAll(ns, options = {}) {
  const keys = [];
  let cursor;
  do {
    const page = await ns.list({ ...options, cursor });
    keys.push(...page.keys);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return keys;
}

/** Redis key names escape ':' in namespace ids (no aliasing between namespaces). */
const escapedOnRedis = (storage, binding) => storage.name === "redis" && /[:%]/.test(binding);

const storages = [];
if (backends.some((b) => b.name === "directory")) storages.push({ name: "directory", answers: "dir", open: directoryCopy });
if (redisUrl && backends.some((b) => b.name === "redis")) storages.push({ name: "redis", answers: "redis", open: redisCopy });

for (const storage of storages) {
  describe(`${storage.name}: data written by Miniflare 2 (${expected.generatedBy})`, () => {
    const answers = expected.miniflare2[storage.answers];

    test("get, getWithMetadata and list answer exactly as Miniflare 2 did", async () => {
      const persist = await storage.open();
      const mf = new Miniflare({ kvNamespaces: BINDINGS, kvPersist: persist });
      try {
        for (const binding of BINDINGS) {
          const ns = await mf.getKVNamespace(binding);
          const theirs = answers[binding];
          if (escapedOnRedis(storage, binding)) {
            // Documented decision (README, "Redis"): ids with ':' are escaped in
            // Redis key names so namespaces never alias; Miniflare 2 data under
            // such a raw name is not read.
            assert.deepEqual(await listAll(ns), [], `${binding}: Miniflare 2 data under a raw ':' name is not read`);
            for (const key of Object.keys(theirs.get)) assert.equal(await ns.get(key), null, `${binding} ${key}`);
            continue;
          }
          for (const [key, answer] of Object.entries(theirs.get)) {
            const where = `${binding} ${JSON.stringify(key)}`;
            const bytes = await ns.get(key, "arrayBuffer");
            assert.ok(bytes !== null, `${where} is missing`);
            assert.equal(Buffer.from(bytes).toString("base64"), answer.bytesBase64, `${where} bytes`);
            if (answer.text !== null) assert.equal(await ns.get(key), answer.text, `${where} text`);
            const { value, metadata } = await ns.getWithMetadata(key, "arrayBuffer");
            assert.equal(Buffer.from(value).toString("base64"), answer.bytesBase64, `${where} getWithMetadata value`);
            assert.deepEqual(metadata, answer.metadata, `${where} metadata`);
          }
          assert.deepEqual(await listAll(ns), theirs.list.keys, `${binding} list`);
          // Pages of 3 concatenate to the same list.
          assert.deepEqual(await listAll(ns, { limit: 3 }), theirs.list.keys, `${binding} list in pages of 3`);
          // A prefix selects exactly Miniflare 2's keys with that prefix.
          for (const prefix of ["a", "dir/", "w", "ü/", "e", "../", " "]) {
            assert.deepEqual(
              await listAll(ns, { prefix }),
              theirs.list.keys.filter((k) => k.name.startsWith(prefix)),
              `${binding} list prefix ${JSON.stringify(prefix)}`,
            );
          }
        }
      } finally {
        await mf.dispose();
      }
    });

    test("keys rewritten or deleted by us list once, read back our values, and stay so after reopening", async () => {
      const persist = await storage.open();
      const rewritten = ["../x", "a/b", "q?x", "col:on", "with-both", "dir/sub/key", "back\\slash", "trail ", "plain"];
      const deleted = ["pi|pe", "ü/日本語", "with-meta"];
      const before = answers.NS.list.keys.map((k) => k.name);
      const after = before.filter((name) => !deleted.includes(name));
      let mf = new Miniflare({ kvNamespaces: BINDINGS, kvPersist: persist });
      try {
        let ns = await mf.getKVNamespace("NS");
        for (const key of rewritten) await ns.put(key, `ours: ${key}`);
        for (const key of deleted) await ns.delete(key);
        for (let pass = 0; pass < 2; pass++) {
          const listed = await listAll(ns);
          const names = listed.map((k) => k.name);
          assert.deepEqual(names, [...after].sort(byUtf8), `pass ${pass}: each key listed once, deleted keys gone`);
          for (const key of rewritten) {
            // Written without metadata or expiration: Miniflare 2's are gone.
            assert.deepEqual(await ns.getWithMetadata(key), { value: `ours: ${key}`, metadata: null, cacheStatus: null }, `pass ${pass}: ${JSON.stringify(key)}`);
            assert.deepEqual(listed.find((k) => k.name === key), { name: key }, `pass ${pass}: list entry of ${JSON.stringify(key)}`);
          }
          for (const key of deleted) assert.equal(await ns.get(key), null, `pass ${pass}: ${JSON.stringify(key)} deleted`);
          // Untouched Miniflare 2 keys read as before.
          for (const key of after.filter((k) => !rewritten.includes(k))) {
            assert.equal(
              Buffer.from(await ns.get(key, "arrayBuffer")).toString("base64"),
              answers.NS.get[key].bytesBase64,
              `pass ${pass}: untouched ${JSON.stringify(key)}`,
            );
          }
          // The other namespace is untouched.
          const other = await mf.getKVNamespace("OTHER:ns/x");
          const otherKeys = escapedOnRedis(storage, "OTHER:ns/x") ? [] : answers["OTHER:ns/x"].list.keys;
          assert.deepEqual(await listAll(other), otherKeys, `pass ${pass}: other namespace`);
          await mf.dispose();
          mf = new Miniflare({ kvNamespaces: BINDINGS, kvPersist: persist });
          ns = await mf.getKVNamespace("NS");
        }
        // Rewriting with metadata and expiration is seen as such.
        await ns.put("q?x", "ours again", { metadata: { v: 2 }, expiration: 2_100_000_000 });
        const entries = (await listAll(ns)).filter((k) => k.name === "q?x");
        assert.deepEqual(entries, [{ name: "q?x", expiration: 2_100_000_000, metadata: { v: 2 } }]);
      } finally {
        await mf.dispose();
      }
    });
  });
}

// Contract §2 numeric options (WebIDL long), expiration rules and metadata.
// Time is frozen with mock.timers so "now + 60" boundaries are exact.
//
// Also the Miniflare constructor's own options (end of file): unknown option
// names and mistyped kvPersist strings are rejected, and a namespace object
// follows its binding when setOptions() changes kvPersist.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, rejectsAsync, typeError, plainError, freezeTime, Miniflare } from "./helpers/kv.mjs";

const OUT_OF_RANGE = typeError("Value out of range. Must be between -2147483648 and 2147483647 (inclusive).");
const ttlNotPositive = (n) => plainError(`KV PUT failed: 400 Invalid expiration_ttl of ${n}. Please specify integer greater than 0.`);
const ttlTooSmall = (n) => plainError(`KV PUT failed: 400 Invalid expiration_ttl of ${n}. Expiration TTL must be at least 60.`);
const expirationInPast = (n) => plainError(
  `KV PUT failed: 400 Invalid expiration of ${n}. Please specify integer greater than the current number of seconds since the UNIX epoch.`);
const expirationTooSoon = (n) => plainError(
  `KV PUT failed: 400 Invalid expiration of ${n}. Expiration times must be at least 60 seconds in the future.`);
const cacheTtlTooSmall = (n) => plainError(`KV GET failed: 400 Invalid cache_ttl of ${n}. Cache TTL must be at least 30.`);

/** The one listed key's expiration (undefined when it has none). */
async function listedExpiration(ns, key) {
  const { keys } = await ns.list({ prefix: key });
  const entry = keys.find((k) => k.name === key);
  assert.ok(entry, `${key} is listed`);
  return entry.expiration;
}

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: numeric options convert like WebIDL long`, () => {
    kvTest("expirationTtl: NaN, ±Infinity, null, non-numeric → 0", async (ns) => {
      for (const ttl of [NaN, Infinity, -Infinity, null, "abc", "", "61abc", {}, [1, 2], () => 1]) {
        await rejectsAsync(() => ns.put("k", "v", { expirationTtl: ttl }), ttlNotPositive(0));
      }
      assert.equal(await ns.get("k"), null);
    });

    kvTest("expirationTtl: truncation toward zero, and strings/booleans via ToNumber", async (ns) => {
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 59.9 }), ttlTooSmall(59));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: "59.9" }), ttlTooSmall(59));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: true }), ttlTooSmall(1));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 0.9 }), ttlNotPositive(0));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: -0.9 }), ttlNotPositive(0));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: -1.5 }), ttlNotPositive(-1));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: [30] }), ttlTooSmall(30));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: -2147483648 }), ttlNotPositive(-2147483648));
      assert.equal(await ns.get("k"), null);
    });

    kvTest("expirationTtl: string and fractional values that convert to ≥ 60 are accepted", async (ns, _mf, _p, t) => {
      const now = freezeTime(t);
      const nowSeconds = Math.floor(now / 1000);
      await ns.put("a", "v", { expirationTtl: "1e3" });
      assert.equal(await listedExpiration(ns, "a"), nowSeconds + 1000);
      await ns.put("b", "v", { expirationTtl: 60.99 });
      assert.equal(await listedExpiration(ns, "b"), nowSeconds + 60);
      await ns.put("c", "v", { expirationTtl: { valueOf: () => 120 } });
      assert.equal(await listedExpiration(ns, "c"), nowSeconds + 120);
    });

    kvTest("expirationTtl and expiration outside int32 → range TypeError", async (ns) => {
      for (const n of [2 ** 31, -(2 ** 31) - 1, 1e300, -1e300, Number.MAX_SAFE_INTEGER, "3000000000"]) {
        await rejectsAsync(() => ns.put("k", "v", { expirationTtl: n }), OUT_OF_RANGE);
        await rejectsAsync(() => ns.put("k", "v", { expiration: n }), OUT_OF_RANGE);
      }
      assert.equal(await ns.get("k"), null);
    });

    kvTest("expiration: NaN, ±Infinity, null, non-numeric → 0, which is in the past", async (ns) => {
      for (const expiration of [NaN, Infinity, -Infinity, null, "abc", {}]) {
        await rejectsAsync(() => ns.put("k", "v", { expiration }), expirationInPast(0));
      }
      assert.equal(await ns.get("k"), null);
    });

    kvTest("int32 bounds themselves are in range", async (ns) => {
      // 2147483647 (2038-01-19) is a valid future expiration.
      await ns.put("k", "v", { expiration: 2147483647 });
      assert.equal(await listedExpiration(ns, "k"), 2147483647);
      await ns.put("k2", "v", { expiration: 2147483647.9 });
      assert.equal(await listedExpiration(ns, "k2"), 2147483647);
      await rejectsAsync(() => ns.put("k3", "v", { expiration: -2147483648 }), expirationInPast(-2147483648));
    });

    kvTest("cacheTtl: converted then validated (NaN/null/'abc' → 0; 29.9 → 29; range)", async (ns) => {
      await ns.put("k", "v");
      for (const cacheTtl of [NaN, Infinity, null, "abc", ""]) {
        await rejectsAsync(() => ns.get("k", { cacheTtl }), cacheTtlTooSmall(0));
      }
      await rejectsAsync(() => ns.get("k", { cacheTtl: 29.9 }), cacheTtlTooSmall(29));
      await rejectsAsync(() => ns.get("k", { cacheTtl: "29" }), cacheTtlTooSmall(29));
      await rejectsAsync(() => ns.get("k", { cacheTtl: 2 ** 31 }), OUT_OF_RANGE);
      await rejectsAsync(() => ns.getWithMetadata("k", { cacheTtl: -(2 ** 31) - 1 }), OUT_OF_RANGE);
      assert.equal(await ns.get("k", { cacheTtl: "30" }), "v");
      assert.equal(await ns.get("k", { cacheTtl: undefined }), "v");
    });

    kvTest("limit: NaN/Infinity/null/'abc'/0/negative → the default 1000; truncation; strings", async (ns) => {
      for (let i = 0; i < 70; i++) await ns.put(`k${String(i).padStart(2, "0")}`, "v");
      for (const limit of [NaN, Infinity, -Infinity, null, "abc", 0, -1, 0.5, -0, {}]) {
        const page = await ns.list({ limit });
        assert.equal(page.keys.length, 70, `limit ${String(limit)}`);
        assert.equal(page.list_complete, true);
      }
      assert.equal((await ns.list({ limit: 59.9 })).keys.length, 59);
      assert.equal((await ns.list({ limit: "5" })).keys.length, 5);
      assert.equal((await ns.list({ limit: true })).keys.length, 1);
      assert.equal((await ns.list({ limit: 1000.9 })).keys.length, 70);
      await rejectsAsync(() => ns.list({ limit: 1001 }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."));
      await rejectsAsync(() => ns.list({ limit: 1001.5 }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."));
      await rejectsAsync(() => ns.list({ limit: 2147483647 }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 2147483647. Please specify an integer less than 1000."));
      await rejectsAsync(() => ns.list({ limit: 2 ** 31 }), OUT_OF_RANGE);
      await rejectsAsync(() => ns.list({ limit: -1e10 }), OUT_OF_RANGE);
    });
  });

  describe(`${backend.name}: expiration rules`, () => {
    kvTest("expirationTtl ≤ 0 and < 60 are rejected; exactly 60 is accepted", async (ns, _mf, _p, t) => {
      const nowSeconds = Math.floor(freezeTime(t) / 1000);
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 0 }), ttlNotPositive(0));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: -5 }), ttlNotPositive(-5));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 1 }), ttlTooSmall(1));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 30 }), ttlTooSmall(30));
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 59 }), ttlTooSmall(59));
      assert.equal(await ns.get("k"), null);
      await ns.put("k", "v", { expirationTtl: 60 });
      assert.equal(await ns.get("k"), "v");
      assert.equal(await listedExpiration(ns, "k"), nowSeconds + 60);
    });

    kvTest("expiration ≤ now, < now + 60 are rejected; exactly now + 60 is accepted", async (ns, _mf, _p, t) => {
      // A moment late in a second: "now" is floor(Date.now() / 1000).
      const nowSeconds = Math.floor(Date.now() / 1000);
      freezeTime(t, nowSeconds * 1000 + 999);
      for (const expiration of [1, nowSeconds - 1, nowSeconds]) {
        await rejectsAsync(() => ns.put("k", "v", { expiration }), expirationInPast(expiration));
      }
      for (const expiration of [nowSeconds + 1, nowSeconds + 30, nowSeconds + 59]) {
        await rejectsAsync(() => ns.put("k", "v", { expiration }), expirationTooSoon(expiration));
      }
      assert.equal(await ns.get("k"), null);
      await ns.put("k", "v", { expiration: nowSeconds + 60 });
      assert.equal(await listedExpiration(ns, "k"), nowSeconds + 60);
      await ns.put("k2", "v", { expiration: nowSeconds + 60.5 });
      assert.equal(await listedExpiration(ns, "k2"), nowSeconds + 60);
      assert.equal((await ns.getWithMetadata("k")).value, "v");
    });

    kvTest("when both are given, expirationTtl wins and expiration is not checked", async (ns, _mf, _p, t) => {
      const nowSeconds = Math.floor(freezeTime(t) / 1000);
      await ns.put("k", "v", { expiration: 1, expirationTtl: 120 });
      assert.equal(await listedExpiration(ns, "k"), nowSeconds + 120);
      await ns.put("k2", "v", { expiration: nowSeconds + 10_000, expirationTtl: 300 });
      assert.equal(await listedExpiration(ns, "k2"), nowSeconds + 300);
      await rejectsAsync(() => ns.put("k3", "v", { expiration: nowSeconds + 10_000, expirationTtl: 30 }), ttlTooSmall(30));
      assert.equal(await ns.get("k3"), null);
    });

    kvTest("a put without expiration clears an earlier one", async (ns) => {
      await ns.put("k", "v", { expirationTtl: 3600 });
      assert.equal(typeof (await listedExpiration(ns, "k")), "number");
      await ns.put("k", "v2");
      assert.equal(await listedExpiration(ns, "k"), undefined);
      const { keys } = await ns.list();
      assert.deepEqual(keys, [{ name: "k" }]);
    });

    kvTest("undefined expiration options mean none", async (ns) => {
      await ns.put("k", "v", { expiration: undefined, expirationTtl: undefined, metadata: undefined });
      assert.deepEqual((await ns.list()).keys, [{ name: "k" }]);
    });
  });

  describe(`${backend.name}: metadata`, () => {
    kvTest("any JSON value round-trips through getWithMetadata and list", async (ns) => {
      const values = [
        { a: 1, nested: { b: [1, "x", null, true] } },
        [1, 2, 3],
        "a string",
        42,
        -1.5,
        true,
        { "é😀": "ü" },
        [],
        {},
      ];
      for (const [i, metadata] of values.entries()) {
        await ns.put(`k${i}`, `v${i}`, { metadata });
        assert.deepEqual(await ns.getWithMetadata(`k${i}`), { value: `v${i}`, metadata, cacheStatus: null });
      }
      const { keys } = await ns.list();
      assert.deepEqual(keys, values.map((metadata, i) => ({ name: `k${i}`, metadata })));
    });

    kvTest("serialisation follows JSON.stringify (toJSON, Date, dropped undefined)", async (ns) => {
      await ns.put("k", "v", { metadata: { when: new Date(0), skip: undefined, custom: { toJSON: () => "J" } } });
      assert.deepEqual((await ns.getWithMetadata("k")).metadata, { when: "1970-01-01T00:00:00.000Z", custom: "J" });
    });

    kvTest("null and undefined mean no metadata", async (ns) => {
      await ns.put("a", "v", { metadata: null });
      await ns.put("b", "v", { metadata: undefined });
      await ns.put("c", "v", {});
      for (const key of ["a", "b", "c"]) {
        assert.deepEqual(await ns.getWithMetadata(key), { value: "v", metadata: null, cacheStatus: null });
      }
      const { keys } = await ns.list();
      assert.deepEqual(keys, [{ name: "a" }, { name: "b" }, { name: "c" }]);
      for (const key of keys) assert.equal("metadata" in key, false);
    });

    kvTest("falsy metadata 0, false and \"\" survive", async (ns) => {
      for (const [key, metadata] of [["zero", 0], ["false", false], ["empty", ""]]) {
        await ns.put(key, "v", { metadata });
        assert.deepEqual(await ns.getWithMetadata(key), { value: "v", metadata, cacheStatus: null });
        const [listed] = (await ns.list({ prefix: key })).keys;
        assert.equal("metadata" in listed, true);
        assert.equal(listed.metadata, metadata);
        const bulk = await ns.getWithMetadata([key]);
        assert.deepEqual(bulk.get(key), { value: "v", metadata });
      }
    });

    kvTest("overwriting without metadata removes the old metadata", async (ns) => {
      await ns.put("k", "v1", { metadata: { old: 1 } });
      await ns.put("k", "v2");
      assert.deepEqual(await ns.getWithMetadata("k"), { value: "v2", metadata: null, cacheStatus: null });
      assert.deepEqual((await ns.list()).keys, [{ name: "k" }]);
      await ns.put("k", "v3", { metadata: { new: 2 } });
      assert.deepEqual((await ns.getWithMetadata("k")).metadata, { new: 2 });
    });

    kvTest("1024 bytes of JSON is accepted, 1025 → 413, counted in UTF-8 bytes", async (ns) => {
      const ascii1024 = "x".repeat(1022); // JSON text: quotes + 1022 = 1024 bytes
      await ns.put("ok", "v", { metadata: ascii1024 });
      assert.equal((await ns.getWithMetadata("ok")).metadata, ascii1024);
      const euro1023 = "€".repeat(340) + "x"; // 1020 + 1 + 2 = 1023 bytes, 343 UTF-16 units
      await ns.put("euro", "v", { metadata: euro1023 });
      assert.equal((await ns.getWithMetadata("euro")).metadata, euro1023);
      const tooBig = plainError("KV PUT failed: 413 Metadata length of 1025 exceeds limit of 1024.");
      await rejectsAsync(() => ns.put("big", "v", { metadata: "x".repeat(1023) }), tooBig);
      await rejectsAsync(() => ns.put("big", "v", { metadata: "€".repeat(341) }), tooBig); // 1023 + 2 bytes
      await rejectsAsync(() => ns.put("big", "v", { metadata: { k: "x".repeat(1017) } }), tooBig); // {"k":"…"}: 8 + 1017 bytes
      await rejectsAsync(() => ns.put("ok", "new", { metadata: "€".repeat(1000) }), plainError(
        "KV PUT failed: 413 Metadata length of 3002 exceeds limit of 1024."));
      assert.equal(await ns.get("big"), null);
      assert.equal(await ns.get("ok"), "v");
    });

    kvTest("BigInt and circular metadata → the engine's TypeError; nothing written", async (ns) => {
      await rejectsAsync(() => ns.put("k", "v", { metadata: { n: 1n } }), typeError("Do not know how to serialize a BigInt"));
      const circular = { a: 1 };
      circular.self = circular;
      await rejectsAsync(() => ns.put("k", "v", { metadata: circular }),
        (e) => e instanceof TypeError && e.message.startsWith("Converting circular structure to JSON"));
      assert.equal(await ns.get("k"), null);
    });

    kvTest("metadata serialising to nothing (a function, a symbol) → 500; nothing written", async (ns) => {
      const internal = plainError("KV PUT failed: 500 Internal Server Error");
      await rejectsAsync(() => ns.put("k", "v", { metadata: () => 1 }), internal);
      await rejectsAsync(() => ns.put("k", "v", { metadata: Symbol("m") }), internal);
      await rejectsAsync(() => ns.put("k", "v", { metadata: { toJSON: () => undefined } }), internal);
      assert.equal(await ns.get("k"), null);
    });
  });
}

/** Runs `fn(scratch)` with the working directory set to a new empty directory. */
async function inScratchDirectory(t, fn) {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-options-"));
  const cwd = process.cwd();
  process.chdir(scratch);
  t.after(() => {
    process.chdir(cwd);
    rmSync(scratch, { recursive: true, force: true });
  });
  return fn(scratch);
}

describe("Miniflare options: names", () => {
  const unknown = (name, meant) => (error) =>
    error instanceof TypeError &&
    error.message.startsWith(`Unknown Miniflare option "${name}"`) &&
    (meant === undefined ? !error.message.includes("did you mean") : error.message.includes(`did you mean "${meant}"?`)) &&
    ["kvNamespaces", "kvPersist", "kvNamespaceScope", "scriptPath", "wranglerConfigPath"].every((n) => error.message.includes(n));

  test("a misspelt option name throws from the constructor with a did-you-mean", () => {
    assert.throws(() => new Miniflare({ kvNamespace: ["NS"] }), unknown("kvNamespace", "kvNamespaces"));
    assert.throws(() => new Miniflare({ kvpersist: true }), unknown("kvpersist", "kvPersist"));
    assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], scriptpath: "w.js" }), unknown("scriptpath", "scriptPath"));
    assert.throws(() => new Miniflare({ wranglerConfigEnvironment: "x" }), unknown("wranglerConfigEnvironment", "wranglerConfigEnv"));
    assert.throws(() => new Miniflare({ globals: {} }), unknown("globals", undefined));
    assert.throws(() => new Miniflare({ port: 8787 }), unknown("port", undefined));
    // Even with an undefined value: the name itself is the mistake.
    assert.throws(() => new Miniflare({ kvNamespace: undefined }), unknown("kvNamespace", "kvNamespaces"));
  });

  test("setOptions rejects a misspelt name and leaves the instance as it was", async () => {
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    try {
      const ns = await mf.getKVNamespace("NS");
      await ns.put("k", "v");
      await rejectsAsync(() => mf.setOptions({ kvNamespace: ["OTHER"] }), unknown("kvNamespace", "kvNamespaces"));
      assert.equal(await (await mf.getKVNamespace("NS")).get("k"), "v");
      await assert.rejects(mf.getKVNamespace("OTHER"), /not configured/);
    } finally {
      await mf.dispose();
    }
  });

  test("options must be an object", async () => {
    for (const bad of ["kv", 1, true, ["NS"]]) {
      assert.throws(() => new Miniflare(bad), { name: "TypeError", message: /Miniflare options must be an object/ });
    }
    // Absent options (and null, as before) mean no options.
    for (const none of [undefined, null]) await new Miniflare(none).dispose();
  });

  test("every documented option name is accepted", async (t) => {
    await inScratchDirectory(t, async (scratch) => {
      const mf = new Miniflare({
        kvNamespaces: ["NS"],
        kvPersist: false,
        kvNamespaceScope: false,
        script: "export default { fetch() { return new Response('ok') } }",
        scriptPath: undefined,
        modules: true,
        modulesRules: [],
        wranglerConfigPath: false,
        wranglerConfigEnv: undefined,
        bindings: {},
      });
      await mf.dispose();
      assert.deepEqual(readdirSync(scratch), []);
    });
  });
});

describe("Miniflare options: mistyped kvPersist strings", () => {
  const ACCEPTED_FORMS = ["memory:", "true", "file:", "redis://", "rediss://", "sled:"];
  const mistyped = (value, fragment) => (error) =>
    error instanceof TypeError &&
    error.message.includes("kvPersist must be") &&
    ACCEPTED_FORMS.every((form) => error.message.includes(form)) &&
    error.message.includes(JSON.stringify(value)) &&
    error.message.includes(fragment);

  // value → what the message must suggest
  const CASES = {
    memory: '"memory:"',
    Memory: '"memory:"',
    memroy: 'did you mean "memory"?',
    true: "the boolean true",
    TRUE: "the boolean true",
    ture: 'did you mean "true"?',
    false: "the boolean false",
    flase: 'did you mean "false"?',
    sled: '"sled:<path>"',
    redis: '"redis://<host>:<port>"',
    "memory:x": 'Did you mean "memory:"?',
    "slde:./x": 'Did you mean "sled:./x"?',
    "sledd:data": 'Did you mean "sled:data"?',
    "rediss//host": 'Did you mean "rediss://host"?',
    "redis//127.0.0.1:6379": 'Did you mean "redis://127.0.0.1:6379"?',
    "redis:127.0.0.1:6379": 'Did you mean "redis://127.0.0.1:6379"?',
    "redsi://host": 'Did you mean "redis://host"?',
    "file///tmp/x": 'Did you mean "file:///tmp/x"?',
    "data:v1": '"data:" is not a supported scheme',
    "mongodb://x": '"mongodb:" is not a supported scheme',
  };

  test("each is a TypeError naming the valid forms and a did-you-mean, and creates no directory", async (t) => {
    await inScratchDirectory(t, (scratch) => {
      for (const [value, fragment] of Object.entries(CASES)) {
        assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], kvPersist: value }), mistyped(value, fragment), value);
      }
      assert.deepEqual(readdirSync(scratch), []);
    });
  });

  test("bare words suggest the ./ form for a directory of that name", () => {
    assert.throws(() => new Miniflare({ kvPersist: "memory" }), { message: /For a directory of that name, write "\.\/memory"\./ });
  });

  test("setOptions rejects them too, and the instance keeps its storage", async (t) => {
    await inScratchDirectory(t, async (scratch) => {
      const mf = new Miniflare({ kvNamespaces: ["NS"] });
      try {
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "in memory");
        for (const [value, fragment] of Object.entries(CASES)) {
          await rejectsAsync(() => mf.setOptions({ kvNamespaces: ["NS"], kvPersist: value }), mistyped(value, fragment));
        }
        assert.equal(await ns.get("k"), "in memory");
        assert.deepEqual(readdirSync(scratch), []);
      } finally {
        await mf.dispose();
      }
    });
  });

  test("plain names, ./ forms and names merely resembling a keyword stay directories", async (t) => {
    await inScratchDirectory(t, async (scratch) => {
      const dirs = ["data", "files", "tests", "kv", "./memory", "./true", "nested/redis", "redis-data", "sled.db"];
      for (const kvPersist of dirs) {
        const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist });
        try {
          await (await mf.getKVNamespace("NS")).put("k", kvPersist);
        } finally {
          await mf.dispose();
        }
      }
      assert.deepEqual(readdirSync(scratch).sort(), ["data", "files", "kv", "memory", "nested", "redis-data", "sled.db", "tests", "true"].sort());
    });
  });
});

describe("setOptions with another kvPersist: namespace objects follow", () => {
  // From memory to every backend (and the way back), through objects obtained
  // before the change. A second instance on the new location proves the data
  // went there, not to the old storage.
  for (const target of backends.filter((b) => b.name !== "memory")) {
    test(`memory → ${target.name} → memory`, async () => {
      const persist = await target.persist();
      const mf = new Miniflare({ kvNamespaces: ["NS"] });
      const observer = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        const ns = await mf.getKVNamespace("NS");
        const env = await mf.getBindings();
        await ns.put("k", "in memory");

        await mf.setOptions({ kvNamespaces: ["NS"], kvPersist: persist });
        assert.equal(await mf.getKVNamespace("NS"), ns, "the same object after setOptions");
        assert.equal(await ns.get("k"), null, "the new storage is empty");
        await ns.put("k", `in ${target.name}`);
        await env.NS.put("from-env", "1");
        const other = await observer.getKVNamespace("NS");
        assert.equal(await other.get("k"), `in ${target.name}`);
        assert.equal(await other.get("from-env"), "1");
        assert.deepEqual((await ns.list()).keys.map((k) => k.name), ["from-env", "k"]);

        await mf.setOptions({ kvNamespaces: ["NS"] });
        assert.equal(await ns.get("k"), null, "back in (a new, empty) memory");
        await ns.put("k", "memory again");
        assert.equal(await ns.get("k"), "memory again");
        assert.equal(await other.get("k"), `in ${target.name}`, "the persistent data stays where it was written");
      } finally {
        await mf.dispose();
        await observer.dispose();
      }
    });
  }

  test("a binding whose id changes follows the new id; a removed binding keeps its last id", async () => {
    const persist = await backends.find((b) => b.name === "directory").persist();
    const mf = new Miniflare({ kvNamespaces: { A: "one", B: "two" }, kvPersist: persist });
    const observer = new Miniflare({ kvNamespaces: ["one", "three", "two"], kvPersist: persist });
    try {
      const a = await mf.getKVNamespace("A");
      const b = await mf.getKVNamespace("B");
      await mf.setOptions({ kvNamespaces: { A: "three" }, kvPersist: persist });
      await a.put("k", "a");
      await b.put("k", "b");
      assert.equal(await (await observer.getKVNamespace("three")).get("k"), "a");
      assert.equal(await (await observer.getKVNamespace("two")).get("k"), "b");
      assert.equal(await (await observer.getKVNamespace("one")).get("k"), null);
      await assert.rejects(mf.getKVNamespace("B"), /not configured/);
    } finally {
      await mf.dispose();
      await observer.dispose();
    }
  });

  test("after dispose() the objects reject as disposed", async () => {
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    const ns = await mf.getKVNamespace("NS");
    await mf.setOptions({ kvNamespaces: ["NS"], kvPersist: await backends.find((b) => b.name === "directory").persist() });
    await mf.dispose();
    await assert.rejects(ns.get("k"), /has been disposed/);
  });
});

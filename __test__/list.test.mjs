// Contract §2 "list": result shape, UTF-8 byte order, prefix, limit, cursors
// and paging while the namespace changes.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, rejectsAsync, plainError, cursorFor } from "./helpers/kv.mjs";

// Miniflare's observed list order (UTF-8 byte order, not UTF-16 order).
const OBSERVED_ORDER = [
  "\u0000x", "B", "a", "a b", "a/b", "aa", "b", "e\u0301", "z", "~", "\u007f", "\u0080", "é",
  "\ud7ff", "\ue000", "\uffff", "😀",
];

/** Writes `keys` with value = key, a hundred at a time. */
async function putAll(ns, keys, options) {
  for (let i = 0; i < keys.length; i += 100) {
    await Promise.all(keys.slice(i, i + 100).map((k) => ns.put(k, k, options)));
  }
}

const padded = (prefix, count) => Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`);
const names = (page) => page.keys.map((k) => k.name);

/** Follows cursors to the end; returns every page. */
async function allPages(ns, options = {}) {
  const pages = [];
  let cursor;
  for (;;) {
    const page = await ns.list({ ...options, cursor });
    pages.push(page);
    if (page.list_complete) return pages;
    cursor = page.cursor;
  }
}

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: list`, () => {
    kvTest("result shape: keys, list_complete, cursor only when incomplete, cacheStatus null", async (ns) => {
      const empty = await ns.list();
      assert.deepEqual(Object.keys(empty), ["keys", "list_complete", "cacheStatus"]);
      assert.deepEqual(empty, { keys: [], list_complete: true, cacheStatus: null });
      await putAll(ns, ["a", "b", "c"]);
      const first = await ns.list({ limit: 2 });
      assert.deepEqual(Object.keys(first), ["keys", "list_complete", "cursor", "cacheStatus"]);
      assert.deepEqual(first, { keys: [{ name: "a" }, { name: "b" }], list_complete: false, cursor: cursorFor("b"), cacheStatus: null });
      const last = await ns.list({ limit: 2, cursor: first.cursor });
      assert.deepEqual(last, { keys: [{ name: "c" }], list_complete: true, cacheStatus: null });
      assert.equal("cursor" in last, false);
    });

    kvTest("key objects carry expiration and metadata only when set", async (ns) => {
      const expiration = Math.floor(Date.now() / 1000) + 3600;
      await ns.put("both", "v", { expiration, metadata: { m: 1 } });
      await ns.put("expiring", "v", { expiration });
      await ns.put("meta", "v", { metadata: "text" });
      await ns.put("plain", "v");
      const { keys } = await ns.list();
      assert.deepEqual(keys, [
        { name: "both", expiration, metadata: { m: 1 } },
        { name: "expiring", expiration },
        { name: "meta", metadata: "text" },
        { name: "plain" },
      ]);
      assert.deepEqual(keys.map(Object.keys), [["name", "expiration", "metadata"], ["name", "expiration"], ["name", "metadata"], ["name"]]);
    });

    kvTest("keys come in UTF-8 byte order (Miniflare's observed order)", async (ns) => {
      const shuffled = [...OBSERVED_ORDER].reverse();
      [shuffled[0], shuffled[7]] = [shuffled[7], shuffled[0]];
      await putAll(ns, shuffled);
      assert.deepEqual(names(await ns.list()), OBSERVED_ORDER);
      // The same order holds across pages of one key.
      const paged = (await allPages(ns, { limit: 1 })).flatMap(names);
      assert.deepEqual(paged, OBSERVED_ORDER);
    });

    kvTest("prefix filters by a case-sensitive literal prefix", async (ns) => {
      await putAll(ns, ["a", "a b", "a/b", "aa", "A", "b", "ab*", "a*b", "a?c", "a[1]", "a%", "a_", "a\\x", "é1", "é2", "e"]);
      assert.deepEqual(names(await ns.list({ prefix: "a" })), ["a", "a b", "a%", "a*b", "a/b", "a?c", "a[1]", "a\\x", "a_", "aa", "ab*"]);
      assert.deepEqual(names(await ns.list({ prefix: "a*" })), ["a*b"]);
      assert.deepEqual(names(await ns.list({ prefix: "a?" })), ["a?c"]);
      assert.deepEqual(names(await ns.list({ prefix: "a[" })), ["a[1]"]);
      assert.deepEqual(names(await ns.list({ prefix: "a%" })), ["a%"]);
      assert.deepEqual(names(await ns.list({ prefix: "a_" })), ["a_"]);
      assert.deepEqual(names(await ns.list({ prefix: "a\\" })), ["a\\x"]);
      assert.deepEqual(names(await ns.list({ prefix: "A" })), ["A"]);
      assert.deepEqual(names(await ns.list({ prefix: "é" })), ["é1", "é2"]);
      assert.deepEqual(names(await ns.list({ prefix: "zzz" })), []);
      assert.equal((await ns.list({ prefix: "" })).keys.length, 16);
      assert.deepEqual(names(await ns.list({ prefix: "a b" })), ["a b"]);
      // Non-string prefixes are converted: 5 → "5".
      await ns.put("5x", "v");
      assert.deepEqual(names(await ns.list({ prefix: 5 })), ["5x"]);
    });

    kvTest("a prefix over 512 UTF-8 bytes → 414; 512 is fine", async (ns) => {
      assert.deepEqual(await ns.list({ prefix: "x".repeat(512) }), { keys: [], list_complete: true, cacheStatus: null });
      await rejectsAsync(() => ns.list({ prefix: "x".repeat(513) }), plainError(
        "KV GET failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512."));
      await rejectsAsync(() => ns.list({ prefix: "é".repeat(257) }), plainError(
        "KV GET failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512."));
    });

    kvTest("limit: default and ≤ 0 mean 1000; 1000 is the maximum", async (ns) => {
      const keys = padded("k", 1001);
      await putAll(ns, keys);
      for (const options of [undefined, {}, { limit: 0 }, { limit: -5 }, { limit: 1000 }]) {
        const page = await ns.list(options);
        assert.deepEqual(names(page), keys.slice(0, 1000));
        assert.equal(page.list_complete, false);
        assert.equal(page.cursor, cursorFor(keys[999]));
        const rest = await ns.list({ ...options, cursor: page.cursor });
        assert.deepEqual(rest, { keys: [{ name: keys[1000] }], list_complete: true, cacheStatus: null });
      }
      await rejectsAsync(() => ns.list({ limit: 1001 }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."));
    });

    kvTest("no trailing empty page when the limit equals the remaining count", async (ns) => {
      await putAll(ns, ["a", "b", "c", "d"]);
      const whole = await ns.list({ limit: 4 });
      assert.deepEqual(whole, { keys: [{ name: "a" }, { name: "b" }, { name: "c" }, { name: "d" }], list_complete: true, cacheStatus: null });
      const first = await ns.list({ limit: 2 });
      assert.equal(first.list_complete, false);
      const second = await ns.list({ limit: 2, cursor: first.cursor });
      assert.deepEqual(second, { keys: [{ name: "c" }, { name: "d" }], list_complete: true, cacheStatus: null });
      const prefixed = await ns.list({ prefix: "c", limit: 1 });
      assert.deepEqual(prefixed, { keys: [{ name: "c" }], list_complete: true, cacheStatus: null });
    });

    kvTest("the cursor is base64 (padded) of the last key's UTF-8 bytes", async (ns) => {
      await putAll(ns, ["a b", "e\u0301", "p2", "\u0080", "\uffff", "😀"]);
      const pages = await allPages(ns, { limit: 1 });
      assert.deepEqual(pages.map((p) => p.cursor), ["YSBi", "ZcyB", "cDI=", "woA=", "77+/", undefined]);
      for (const page of pages.slice(0, -1)) assert.equal(page.cursor, cursorFor(page.keys[0].name));
    });

    kvTest("a cursor resumes strictly after its key, even if that key was deleted", async (ns) => {
      await putAll(ns, ["k1", "k2", "k3", "k4", "k5"]);
      const first = await ns.list({ limit: 2 });
      assert.deepEqual(names(first), ["k1", "k2"]);
      await ns.delete("k2");
      const second = await ns.list({ limit: 2, cursor: first.cursor });
      assert.deepEqual(names(second), ["k3", "k4"]);
      // A cursor naming a key that never existed resumes after that position.
      assert.deepEqual(names(await ns.list({ cursor: cursorFor("k25") })), ["k3", "k4", "k5"]);
      assert.deepEqual(names(await ns.list({ cursor: cursorFor("k5") })), []);
      assert.deepEqual(names(await ns.list({ cursor: cursorFor("a") })), ["k1", "k3", "k4", "k5"]);
      // An empty cursor means the start.
      assert.deepEqual(names(await ns.list({ cursor: "" })), ["k1", "k3", "k4", "k5"]);
      // With a prefix, a cursor from elsewhere starts after that string inside the prefix.
      await putAll(ns, ["p1", "p2", "p3"]);
      assert.deepEqual(names(await ns.list({ prefix: "p", cursor: cursorFor("p15") })), ["p2", "p3"]);
      assert.deepEqual(names(await ns.list({ prefix: "p", cursor: cursorFor("k3") })), ["p1", "p2", "p3"]);
    });

    kvTest("paging with a prefix stays inside the prefix", async (ns) => {
      await putAll(ns, [...padded("a", 25), ...padded("b", 25), ...padded("c", 25)]);
      const pages = await allPages(ns, { prefix: "b", limit: 10 });
      assert.deepEqual(pages.map((p) => p.keys.length), [10, 10, 5]);
      assert.deepEqual(pages.flatMap(names), padded("b", 25));
    });

    kvTest("keys inserted ahead of the cursor appear; keys inserted behind it do not", async (ns) => {
      await putAll(ns, ["b", "d", "f"]);
      const first = await ns.list({ limit: 1 });
      assert.deepEqual(names(first), ["b"]);
      await ns.put("a", "behind");
      await ns.put("c", "ahead");
      await ns.put("b0", "ahead, right after the cursor");
      const rest = await ns.list({ cursor: first.cursor });
      assert.deepEqual(names(rest), ["b0", "c", "d", "f"]);
    });

    kvTest("paging 10,000 keys while deleting and inserting around the cursor", async (ns) => {
      const original = padded("key-", 10_000);
      await putAll(ns, original);
      const deletedAhead = new Set();
      const insertedAhead = [];
      const seen = [];
      let cursor;
      let pages = 0;
      for (;;) {
        const page = await ns.list({ limit: 997, cursor });
        pages++;
        const pageNames = names(page);
        for (const name of pageNames) {
          assert.ok(seen.length === 0 || name > seen.at(-1), `${name} comes after ${seen.at(-1)}`);
          seen.push(name);
        }
        if (page.list_complete) break;
        cursor = page.cursor;
        const last = pageNames.at(-1);
        const lastIndex = original.indexOf(last);
        // Behind (and at) the cursor: already seen, must not disturb paging.
        await ns.delete(last);
        await ns.delete(pageNames[0]);
        await ns.put(`${pageNames[1]}~behind`, "never listed");
        // Ahead of the cursor: deleted keys vanish, inserted keys appear.
        for (const step of [1, 2, 50, 996, 997, 1500]) {
          const target = original[lastIndex + step];
          if (target !== undefined && !deletedAhead.has(target)) {
            await ns.delete(target);
            deletedAhead.add(target);
          }
        }
        const inserted = `${last}~ahead`;
        await ns.put(inserted, "listed later");
        insertedAhead.push(inserted);
      }
      const expected = [...original.filter((k) => !deletedAhead.has(k)), ...insertedAhead].sort();
      assert.equal(seen.length, expected.length);
      assert.deepEqual(seen, expected);
      assert.ok(pages >= 10);
    });
  });
}

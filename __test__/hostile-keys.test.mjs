// Hostile key names and namespace ids (contract §4: the key→storage mapping
// is injective and total, and nothing resolves outside the root). Thousands
// of generated keys and hundreds of generated namespace ids, from a seeded
// generator: every key reads back its own value, list pages return exactly
// the keys written in UTF-8 byte order, namespaces never see each other's
// keys, and the directory backend creates nothing outside its root.
//
// KV_HOSTILE_KEYS (default 3000), KV_HOSTILE_NAMESPACES (default 200) and
// KV_HOSTILE_SEED (default 20261124) tune a run; a failure names the seed.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { backends, clusterBackends } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";

const KEY_COUNT = Number(process.env.KV_HOSTILE_KEYS ?? 3000);
const NAMESPACE_COUNT = Number(process.env.KV_HOSTILE_NAMESPACES ?? 200);
const SEED = Number(process.env.KV_HOSTILE_SEED ?? 20261124);

// ---------------------------------------------------------------------------
// The generator

/** mulberry32: a small seeded PRNG, [0, 1). */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const utf8Length = (s) => Buffer.byteLength(s, "utf8");
const byUtf8 = (a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
const INVALID = new Set(["", ".", ".."]);

// Pieces that break naive key→file mappings: separators, dot segments,
// Windows device names, meta-file and temp-file look-alikes, escapes,
// controls, Unicode that normalises or case-folds, emoji sequences.
const ATOMS = [
  "/", "\\", ":", "|", "..", ".", "...", "./", "../", "..\\", "/..", "//",
  "CON", "con", "PRN", "AUX", "NUL", "nul.txt", "COM1", "lpt9.", "con.txt",
  " ", "  ", ".", "%2F", "%2f", "%", "%25", "%00", "%2E%2E", "+",
  "x.meta.json", ".meta.json", ".meta", ".json", "name.meta.json",
  ".^kv-tmp-", ".^kv-lock", "^", "~", "~1", "#", "&", "?", "*", "<", ">", '"', "'", "`", "$", "=", ";", ",",
  "\u0000", "\u0001", "\u001f", "\t", "\n", "\r", "\u007f", "\u0080", "\u0085", "\u009f", "\u00a0",
  "\u200b", "\u200d", "\ufeff", "\u202e", "\ufffd", "\uffff", "\ue000", "\ud7ff",
  "é", "e\u0301", "ü", "Ü", "ß", "ẞ", "İ", "ı", "ǅ", "Å", "\u212b", "日本", "한", "ﷺ",
  "😀", "🏳️‍🌈", "👩‍👩‍👧", "𝕏", "\u{10ffff}", "\u{1f600}\u{1f3fb}",
  "a", "A", "key", "KEY", "index", "value", "meta",
];
const ASCII = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i));

function generator(seed) {
  const random = prng(seed);
  const int = (n) => Math.floor(random() * n);
  const pick = (items) => items[int(items.length)];
  const bmpChar = () => {
    for (;;) {
      const c = 1 + int(0xffff);
      if (c < 0xd800 || c > 0xdfff) return String.fromCharCode(c);
    }
  };
  const astralChar = () => String.fromCodePoint(0x10000 + int(0x100000));
  const piece = () => {
    const r = random();
    if (r < 0.45) return pick(ATOMS);
    if (r < 0.7) return Array.from({ length: 1 + int(8) }, () => pick(ASCII)).join("");
    if (r < 0.85) return bmpChar();
    return astralChar();
  };
  /** Fills up to exactly `bytes` UTF-8 bytes with `char()`s (closing any gap with ASCII). */
  const fill = (bytes, char) => {
    let s = "";
    for (;;) {
      const c = char();
      if (utf8Length(s + c) > bytes) break;
      s += c;
    }
    while (utf8Length(s) < bytes) s += pick(ASCII);
    return s;
  };
  /** Drops whole code points from the end until the key fits in 512 bytes. */
  const fit = (s) => {
    const points = [...s];
    while (utf8Length(points.join("")) > 512) points.pop();
    return points.join("");
  };
  const one = () => {
    const r = random();
    if (r < 0.03) return fill(512, astralChar); // 128 four-byte chars
    if (r < 0.06) return fill(512, () => pick([pick(ASCII), bmpChar(), astralChar(), pick(ATOMS)]));
    if (r < 0.08) return fill(500 + int(13), bmpChar);
    if (r < 0.12) return "../".repeat(1 + int(6)) + pick(["etc/passwd", "x", "secret.txt", "sibling/secret.txt", ""]);
    if (r < 0.16) return pick(["", "/", "\\", "./", "x/"]) + pick(ATOMS) + pick([".", " ", "..", ". ", " .", "\t"]);
    return fit(Array.from({ length: 1 + int(8) }, piece).join(""));
  };
  return { random, int, pick, one, fit };
}

/** `count` distinct valid keys from `seed`, with look-alikes of some of them
 * (case, normalisation, a child path, a meta-file suffix) mixed in. */
function generateKeys(seed, count) {
  const g = generator(seed);
  const keys = new Set();
  const add = (k) => {
    if (!INVALID.has(k) && utf8Length(k) <= 512 && keys.size < count) keys.add(k);
  };
  while (keys.size < count) {
    const key = g.one();
    add(key);
    if (g.random() < 0.15) {
      add(g.fit(key.toUpperCase()));
      add(g.fit(key.toLowerCase()));
      add(g.fit(key.normalize("NFD")));
      add(g.fit(key.normalize("NFC")));
      add(g.fit(`${key}/child`));
      add(g.fit(`${key}.meta.json`));
      add(g.fit(`${key}.`));
      add(g.fit(`${key} `));
    }
  }
  return [...keys];
}

// ---------------------------------------------------------------------------
// Helpers

async function listAll(ns, options = {}, limitFor = () => undefined) {
  const keys = [];
  let cursor;
  do {
    const page = await ns.list({ ...options, limit: limitFor(), cursor });
    keys.push(...page.keys);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return keys;
}

const show = (key) => JSON.stringify(key);
const valueFor = (key, i) => `value ${i} of ${key}`;
const metadataFor = (i) => (i % 5 === 0 ? { i, note: "hostile" } : undefined);

/** The state of every file and directory under `dir`, except `skip`:
 * a sorted list of "relative path|type|size|mtime". */
function snapshotExcept(dir, skip) {
  const entries = [];
  const walk = (at) => {
    for (const name of readdirSync(at)) {
      const full = path.join(at, name);
      if (full === skip) continue;
      const st = lstatSync(full);
      const type = st.isDirectory() ? "dir" : st.isSymbolicLink() ? "link" : "file";
      entries.push(`${path.relative(dir, full)}|${type}|${st.isDirectory() ? "" : st.size}|${st.mtimeMs}`);
      if (st.isDirectory()) walk(full);
    }
  };
  const st = lstatSync(dir);
  entries.push(`.|dir||${st.mtimeMs}`);
  walk(dir);
  return entries.sort();
}

/** Walks `root` without following links; fails on a symlink or a path outside it. */
function assertEverythingInside(root) {
  const realRoot = realpathSync(root);
  let count = 0;
  const walk = (at) => {
    for (const name of readdirSync(at)) {
      const full = path.join(at, name);
      const st = lstatSync(full);
      assert.ok(!st.isSymbolicLink(), `symlink in the persistence root: ${full}`);
      assert.ok(st.isDirectory() || st.isFile(), `not a file or directory: ${full}`);
      const real = realpathSync(full);
      assert.ok(real.startsWith(realRoot + path.sep), `outside the root: ${real}`);
      count++;
      if (st.isDirectory()) walk(full);
    }
  };
  walk(root);
  return count;
}

// ---------------------------------------------------------------------------
// The tests

const KEYS = generateKeys(SEED, KEY_COUNT);
const NAMESPACE_IDS = generateKeys(SEED + 1, NAMESPACE_COUNT);
const SORTED_KEYS = [...KEYS].sort(byUtf8);
const seedNote = `(seed ${SEED}: rerun with KV_HOSTILE_SEED=${SEED})`;

test("the generator covers what it promises", () => {
  assert.equal(KEYS.length, KEY_COUNT);
  assert.equal(NAMESPACE_IDS.length, NAMESPACE_COUNT);
  for (const key of KEYS) assert.ok(!INVALID.has(key) && utf8Length(key) <= 512, show(key));
  const has = (predicate, what) => assert.ok(KEYS.some(predicate), `no key ${what} ${seedNote}`);
  has((k) => utf8Length(k) === 512 && [...k].every((c) => utf8Length(c) === 4), "of 128 four-byte chars");
  for (const atom of ["/", "\\", ":", "|", "..", "CON", "nul.txt", "%2F", "x.meta.json", "\u0000", "😀", ".^kv-tmp-"]) {
    has((k) => k.includes(atom), `containing ${show(atom)}`);
  }
  has((k) => k.endsWith(".") && k !== "." && k !== "..", "with a trailing dot");
  has((k) => k.endsWith(" "), "with a trailing space");
  has((k) => k.startsWith("../"), "starting with ../");
  has((k) => /[\u0001-\u001f]/.test(k), "with a control character");
});

const targets = [...backends, ...clusterBackends].filter((b) => b.name !== "memory");

for (const backend of targets) {
  describe(`${backend.name}: hostile keys and namespace ids`, () => {
    // The directory backend gets a root inside a tree we watch: a sibling
    // directory with a file, an "uncle" directory, and their parents.
    let watched;
    const persistFor = async () => {
      if (backend.name !== "directory") return backend.persist();
      const base = mkdtempSync(path.join(os.tmpdir(), "kv-hostile-"));
      const parent = path.join(base, "outer", "parent");
      const root = path.join(parent, "root");
      mkdirSync(root, { recursive: true });
      mkdirSync(path.join(parent, "sibling"));
      writeFileSync(path.join(parent, "sibling", "secret.txt"), "secret");
      mkdirSync(path.join(base, "outer", "uncle"));
      writeFileSync(path.join(base, "outer", "uncle", "x"), "x");
      watched = { base, root, before: snapshotExcept(base, root) };
      return root;
    };
    const checkNothingOutside = () => {
      if (!watched) return;
      assert.deepEqual(snapshotExcept(watched.base, watched.root), watched.before, `files changed outside the root ${seedNote}`);
      const entries = assertEverythingInside(watched.root);
      assert.ok(entries > 0, "the backend wrote into its root");
    };

    test(`${KEY_COUNT} generated keys read back their own values and list exactly, in UTF-8 order`, { timeout: 600_000 }, async () => {
      const persist = await persistFor();
      try {
        let mf = new Miniflare({ kvNamespaces: ["MAIN"], kvPersist: persist });
        try {
          let ns = await mf.getKVNamespace("MAIN");
          for (const [i, key] of KEYS.entries()) {
            await ns.put(key, valueFor(key, i), { metadata: metadataFor(i) });
          }
          for (const [i, key] of KEYS.entries()) {
            const { value, metadata } = await ns.getWithMetadata(key);
            assert.equal(value, valueFor(key, i), `get ${show(key)} ${seedNote}`);
            assert.deepEqual(metadata, metadataFor(i) ?? null, `metadata of ${show(key)} ${seedNote}`);
          }
          const index = new Map(KEYS.map((k, i) => [k, i]));
          const expectedList = SORTED_KEYS.map((name) => {
            const metadata = metadataFor(index.get(name));
            return metadata ? { name, metadata } : { name };
          });
          assert.deepEqual(await listAll(ns), expectedList, `list (pages of 1000) ${seedNote}`);
          const g = generator(SEED + 2);
          const randomLimit = () => 1 + g.int(700);
          assert.deepEqual((await listAll(ns, {}, randomLimit)).map((k) => k.name), SORTED_KEYS, `list (random page sizes) ${seedNote}`);
          // Prefixes cut from the keys themselves, including partial code points' neighbours.
          for (let n = 0; n < 25; n++) {
            const source = g.pick(KEYS);
            const points = [...source];
            const prefix = points.slice(0, 1 + g.int(points.length)).join("");
            const expected = SORTED_KEYS.filter((k) => k.startsWith(prefix));
            const got = (await listAll(ns, { prefix }, randomLimit)).map((k) => k.name);
            assert.deepEqual(got, expected, `list prefix ${show(prefix)} ${seedNote}`);
          }
          // Delete a third, then check both halves (also after reopening).
          const deleted = new Set(KEYS.filter((_, i) => i % 3 === 0));
          for (const key of deleted) await ns.delete(key);
          const remaining = SORTED_KEYS.filter((k) => !deleted.has(k));
          await mf.dispose();
          mf = new Miniflare({ kvNamespaces: ["MAIN"], kvPersist: persist });
          ns = await mf.getKVNamespace("MAIN");
          assert.deepEqual((await listAll(ns)).map((k) => k.name), remaining, `list after deletes, reopened ${seedNote}`);
          for (const [i, key] of KEYS.entries()) {
            assert.equal(await ns.get(key), deleted.has(key) ? null : valueFor(key, i), `get ${show(key)} after deletes ${seedNote}`);
          }
        } finally {
          await mf.dispose();
        }
        checkNothingOutside();
      } finally {
        if (watched) rmSync(watched.base, { recursive: true, force: true });
        watched = undefined;
      }
    });

    test(`${NAMESPACE_COUNT} generated namespace ids never see each other's keys`, { timeout: 600_000 }, async () => {
      const persist = await persistFor();
      try {
        const bindings = Object.fromEntries(NAMESPACE_IDS.map((id, i) => [`B${i}`, id]));
        // Every namespace holds the same few key names (plus its own id as a
        // key), each with a value naming the namespace.
        const g = generator(SEED + 3);
        const shared = Array.from({ length: 5 }, () => g.pick(KEYS));
        const keysOf = (id) => [...new Set([...shared, id])].sort(byUtf8);
        let mf = new Miniflare({ kvNamespaces: bindings, kvPersist: persist });
        try {
          for (const [i, id] of NAMESPACE_IDS.entries()) {
            const ns = await mf.getKVNamespace(`B${i}`);
            for (const key of keysOf(id)) await ns.put(key, `ns ${i}`, { metadata: { ns: i } });
          }
          for (let pass = 0; pass < 2; pass++) {
            for (const [i, id] of NAMESPACE_IDS.entries()) {
              const ns = await mf.getKVNamespace(`B${i}`);
              const where = `namespace ${show(id)} (B${i}) ${pass ? "after reopening" : ""} ${seedNote}`;
              assert.deepEqual((await listAll(ns)).map((k) => k.name), keysOf(id), `list of ${where}`);
              for (const key of keysOf(id)) {
                assert.deepEqual(await ns.getWithMetadata(key), { value: `ns ${i}`, metadata: { ns: i }, cacheStatus: null },
                  `${show(key)} in ${where}`);
              }
            }
            await mf.dispose();
            mf = new Miniflare({ kvNamespaces: bindings, kvPersist: persist });
          }
          // Deleting in one namespace leaves the others alone.
          const first = await mf.getKVNamespace("B0");
          for (const key of keysOf(NAMESPACE_IDS[0])) await first.delete(key);
          assert.deepEqual((await first.list()).keys, []);
          for (const [i, id] of NAMESPACE_IDS.entries()) {
            if (i === 0) continue;
            const ns = await mf.getKVNamespace(`B${i}`);
            assert.equal((await listAll(ns)).length, keysOf(id).length, `namespace ${show(id)} after B0's deletes ${seedNote}`);
          }
        } finally {
          await mf.dispose();
        }
        checkNothingOutside();
      } finally {
        if (watched) rmSync(watched.base, { recursive: true, force: true });
        watched = undefined;
      }
    });

    // Namespace ids and keys that spell each other's storage names when
    // joined naively: Redis' `<ns>:value:<key>` / `<ns>:meta:<key>` /
    // `<ns>:index`, a directory's `<ns>/<key>`. One test per pair: two
    // namespaces, one key each, written then read back.
    const LOOK_ALIKES = [
      [["n", "x:value:y"], ["n:value:x", "y"]],
      [["n", "x:meta:y"], ["n:meta:x", "y"]],
      [["n", "k:index"], ["n:value:k", "z"]],
      [["n", "x/y"], ["n/x", "y"]],
      [["n", "index"], ["n:index", "i"]],
    ];
    for (const pair of LOOK_ALIKES) {
      const title = pair.map(([id, key]) => `${show(id)}/${show(key)}`).join(" and ");
      test(`namespace ids that spell another namespace's storage names stay apart: ${title}`, async () => {
        const bindings = { FIRST: pair[0][0], SECOND: pair[1][0] };
        const persist = await persistFor();
        try {
          const mf = new Miniflare({ kvNamespaces: bindings, kvPersist: persist });
          try {
            const namespaces = [await mf.getKVNamespace("FIRST"), await mf.getKVNamespace("SECOND")];
            for (const [i, [id, key]] of pair.entries()) {
              await namespaces[i].put(key, `${id} / ${key}`, { metadata: { id } });
            }
            for (const [i, [id, key]] of pair.entries()) {
              const where = `namespace ${show(id)}`;
              assert.deepEqual((await listAll(namespaces[i])).map((k) => k.name), [key], `list of ${where}`);
              assert.deepEqual(await namespaces[i].getWithMetadata(key), { value: `${id} / ${key}`, metadata: { id }, cacheStatus: null },
                `${show(key)} in ${where}`);
            }
            // Deleting one leaves the other.
            await namespaces[0].delete(pair[0][1]);
            assert.equal(await namespaces[1].get(pair[1][1]), `${pair[1][0]} / ${pair[1][1]}`);
            assert.deepEqual((await listAll(namespaces[0])).map((k) => k.name), []);
          } finally {
            await mf.dispose();
          }
          checkNothingOutside();
        } finally {
          if (watched) rmSync(watched.base, { recursive: true, force: true });
          watched = undefined;
        }
      });
    }
  });
}

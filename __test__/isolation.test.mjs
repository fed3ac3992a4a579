// Per-test isolated storage: Miniflare#pushStorage()/popStorage(), the
// `miniflare-kv/testing` helpers (driven here by node:test's own hooks) and
// `kvNamespaceScope`, on every backend.
import { after, before, afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { useIsolatedStorage, testWorkerScope } from "miniflare-kv/testing";
import { backends } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";

// Absolute expirations well in the future (2033 and 2035), within int32.
const EXPIRATION_A = 2_000_000_000;
const EXPIRATION_B = 2_050_000_000;

/** Everything a namespace holds: the full listing and each key's value
 * (as bytes, base64) and metadata. */
async function contents(ns) {
  const keys = [];
  let cursor;
  do {
    const page = await ns.list({ cursor, limit: 2 });
    keys.push(...page.keys);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  const values = {};
  for (const { name } of keys) {
    const { value, metadata } = await ns.getWithMetadata(name, "arrayBuffer");
    values[name] = { base64: Buffer.from(value).toString("base64"), metadata };
  }
  return { keys, values };
}

async function seed(ns) {
  await ns.put("plain", "one");
  await ns.put("meta", "two", { metadata: { n: 2, s: "ü" }, expiration: EXPIRATION_A });
  await ns.put("binary", new Uint8Array([0, 255, 128]));
  await ns.put("doomed", "deleted by the test");
}

/** What a test does to the data: add, delete, overwrite value/metadata/expiration. */
async function scribble(ns) {
  await ns.put("added", "new");
  await ns.delete("doomed");
  await ns.put("plain", "changed", { metadata: "m", expiration: EXPIRATION_B });
  await ns.put("meta", "no metadata now");
  await ns.put("binary", "text now");
}

for (const backend of backends) {
  const persistent = backend.name !== "memory";

  /** A fresh Miniflare on this backend; `fn(mf, persist)`, then dispose. */
  async function withMiniflare(options, fn) {
    const persist = await backend.persist();
    const mf = new Miniflare({ kvPersist: persist, ...options });
    try {
      return await fn(mf, persist);
    } finally {
      await mf.dispose();
    }
  }

  describe(`${backend.name}: pushStorage/popStorage`, () => {
    test("pop restores exactly what was there at push", () =>
      withMiniflare({ kvNamespaces: ["NS", "OTHER"] }, async (mf) => {
        const ns = await mf.getKVNamespace("NS");
        const other = await mf.getKVNamespace("OTHER");
        await seed(ns);
        await other.put("x", "in other");
        const before = [await contents(ns), await contents(other)];
        assert.equal(before[0].keys.length, 4);

        await mf.pushStorage();
        await scribble(ns);
        await other.delete("x");
        await other.put("y", "added to other");
        assert.notDeepEqual(await contents(ns), before[0]);

        await mf.popStorage();
        assert.deepEqual([await contents(ns), await contents(other)], before);
        assert.deepEqual(
          (await ns.list()).keys.find((k) => k.name === "meta"),
          { name: "meta", expiration: EXPIRATION_A, metadata: { n: 2, s: "ü" } },
        );
        assert.equal(await ns.get("added"), null);
        assert.equal(await ns.get("doomed"), "deleted by the test");
      }));

    test("snapshots nest: push, push, pop, pop", () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf) => {
        const ns = await mf.getKVNamespace("NS");
        await seed(ns);
        const original = await contents(ns);

        await mf.pushStorage();
        await ns.put("level1", "1");
        await ns.delete("plain");
        const level1 = await contents(ns);

        await mf.pushStorage();
        await ns.put("level2", "2");
        await ns.put("level1", "1, overwritten");
        await ns.put("plain", "back, but different");

        await mf.popStorage();
        assert.deepEqual(await contents(ns), level1);
        await mf.popStorage();
        assert.deepEqual(await contents(ns), original);
      }));

    test("an empty namespace is emptied again; many keys (several list pages)", () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf) => {
        const ns = await mf.getKVNamespace("NS");
        await mf.pushStorage();
        for (let i = 0; i < 1500; i++) await ns.put(`key-${String(i).padStart(4, "0")}`, `${i}`);
        await mf.popStorage();
        assert.deepEqual((await ns.list()).keys, []);

        for (let i = 0; i < 1200; i++) await ns.put(`seeded-${String(i).padStart(4, "0")}`, `${i}`);
        await mf.pushStorage();
        for (let i = 0; i < 1200; i += 7) await ns.delete(`seeded-${String(i).padStart(4, "0")}`);
        await ns.put("seeded-0003", "overwritten");
        await mf.popStorage();
        const first = await ns.list();
        const second = await ns.list({ cursor: first.cursor });
        assert.equal(first.keys.length + second.keys.length, 1200);
        assert.equal(await ns.get("seeded-0003"), "3");
        assert.equal(await ns.get("seeded-0007"), "7");
      }));

    test("popStorage without a push rejects and changes nothing", () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf) => {
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "v");
        await assert.rejects(mf.popStorage(), /no storage snapshot to restore/);
        await mf.pushStorage();
        await mf.popStorage();
        await assert.rejects(mf.popStorage(), /no storage snapshot to restore/);
        assert.equal(await ns.get("k"), "v");
      }));

    test("only this instance's namespaces are restored", { skip: !persistent && "memory is private to an instance" }, () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf, persist) => {
        const outsider = new Miniflare({ kvNamespaces: { OUT: "not-bound-by-mf" }, kvPersist: persist });
        try {
          const ns = await mf.getKVNamespace("NS");
          const out = await outsider.getKVNamespace("OUT");
          await mf.pushStorage();
          await ns.put("k", "undone");
          await out.put("k", "kept");
          await mf.popStorage();
          assert.equal(await ns.get("k"), null);
          assert.equal(await out.get("k"), "kept");
        } finally {
          await outsider.dispose();
        }
      }));

    test("pop restores the namespaces bound at push, even after setOptions re-binds", () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf, persist) => {
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "before");
        await mf.pushStorage();
        await ns.put("k", "during");
        await mf.setOptions({ kvNamespaces: { RENAMED: "NS" }, kvPersist: persist });
        await mf.popStorage();
        assert.equal(await (await mf.getKVNamespace("RENAMED")).get("k"), "before");
      }));

    test("concurrent pushes and pops are taken one at a time", () =>
      withMiniflare({ kvNamespaces: ["NS"] }, async (mf) => {
        const ns = await mf.getKVNamespace("NS");
        await ns.put("k", "0");
        await Promise.all([mf.pushStorage(), mf.pushStorage()]);
        await ns.put("k", "changed");
        await Promise.all([mf.popStorage(), mf.popStorage()]);
        assert.equal(await ns.get("k"), "0");
        await assert.rejects(mf.popStorage(), /no storage snapshot/);
      }));

    test("after dispose() both reject with the disposed error", async () => {
      const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: await backend.persist() });
      await mf.pushStorage();
      await mf.dispose();
      await assert.rejects(mf.pushStorage(), /has been disposed/);
      await assert.rejects(mf.popStorage(), /has been disposed/);
    });
  });

  // The helper, with node:test's hooks passed explicitly: tests in a
  // describe run one after another, like Jest's and Vitest's by default.
  describe(`${backend.name}: useIsolatedStorage`, () => {
    let mf;
    let ns;
    before(async () => {
      mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: await backend.persist() });
      ns = await mf.getKVNamespace("NS");
      await ns.put("seeded", "in before()", { metadata: { seed: true } });
    });
    after(() => mf.dispose());
    useIsolatedStorage(() => mf, { beforeEach, afterEach });

    test("test A writes, deletes and overwrites", async () => {
      await ns.put("from-a", "A");
      await ns.put("seeded", "overwritten by A");
      assert.equal(await ns.get("from-a"), "A");
    });

    test("test B sees none of A's writes, and the seeded data as seeded", async () => {
      assert.equal(await ns.get("from-a"), null);
      assert.deepEqual(await ns.getWithMetadata("seeded"), {
        value: "in before()",
        metadata: { seed: true },
        cacheStatus: null,
      });
      await ns.delete("seeded");
    });

    test("test C still sees the seeded data", async () => {
      assert.deepEqual((await ns.list()).keys, [{ name: "seeded", metadata: { seed: true } }]);
    });
  });

  describe(`${backend.name}: kvNamespaceScope`, { skip: !persistent && "memory is private to an instance" }, () => {
    test("instances with different scopes share a location, not data", async () => {
      const persist = await backend.persist();
      const one = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: "worker-1" });
      const two = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: "worker-2" });
      const sameAsOne = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: "worker-1" });
      const unscoped = new Miniflare({ kvNamespaces: { RAW: "worker-1~NS", NS: "NS" }, kvPersist: persist });
      try {
        const [a, b, c] = await Promise.all([one, two, sameAsOne].map((mf) => mf.getKVNamespace("NS")));
        await a.put("key", "from one");
        await b.put("key", "from two");
        assert.equal(await a.get("key"), "from one");
        assert.equal(await b.get("key"), "from two");
        assert.equal(await c.get("key"), "from one");
        assert.deepEqual((await b.list()).keys, [{ name: "key" }]);
        // Stored under "<scope>~<id>"; the unscoped id holds nothing.
        assert.equal(await (await unscoped.getKVNamespace("RAW")).get("key"), "from one");
        assert.equal(await (await unscoped.getKVNamespace("NS")).get("key"), null);

        // A scoped snapshot covers the scoped namespace only.
        await two.pushStorage();
        await b.put("key", "changed");
        await a.put("key", "one changed too");
        await two.popStorage();
        assert.equal(await b.get("key"), "from two");
        assert.equal(await a.get("key"), "one changed too");
      } finally {
        await Promise.all([one, two, sameAsOne, unscoped].map((mf) => mf.dispose()));
      }
    });

    test("true uses the test worker's scope", async () => {
      const persist = await backend.persist();
      const scoped = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: true });
      const reader = new Miniflare({ kvNamespaces: { NS: `${testWorkerScope()}~NS` }, kvPersist: persist });
      try {
        await (await scoped.getKVNamespace("NS")).put("k", "v");
        assert.equal(await (await reader.getKVNamespace("NS")).get("k"), "v");
      } finally {
        await scoped.dispose();
        await reader.dispose();
      }
    });

    test("scoped namespace directories have names valid on every OS", { skip: backend.name !== "directory" && "directory layout only" }, async () => {
      const persist = await backend.persist();
      const scoped = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: "vitest-1" });
      const workerScoped = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist, kvNamespaceScope: true });
      const unscoped = new Miniflare({ kvNamespaces: ["PLAIN"], kvPersist: persist });
      try {
        for (const mf of [scoped, workerScoped]) await (await mf.getKVNamespace("NS")).put("k", "v");
        await (await unscoped.getKVNamespace("PLAIN")).put("k", "v");
        const names = readdirSync(persist).filter((name) => !name.startsWith(".")).sort();
        assert.deepEqual(names, ["PLAIN", `${testWorkerScope()}~NS`, "vitest-1~NS"].sort());
        // Characters Windows refuses in file names, and control characters.
        for (const name of names) assert.doesNotMatch(name, /[<>:"/\\|?*\x00-\x1f]/, name);
      } finally {
        await Promise.all([scoped, workerScoped, unscoped].map((mf) => mf.dispose()));
      }
    });
  });
}

describe("testing helpers: arguments", () => {
  test("testWorkerScope: Jest, then Vitest, else the process", () => {
    // node:test runs each file in its own process without either variable.
    assert.match(testWorkerScope(), new RegExp(`^pid-${process.pid}$`));
  });

  test("kvNamespaceScope must be true, false or a non-empty string", () => {
    for (const bad of ["", 1, {}, []]) {
      assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], kvNamespaceScope: bad }), {
        name: "TypeError",
        message: /kvNamespaceScope must be true/,
      });
    }
  });

  test("a kvNamespaceScope string holds only file-name-safe characters (and never the ~ separator)", async () => {
    for (const bad of ["ci:run", "a/b", "a\\b", "a~b", "x y", "q?", "é"]) {
      assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], kvNamespaceScope: bad }), {
        name: "TypeError",
        message: /may only contain letters, digits and - _ \. \+ @ =/,
      }, bad);
    }
    const mf = new Miniflare({ kvNamespaces: ["NS"], kvNamespaceScope: "ci-run_1.2+x@y=z" });
    await mf.dispose();
  });

  test("useIsolatedStorage needs hooks and a Miniflare", () => {
    // node:test defines no global beforeEach/afterEach.
    assert.throws(() => useIsolatedStorage(new Miniflare()), { name: "TypeError", message: /no beforeEach\/afterEach/ });
    const hooks = { beforeEach() {}, afterEach() {} };
    assert.throws(() => useIsolatedStorage({}, hooks), { name: "TypeError", message: /Miniflare instance/ });
  });

  test("a failed push does not pop someone else's snapshot", async () => {
    const registered = {};
    const hooks = { beforeEach: (fn) => (registered.beforeEach = fn), afterEach: (fn) => (registered.afterEach = fn) };
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    const ns = await mf.getKVNamespace("NS");
    await mf.pushStorage(); // e.g. a describe-level snapshot
    await ns.put("k", "outer");
    let current = null; // the function returns nothing: the push fails
    useIsolatedStorage(() => current, hooks);
    await assert.rejects(registered.beforeEach(), /did not return a Miniflare/);
    await registered.afterEach(); // must not pop the outer snapshot
    assert.equal(await ns.get("k"), "outer");
    current = mf;
    await registered.beforeEach();
    await ns.put("k", "inner");
    await registered.afterEach();
    assert.equal(await ns.get("k"), "outer");
    await mf.popStorage();
    assert.equal(await ns.get("k"), null);
    await mf.dispose();
  });
});

// Contract §1: the Miniflare class — bindings, getBindings, setOptions,
// dispose, kvPersist forms.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { backends } from "./helpers/backends.mjs";
import { Miniflare, rejectsAsync } from "./helpers/kv.mjs";

const isMemory = (persist) => persist === false || persist === undefined || persist === "memory:";

/** A Miniflare on `backend`, disposed when test `t` ends. */
async function miniflareFor(t, backend, options) {
  const persist = await backend.persist();
  const mf = new Miniflare({ kvPersist: persist, ...options });
  t.after(() => mf.dispose());
  return { mf, persist };
}

for (const backend of backends) {
  describe(`${backend.name}: Miniflare`, () => {
    test("kvNamespaces as an array: each binding is its own namespace", async (t) => {
      const { mf } = await miniflareFor(t, backend, { kvNamespaces: ["A", "B"] });
      const a = await mf.getKVNamespace("A");
      const b = await mf.getKVNamespace("B");
      await a.put("k", "from A");
      assert.equal(await b.get("k"), null);
      await b.put("k", "from B");
      assert.equal(await a.get("k"), "from A");
      assert.equal(await b.get("k"), "from B");
    });

    test("kvNamespaces as a record: two bindings with one id share data", async (t) => {
      const { mf } = await miniflareFor(t, backend, { kvNamespaces: { FIRST: "shared-id", SECOND: "shared-id", OTHER: "other-id" } });
      const first = await mf.getKVNamespace("FIRST");
      const second = await mf.getKVNamespace("SECOND");
      const other = await mf.getKVNamespace("OTHER");
      await first.put("k", "v", { metadata: { by: "first" } });
      assert.deepEqual(await second.getWithMetadata("k"), { value: "v", metadata: { by: "first" }, cacheStatus: null });
      assert.equal(await other.get("k"), null);
      await second.delete("k");
      assert.equal(await first.get("k"), null);
    });

    test("a binding named like another binding's namespace id shares by id, not by name", async (t) => {
      const { mf } = await miniflareFor(t, backend, { kvNamespaces: { X: "Y", Y: "Z" } });
      const x = await mf.getKVNamespace("X");
      const y = await mf.getKVNamespace("Y");
      await x.put("k", "in namespace Y");
      assert.equal(await y.get("k"), null);
    });

    test("getKVNamespace of an unknown binding → an Error naming it", async (t) => {
      const { mf } = await miniflareFor(t, backend, { kvNamespaces: ["NS"] });
      await rejectsAsync(() => mf.getKVNamespace("MISSING_BINDING"),
        (e) => e instanceof Error && e.message.includes("MISSING_BINDING") && e.message.includes("kvNamespaces"));
      const none = new Miniflare({ kvPersist: false });
      t.after(() => none.dispose());
      await rejectsAsync(() => none.getKVNamespace("NS"), (e) => e instanceof Error && e.message.includes("NS"));
    });

    test("getBindings returns every binding, on the same storage", async (t) => {
      const { mf } = await miniflareFor(t, backend, { kvNamespaces: { A: "a", B: "b" } });
      const env = await mf.getBindings();
      assert.deepEqual(Object.keys(env).sort(), ["A", "B"]);
      await env.A.put("k", "v");
      assert.equal(await (await mf.getKVNamespace("A")).get("k"), "v");
      assert.equal(await env.B.get("k"), null);
      assert.equal(typeof env.B.list, "function");
    });

    test("setOptions keeps the data and re-binds namespaces", async (t) => {
      const { mf, persist } = await miniflareFor(t, backend, { kvNamespaces: ["NS"] });
      await (await mf.getKVNamespace("NS")).put("k", "kept", { metadata: 1 });
      await mf.setOptions({ kvNamespaces: ["NS", "NEW"], kvPersist: persist });
      const ns = await mf.getKVNamespace("NS");
      assert.deepEqual(await ns.getWithMetadata("k"), { value: "kept", metadata: 1, cacheStatus: null });
      assert.equal(await (await mf.getKVNamespace("NEW")).get("k"), null);
      await mf.setOptions({ kvNamespaces: { RENAMED: "NS" }, kvPersist: persist });
      assert.equal(await (await mf.getKVNamespace("RENAMED")).get("k"), "kept");
      await rejectsAsync(() => mf.getKVNamespace("NEW"), (e) => e instanceof Error && e.message.includes("NEW"));
    });

    test("dispose is idempotent; afterwards every use is a clear Error", async () => {
      const persist = await backend.persist();
      const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      const ns = await mf.getKVNamespace("NS");
      await ns.put("k", "v");
      assert.equal(await mf.dispose(), undefined);
      assert.equal(await mf.dispose(), undefined);
      const disposed = (e) => e instanceof Error && /dispose/i.test(e.message) && /new Miniflare/.test(e.message);
      await rejectsAsync(() => mf.getKVNamespace("NS"), disposed);
      await rejectsAsync(() => mf.getBindings(), disposed);
      await rejectsAsync(() => mf.setOptions({ kvNamespaces: ["NS"], kvPersist: persist }), disposed);
      // A namespace obtained before dispose fails cleanly too.
      await rejectsAsync(() => ns.get("k"), disposed);
      await rejectsAsync(() => ns.getWithMetadata("k"), disposed);
      await rejectsAsync(() => ns.get(["k"]), disposed);
      await rejectsAsync(() => ns.put("k", "v"), disposed);
      await rejectsAsync(() => ns.delete("k"), disposed);
      await rejectsAsync(() => ns.list(), disposed);
      assert.equal(await mf.dispose(), undefined);
    });

    test("two instances on one kvPersist: shared when persistent, private in memory", async () => {
      const persist = await backend.persist();
      const writer = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      await (await writer.getKVNamespace("NS")).put("k", "v", { metadata: { m: 1 } });
      await writer.dispose();
      const reader = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
      try {
        const got = await (await reader.getKVNamespace("NS")).getWithMetadata("k");
        if (isMemory(persist)) assert.deepEqual(got, { value: null, metadata: null, cacheStatus: null });
        else assert.deepEqual(got, { value: "v", metadata: { m: 1 }, cacheStatus: null });
      } finally {
        await reader.dispose();
      }
    });
  });
}

describe("kvPersist forms", () => {
  const acceptedForms = (e) =>
    e instanceof Error &&
    e.message.includes("kvPersist") &&
    ["memory:", "true", "file:", "redis://", "rediss://", "sled:"].every((form) => e.message.includes(form));

  test("unsupported schemes and types → an error naming the accepted forms", async () => {
    for (const kvPersist of ["ftp://host/dir", "http://localhost:6379", "mongodb://x", 42, {}, ["dir"], ""]) {
      assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], kvPersist }), acceptedForms, String(kvPersist));
    }
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    try {
      await rejectsAsync(() => mf.setOptions({ kvNamespaces: ["NS"], kvPersist: "ftp://x" }), acceptedForms);
      // A failed setOptions leaves the instance working.
      await (await mf.getKVNamespace("NS")).put("k", "v");
      assert.equal(await (await mf.getKVNamespace("NS")).get("k"), "v");
    } finally {
      await mf.dispose();
    }
  });

  test("absent, false and \"memory:\" are in memory and private to each instance", async () => {
    for (const options of [{}, { kvPersist: false }, { kvPersist: "memory:" }, { kvPersist: undefined }]) {
      const one = new Miniflare({ kvNamespaces: ["NS"], ...options });
      const two = new Miniflare({ kvNamespaces: ["NS"], ...options });
      try {
        await (await one.getKVNamespace("NS")).put("k", "one");
        assert.equal(await (await two.getKVNamespace("NS")).get("k"), null);
        assert.equal(await (await one.getKVNamespace("NS")).get("k"), "one");
      } finally {
        await one.dispose();
        await two.dispose();
      }
    }
  });

  test("true, paths, file: URLs, redis:// and sled: are accepted forms", async (t) => {
    // These may not be implemented yet; they must never be rejected as
    // unknown forms. `true` means ./.mf/kv, so run from a scratch directory.
    const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-persist-forms-"));
    const cwd = process.cwd();
    process.chdir(scratch);
    t.after(() => {
      process.chdir(cwd);
      rmSync(scratch, { recursive: true, force: true });
    });
    const forms = [
      true,
      path.join(scratch, "absolute"),
      "relative/dir",
      pathToFileURL(path.join(scratch, "from-url")).href,
      `sled:${path.join(scratch, "db.sled")}`,
      "sled:relative.sled",
      "redis://127.0.0.1:1",
      "rediss://127.0.0.1:1/2",
    ];
    for (const kvPersist of forms) {
      let mf;
      try {
        mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist });
      } catch (error) {
        assert.ok(error instanceof Error, String(kvPersist));
        assert.ok(!acceptedForms(error), `${kvPersist} was rejected as an unknown form: ${error.message}`);
        continue;
      }
      await mf.dispose();
    }
  });
});

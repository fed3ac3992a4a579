// miniflare-kv/testing's parts that need no test framework: stand-alone
// namespaces (createKVNamespace, new KVNamespace(new MemoryStorage())), the
// kit's option handling (shared by the Jest environment, the Vitest set-up
// file and useMiniflareKv) and the loader that puts the package's code in a
// Jest test's vm realm. The frameworks themselves run in __test__/consumers/
// (jest-env, vitest-env) and in testkit-node.test.mjs.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import vm from "node:vm";
import { createRequire } from "node:module";
import { describe, test, after } from "node:test";
import { Miniflare, KVNamespace as BindingKVNamespace } from "miniflare-kv";
import { createKVNamespace, disposeKVNamespace, MemoryStorage, KVNamespace } from "miniflare-kv/testing";

const require = createRequire(import.meta.url);
const { TestKit, resolveKitOptions } = require("../lib/testing/kit.js");
const { requireInContext } = require("../lib/testing/in-context.js");

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "kv-testkit-"));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("createKVNamespace", () => {
  test("in memory by default: a real KVNamespace with the binding's semantics", async () => {
    const ns = createKVNamespace();
    assert.ok(ns instanceof BindingKVNamespace);
    await ns.put("k", "v", { metadata: { m: 1 } });
    assert.deepEqual(await ns.getWithMetadata("k"), { value: "v", metadata: { m: 1 }, cacheStatus: null });
    assert.deepEqual((await ns.list()).keys, [{ name: "k", metadata: { m: 1 } }]);
    await assert.rejects(ns.put("", "x"), { name: "TypeError", message: "Key name cannot be empty." });
    await assert.rejects(ns.put("k", "v", { expirationTtl: 30 }), /Invalid expiration_ttl of 30/);
    // Each call is a store of its own.
    assert.equal(await createKVNamespace().get("k"), null);
  });

  test("on a kvPersist directory: the data is on disk, and a Miniflare instance reads it", async () => {
    const dir = path.join(tmp, "dir");
    const ns = createKVNamespace({ kvPersist: dir, id: "NS" });
    await ns.put("saved", "on disk");
    disposeKVNamespace(ns);
    const again = createKVNamespace({ kvPersist: dir, id: "NS" });
    assert.equal(await again.get("saved"), "on disk");
    disposeKVNamespace(again);
    const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: dir });
    assert.equal(await (await mf.getKVNamespace("NS")).get("saved"), "on disk");
    await mf.dispose();
  });

  test("on sled, synchronously", async () => {
    const ns = createKVNamespace({ kvPersist: `sled:${path.join(tmp, "sled")}` });
    await ns.put("a", "1");
    assert.equal(await ns.get("a"), "1");
    disposeKVNamespace(ns);
  });

  test("on Redis: returned at once, connects on the first call", { skip: !process.env.KV_TEST_REDIS_URL && "KV_TEST_REDIS_URL is not set" }, async () => {
    const id = `testkit-${process.pid}-${Date.now()}`;
    const ns = createKVNamespace({ kvPersist: process.env.KV_TEST_REDIS_URL, id });
    await ns.put("r", "redis");
    assert.equal(await ns.get("r"), "redis");
    await ns.delete("r");
    disposeKVNamespace(ns);
    await assert.rejects(ns.get("r"), /has been disposed/);
  });

  test("an unreachable Redis rejects the call, naming the URL", async () => {
    const ns = createKVNamespace({ kvPersist: "redis://127.0.0.1:1/0" });
    await assert.rejects(ns.get("x"), /127\.0\.0\.1:1/);
    disposeKVNamespace(ns);
  });

  test("disposed: every call rejects, dispose is idempotent", async () => {
    const ns = createKVNamespace();
    disposeKVNamespace(ns);
    disposeKVNamespace(ns);
    for (const call of [() => ns.get("a"), () => ns.put("a", "b"), () => ns.delete("a"), () => ns.list(), () => ns.getWithMetadata("a")]) {
      await assert.rejects(call(), { message: "This KV namespace has been disposed: create a new one with createKVNamespace()." });
    }
  });

  test("bad options are TypeErrors, as new Miniflare() gives them", () => {
    assert.throws(() => createKVNamespace({ kvPersit: "./x" }), { name: "TypeError", message: /Unknown createKVNamespace option "kvPersit": did you mean "kvPersist"\?/ });
    assert.throws(() => createKVNamespace({ kvPersist: "memory" }), { name: "TypeError", message: /use "memory:"/ });
    assert.throws(() => createKVNamespace({ id: "" }), TypeError);
    assert.throws(() => createKVNamespace(null), TypeError);
    assert.throws(() => disposeKVNamespace({}), TypeError);
  });
});

describe("new KVNamespace(new MemoryStorage()), as @miniflare/kv", () => {
  test("namespaces over one storage share its data; the storage is optional", async () => {
    const storage = new MemoryStorage();
    const a = new KVNamespace(storage);
    const b = new KVNamespace(storage);
    assert.ok(a instanceof BindingKVNamespace);
    await a.put("shared", "yes");
    assert.equal(await b.get("shared"), "yes");
    assert.equal(await new KVNamespace().get("shared"), null);
    assert.throws(() => new KVNamespace({}), TypeError);
  });
});

describe("the kit's options", () => {
  test("relative paths resolve against the root; a persistent kvPersist gets a worker scope", () => {
    const root = path.join(tmp, "project");
    const resolved = resolveKitOptions(
      { kvNamespaces: ["NS"], kvPersist: "./data", scriptPath: "src/index.js", kvSeed: { NS: "fixtures/ns.json" } },
      root,
    );
    assert.equal(resolved.kvPersist, path.join(root, "data"));
    assert.equal(resolved.scriptPath, path.join(root, "src/index.js"));
    assert.deepEqual(resolved.kvSeed, { NS: path.join(root, "fixtures/ns.json") });
    assert.equal(resolved.kvNamespaceScope, true);
    assert.equal(resolveKitOptions({ kvPersist: "sled:./s" }, root).kvPersist, `sled:${path.join(root, "s")}`);
    assert.equal(resolveKitOptions({ kvPersist: true }, root).kvPersist, path.join(root, ".mf", "kv"));
    // Memory needs no scope; an explicit choice is kept.
    assert.equal(resolveKitOptions({ kvNamespaces: ["NS"] }, root).kvNamespaceScope, undefined);
    assert.equal(resolveKitOptions({ kvPersist: "./data", kvNamespaceScope: false }, root).kvNamespaceScope, false);
  });

  test("unknown names are rejected with Miniflare's own TypeError", async () => {
    const kit = new TestKit(Miniflare, { kvNamespace: ["NS"] });
    await assert.rejects(kit.open(), { name: "TypeError", message: /^Unknown Miniflare option "kvNamespace": did you mean "kvNamespaces"\?/ });
    assert.throws(() => new TestKit(Miniflare, { kvPersist: "ture" }), { name: "TypeError", message: /did you mean/ });
  });

  test("frames nest, and close() pops what is left and disposes", async () => {
    const dir = path.join(tmp, "frames");
    const kit = await new TestKit(Miniflare, { kvNamespaces: ["NS"], kvPersist: dir, kvNamespaceScope: "frames" }).open();
    const { NS } = kit.bindings;
    await NS.put("base", "0");
    await kit.push();
    await NS.put("file", "1");
    await kit.frame(async () => {
      await NS.put("test", "2");
      assert.equal(await NS.get("file"), "1");
    });
    assert.equal(await NS.get("test"), null);
    assert.equal(await NS.get("file"), "1");
    await kit.close();
    await kit.close();
    // The store is left as it was before the first push.
    const check = new Miniflare({ kvNamespaces: ["NS"], kvPersist: dir, kvNamespaceScope: "frames" });
    const ns = await check.getKVNamespace("NS");
    assert.deepEqual((await ns.list()).keys.map((k) => k.name), ["base"]);
    await check.dispose();
  });

  test("pushNow/popNow: synchronous on a ready local store, else false and nothing done", async () => {
    const seed = path.join(tmp, "now-seed.json");
    fs.writeFileSync(seed, JSON.stringify([{ key: "seeded", value: "s" }]));
    const mf = new Miniflare({ kvNamespaces: ["NS"], kvSeed: { NS: seed } });
    const kit = new TestKit(Miniflare, { kvNamespaces: ["NS"], kvSeed: { NS: seed } });
    await kit.open(); // seeds
    const { NS } = kit.bindings;
    assert.equal(kit.pushNow(), true);
    await NS.put("in-frame", "1");
    assert.equal(kit.popNow(), true);
    assert.equal(await NS.get("in-frame"), null);
    assert.equal(await NS.get("seeded"), "s");
    // Nothing pushed: as pop(), nothing to do (and never someone else's frame).
    assert.equal(kit.popNow(), true);
    // The async and sync forms share one stack.
    await kit.push();
    assert.equal(kit.pushNow(), true);
    await NS.put("inner", "2");
    assert.equal(kit.popNow(), true);
    await NS.put("outer", "3");
    await kit.pop();
    assert.deepEqual((await NS.list()).keys.map((k) => k.name), ["seeded"]);
    await kit.close();
    assert.equal(kit.pushNow(), false); // disposed: push() reports it
    await assert.rejects(kit.push(), /has been disposed/);

    // Not seeded yet: the sync forms decline (the async ones seed first).
    const { PUSH_STORAGE_NOW, POP_STORAGE_NOW } = require("../lib/miniflare.js");
    assert.equal(mf[PUSH_STORAGE_NOW](), false);
    assert.equal(mf[POP_STORAGE_NOW](), false);
    await mf.pushStorage();
    assert.equal(mf[POP_STORAGE_NOW](), true);
    assert.equal(await (await mf.getKVNamespace("NS")).get("seeded"), "s");
    // Nothing left to pop: the native error, thrown.
    assert.throws(() => mf[POP_STORAGE_NOW](), /there is no storage snapshot to restore/);
    await mf.dispose();
    assert.equal(mf[PUSH_STORAGE_NOW](), false); // disposed: pushStorage() reports it
    await assert.rejects(mf.pushStorage(), /has been disposed/);
  });

  test("pushNow/popNow on Redis: always false, the async forms do the work", { skip: !process.env.KV_TEST_REDIS_URL && "KV_TEST_REDIS_URL is not set" }, async () => {
    const kit = await new TestKit(Miniflare, { kvNamespaces: ["NS"], kvPersist: process.env.KV_TEST_REDIS_URL, kvNamespaceScope: `now-${process.pid}` }).open();
    const { NS } = kit.bindings;
    await NS.put("base", "0");
    assert.equal(kit.pushNow(), false);
    await kit.frame(async () => {
      await NS.put("in-frame", "1");
      assert.equal(kit.popNow(), false); // declined: the frame is still open
      assert.equal(await NS.get("in-frame"), "1");
    });
    assert.equal(await NS.get("in-frame"), null);
    await NS.delete("base");
    await kit.close();
  });
});

describe("the Jest environment's loader: the package's code in the test's realm", () => {
  test("results and errors are the context's objects, and KV time is the context's Date", async () => {
    // As jest-environment-node builds it: the context's own built-ins, with
    // Node's globals (and its ArrayBuffer/Uint8Array) copied in.
    const nodeGlobals = ["TextEncoder", "TextDecoder", "ReadableStream", "Request", "Response", "Headers", "URL", "Blob",
      "setTimeout", "clearTimeout", "setImmediate", "queueMicrotask", "structuredClone", "process", "Buffer", "console",
      "ArrayBuffer", "Uint8Array", "AbortController", "performance"];
    const context = vm.createContext(Object.fromEntries(nodeGlobals.map((name) => [name, globalThis[name]])));
    const { Miniflare: InContext } = requireInContext(context, "index.js");
    const realm = vm.runInContext("({ Map, TypeError, Object, Array })", context);
    const mf = new InContext({ kvNamespaces: ["NS"] });
    const ns = await mf.getKVNamespace("NS");
    await ns.put("k", JSON.stringify({ a: [1] }));
    assert.ok((await ns.get(["k"])) instanceof realm.Map);
    assert.equal(Object.getPrototypeOf(await ns.get("k", "json")), realm.Object.prototype);
    assert.ok(Array.isArray((await ns.list()).keys) && (await ns.list()).keys instanceof realm.Array);
    const error = await ns.put("", "x").catch((e) => e);
    assert.ok(error instanceof realm.TypeError);
    assert.ok(!(error instanceof TypeError)); // not this realm's

    // Replace the context's Date as jest.useFakeTimers() does.
    const start = Date.UTC(2030, 0, 1);
    vm.runInContext(`globalThis.RealDate = Date; globalThis.fakeNow = ${start}; globalThis.Date = class extends RealDate { static now() { return fakeNow; } };`, context);
    await ns.put("session", "alive", { expirationTtl: 60 });
    assert.equal((await ns.list({ prefix: "session" })).keys[0].expiration, start / 1000 + 60);
    vm.runInContext(`fakeNow += 60_000`, context);
    assert.equal(await ns.get("session"), null);
    await mf.dispose();
  });
});

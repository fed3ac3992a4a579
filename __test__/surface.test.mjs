// Contract §2: only the five methods are visible, and every failure is a
// rejected promise, never a synchronous throw.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor } from "./helpers/kv.mjs";

/** Calls that must fail, each by rejecting. */
const FAILING_CALLS = {
  "get()": (ns) => ns.get(),
  "get('')": (ns) => ns.get(""),
  "get(Symbol)": (ns) => ns.get(Symbol("k")),
  "get(513 bytes)": (ns) => ns.get("x".repeat(513)),
  "get(lone surrogate)": (ns) => ns.get("\ud800"),
  "get(k, {cacheTtl: 1})": (ns) => ns.get("k", { cacheTtl: 1 }),
  "get(k, {cacheTtl: 1n})": (ns) => ns.get("k", { cacheTtl: 1n }),
  "get([])": (ns) => ns.get([]),
  "get([''])": (ns) => ns.get([""]),
  "get(['k'], 'stream')": (ns) => ns.get(["k"], "stream"),
  "getWithMetadata()": (ns) => ns.getWithMetadata(),
  "getWithMetadata('')": (ns) => ns.getWithMetadata(""),
  "getWithMetadata('.')": (ns) => ns.getWithMetadata("."),
  "getWithMetadata(513 bytes)": (ns) => ns.getWithMetadata("x".repeat(513)),
  "getWithMetadata(k, {cacheTtl: 2**31})": (ns) => ns.getWithMetadata("k", { cacheTtl: 2 ** 31 }),
  "getWithMetadata(101 keys)": (ns) => ns.getWithMetadata(Array.from({ length: 101 }, (_, i) => `${i}`)),
  "put()": (ns) => ns.put(),
  "put(k)": (ns) => ns.put("k"),
  "put('..', v)": (ns) => ns.put("..", "v"),
  "put(k, {})": (ns) => ns.put("k", {}),
  "put(k, v, 'str')": (ns) => ns.put("k", "v", "str"),
  "put(k, v, {expirationTtl: 1})": (ns) => ns.put("k", "v", { expirationTtl: 1 }),
  "put(k, v, {expiration: 1})": (ns) => ns.put("k", "v", { expiration: 1 }),
  "put(k, v, {expiration: 2**40})": (ns) => ns.put("k", "v", { expiration: 2 ** 40 }),
  "put(k, v, {metadata: 1n})": (ns) => ns.put("k", "v", { metadata: 1n }),
  "put(k, v, {metadata: 2 KiB})": (ns) => ns.put("k", "v", { metadata: "x".repeat(2048) }),
  "put(k, 25 MiB + 1)": (ns) => ns.put("k", new Uint8Array(26_214_401)),
  "put(k, locked stream)": (ns) => {
    const stream = new ReadableStream();
    stream.getReader();
    return ns.put("k", stream);
  },
  "delete()": (ns) => ns.delete(),
  "delete('')": (ns) => ns.delete(""),
  "delete(Symbol)": (ns) => ns.delete(Symbol("k")),
  "list('x')": (ns) => ns.list("x"),
  "list({limit: 1001})": (ns) => ns.list({ limit: 1001 }),
  "list({limit: 1n})": (ns) => ns.list({ limit: 1n }),
  "list({prefix: 513 bytes})": (ns) => ns.list({ prefix: "x".repeat(513) }),
};

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: surface`, () => {
    kvTest("only get, getWithMetadata, put, delete and list are visible", (ns) => {
      const proto = Object.getPrototypeOf(ns);
      const methods = Object.getOwnPropertyNames(proto).filter((name) => name !== "constructor").sort();
      assert.deepEqual(methods, ["delete", "get", "getWithMetadata", "list", "put"]);
      assert.deepEqual(Object.getOwnPropertySymbols(proto), []);
      assert.deepEqual(Object.keys(ns), []);
      assert.deepEqual(Object.getOwnPropertyNames(ns), []);
      assert.deepEqual(Object.getOwnPropertySymbols(ns), []);
      const enumerated = [];
      for (const name in ns) enumerated.push(name);
      assert.deepEqual(enumerated, []);
      for (const name of methods) assert.equal(typeof ns[name], "function");
      assert.equal(JSON.stringify(ns), "{}");
    });

    kvTest("every method returns a promise on success", async (ns) => {
      for (const call of [
        () => ns.put("k", "v"),
        () => ns.get("k"),
        () => ns.get(["k"]),
        () => ns.getWithMetadata("k"),
        () => ns.getWithMetadata(["k"]),
        () => ns.list(),
        () => ns.delete("k"),
      ]) {
        const result = call();
        assert.ok(result instanceof Promise);
        await result;
      }
    });

    kvTest("every failure is a rejected promise, never a synchronous throw", async (ns) => {
      for (const [label, call] of Object.entries(FAILING_CALLS)) {
        let result;
        assert.doesNotThrow(() => {
          result = call(ns);
        }, `${label} threw synchronously`);
        assert.ok(result instanceof Promise, `${label} returned a promise`);
        await assert.rejects(result, (e) => e instanceof Error, label);
      }
      assert.equal(await ns.get("k"), null);
    });
  });
}

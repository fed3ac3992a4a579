// Shared helpers for the contract suite: the package through its public entry,
// one fresh Miniflare per test on a given backend, and small byte utilities.
import { createRequire } from "node:module";
import { test } from "node:test";
import assert from "node:assert/strict";

const require = createRequire(import.meta.url);
export const { Miniflare, KVNamespace } = require("../../index.js");

/** Runs `fn(ns, mf, persist)` against a fresh Miniflare on `backend`, then disposes it. */
export async function withKV(backend, fn, { bindings = ["NS"] } = {}) {
  const persist = await backend.persist();
  const mf = new Miniflare({ kvNamespaces: bindings, kvPersist: persist });
  try {
    const binding = Array.isArray(bindings) ? bindings[0] : Object.keys(bindings)[0];
    const ns = await mf.getKVNamespace(binding);
    return await fn(ns, mf, persist);
  } finally {
    await mf.dispose();
  }
}

/** `kvTest(name, fn, options?)` registers a node:test test that runs `fn(ns, mf, persist, t)`
 * on a fresh namespace of `backend`. */
export function kvTestFor(backend) {
  return (name, fn, options = {}) =>
    test(name, options, (t) => withKV(backend, (ns, mf, persist) => fn(ns, mf, persist, t)));
}

/** Asserts `call()` returns a promise (no synchronous throw) that rejects as `expected`. */
export async function rejectsAsync(call, expected) {
  let promise;
  assert.doesNotThrow(() => {
    promise = call();
  }, "the call must not throw synchronously");
  assert.ok(promise instanceof Promise, "the call must return a Promise");
  await assert.rejects(promise, expected);
}

export const typeError = (message) => ({ name: "TypeError", message });
/** A plain Error (its name is exactly "Error", so a TypeError does not match). */
export const plainError = (message) => ({ name: "Error", message });

export const bytes = (...values) => new Uint8Array(values);

/** The bytes of an ArrayBuffer / view as a plain array, for deepEqual. */
export const byteArray = (buffer) =>
  Array.from(buffer instanceof ArrayBuffer ? new Uint8Array(buffer) : buffer);

export async function readStream(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(...chunk);
  return chunks;
}

/** Base64 of the UTF-8 bytes of `key`: the cursor format. */
export const cursorFor = (key) => Buffer.from(key, "utf8").toString("base64");

/** Freezes `Date.now()` (and so KV time) at `ms` for the rest of test `t`. */
export function freezeTime(t, ms = Date.now()) {
  t.mock.timers.enable({ apis: ["Date"], now: ms });
  return ms;
}

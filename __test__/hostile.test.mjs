// Hostile arguments in every position of every method: each call returns a
// promise that settles (resolves, or rejects with an engine/KV error or the
// hostile code's own exception), nothing leaks from the native layer, and the
// process keeps working.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends, clusterBackends } from "./helpers/backends.mjs";
import { kvTestFor } from "./helpers/kv.mjs";

class HostileError extends Error {}
const thrown = new HostileError("thrown by hostile code");
const thrownString = "a string thrown by hostile code";
const throwIt = () => {
  throw thrown;
};

const TRAPS = ["get", "set", "has", "ownKeys", "getOwnPropertyDescriptor", "defineProperty", "deleteProperty",
  "getPrototypeOf", "setPrototypeOf", "isExtensible", "preventExtensions", "apply", "construct"];
const throwingHandler = Object.fromEntries(TRAPS.map((trap) => [trap, throwIt]));

const OPTION_NAMES = ["type", "cacheTtl", "expiration", "expirationTtl", "metadata", "prefix", "limit", "cursor"];

function revoked(target) {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

function nestedArrays(depth) {
  let value = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

function detachedBuffer() {
  const buffer = new ArrayBuffer(8);
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

/** name → factory (fresh value per call: streams and proxies are single-use). */
const HOSTILE_VALUES = {
  "a symbol": () => Symbol("hostile"),
  "a proxy whose traps all throw": () => new Proxy({}, throwingHandler),
  "an array proxy whose traps all throw": () => new Proxy([], throwingHandler),
  "a function proxy whose traps all throw": () => new Proxy(function () {}, throwingHandler),
  "a revoked proxy": () => revoked({}),
  "a revoked array proxy": () => revoked([]),
  "a revoked function proxy": () => revoked(function () {}),
  "throwing option getters": () =>
    Object.defineProperties({}, Object.fromEntries(OPTION_NAMES.map((name) => [name, { get: throwIt, enumerable: true }]))),
  "a throwing toString": () => ({ toString: throwIt }),
  "a throwing valueOf": () => ({ valueOf: throwIt, toString: throwIt }),
  "a throwing Symbol.toPrimitive": () => ({ [Symbol.toPrimitive]: throwIt }),
  "a throwing toJSON": () => ({ toJSON: throwIt }),
  "toString throwing a string": () => ({
    toString() {
      throw thrownString;
    },
  }),
  "toPrimitive returning an object": () => ({ [Symbol.toPrimitive]: () => ({}) }),
  "an object without a prototype": () => Object.create(null),
  "a function": () => () => "fn",
  "a class": () => class Hostile {},
  "Number.MAX_VALUE": () => Number.MAX_VALUE,
  "-1e308": () => -1e308,
  "2 ** 53": () => 2 ** 53,
  "2 ** 31": () => 2 ** 31,
  "-(2 ** 31) - 1": () => -(2 ** 31) - 1,
  "Number.MIN_VALUE": () => Number.MIN_VALUE,
  NaN: () => NaN,
  Infinity: () => Infinity,
  "-Infinity": () => -Infinity,
  "-0": () => -0,
  "a BigInt": () => 1n,
  "a huge BigInt": () => 2n ** 100n,
  "a thenable": () => ({ then: (resolve) => resolve("resolved") }),
  "a thenable that throws": () => ({ then: throwIt }),
  "a throwing then getter": () => Object.defineProperty({}, "then", { get: throwIt }),
  "metadata nested 400 deep": () => nestedArrays(400),
  "arrays nested 200,000 deep": () => nestedArrays(200_000),
  "a circular object": () => {
    const o = { name: "circular" };
    o.self = o;
    return o;
  },
  "1e6 × 'x'": () => "x".repeat(1e6),
  "1e6 × 'é'": () => "é".repeat(1e6),
  "1e6 lone surrogates": () => "\ud800".repeat(1e6),
  "an empty string": () => "",
  '"."': () => ".",
  "a NUL character": () => "\u0000",
  null: () => null,
  undefined: () => undefined,
  true: () => true,
  "an empty array": () => [],
  "a sparse array": () => new Array(3),
  "an array of 100,000 strings": () => Array.from({ length: 100_000 }, (_, i) => `${i}`),
  "an array holding a throwing proxy": () => [new Proxy({}, throwingHandler)],
  "an array with a throwing index getter": () => Object.defineProperty(["a", "b"], 1, { get: throwIt }),
  "an array-like object": () => ({ length: 1e9, 0: "a" }),
  "a detached ArrayBuffer": () => detachedBuffer(),
  "a view on a detached ArrayBuffer": () => {
    const buffer = new ArrayBuffer(8);
    const view = new Uint8Array(buffer, 2, 4);
    structuredClone(buffer, { transfer: [buffer] });
    return view;
  },
  "a stream-like object whose getReader throws": () => ({ locked: false, cancel() {}, getReader: throwIt }),
  "a proxy around a ReadableStream": () =>
    new Proxy(new ReadableStream({ start: (controller) => (controller.enqueue(new Uint8Array(2)), controller.close()) }), {}),
  "a ReadableStream that errors at start": () => new ReadableStream({ start: (controller) => controller.error(thrown) }),
  "a ReadableStream yielding a hostile chunk": () =>
    new ReadableStream({
      start(controller) {
        controller.enqueue(new Proxy(new Uint8Array(2), throwingHandler));
        controller.close();
      },
    }),
  "a Blob": () => new Blob(["blob"]),
  "a SharedArrayBuffer": () => new SharedArrayBuffer(4),
  "a Uint8Array over a SharedArrayBuffer": () => new Uint8Array(new SharedArrayBuffer(4)),
  "a Date": () => new Date(NaN),
  "a RegExp": () => /hostile/g,
  "a Map": () => new Map([["type", "json"]]),
  "a WeakRef": () => new WeakRef({}),
};

/** name → call with the hostile value in one argument position. */
const POSITIONS = {
  "get(v)": (ns, v) => ns.get(v),
  "get(k, v)": (ns, v) => ns.get("k", v),
  "get(k, {type: v})": (ns, v) => ns.get("k", { type: v }),
  "get(k, {cacheTtl: v})": (ns, v) => ns.get("k", { cacheTtl: v }),
  "get([v])": (ns, v) => ns.get([v]),
  "get([k], v)": (ns, v) => ns.get(["k"], v),
  "getWithMetadata(v)": (ns, v) => ns.getWithMetadata(v),
  "getWithMetadata(k, v)": (ns, v) => ns.getWithMetadata("k", v),
  "getWithMetadata(k, {type: v})": (ns, v) => ns.getWithMetadata("k", { type: v }),
  "getWithMetadata([v], 'json')": (ns, v) => ns.getWithMetadata([v], "json"),
  "getWithMetadata([k], v)": (ns, v) => ns.getWithMetadata(["k"], v),
  "put(v, value)": (ns, v) => ns.put(v, "value"),
  "put(k, v)": (ns, v) => ns.put("k", v),
  "put(k, value, v)": (ns, v) => ns.put("k", "{}", v),
  "put(k, value, {expiration: v})": (ns, v) => ns.put("k", "{}", { expiration: v }),
  "put(k, value, {expirationTtl: v})": (ns, v) => ns.put("k", "{}", { expirationTtl: v }),
  "put(k, value, {metadata: v})": (ns, v) => ns.put("k", "{}", { metadata: v }),
  "delete(v)": (ns, v) => ns.delete(v),
  "list(v)": (ns, v) => ns.list(v),
  "list({prefix: v})": (ns, v) => ns.list({ prefix: v }),
  "list({limit: v})": (ns, v) => ns.list({ limit: v }),
  "list({cursor: v})": (ns, v) => ns.list({ cursor: v }),
};

// Product bugs found by this table and reported to the integrator: a problem
// label starting with one of these keys marks the test TODO instead of failing
// it. Remove an entry once it is fixed.
const KNOWN_BUGS = {};
const knownBug = (problem) => Object.keys(KNOWN_BUGS).find((label) => problem.startsWith(`${label}:`));

const SETTLE_GUARD_MS = 20_000;
const ALLOWED_CLASSES = [TypeError, RangeError, SyntaxError, Error];
// Texts that would mean a native-layer detail leaked instead of a KV or engine error.
const LEAK = /rust|napi|panic|unwrap|InvalidArg|GenericFailure|NumberExpected|StringExpected|ObjectExpected/i;

/** Waits for `promise`; a hang becomes a failure rather than a stuck suite. */
async function settle(promise, label) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new assert.AssertionError({ message: `${label} did not settle` })), SETTLE_GUARD_MS);
  });
  try {
    return await Promise.race([
      promise.then((value) => ({ value }), (error) => ({ error, rejected: true })),
      guard,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

for (const backend of [...backends, ...clusterBackends]) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: hostile arguments`, () => {
    for (const [position, call] of Object.entries(POSITIONS)) {
      kvTest(position, async (ns, _mf, _persist, t) => {
        const problems = [];
        for (const [name, make] of Object.entries(HOSTILE_VALUES)) {
          await ns.put("k", "{}");
          const label = `${position} with ${name}`;
          const value = make();
          let promise;
          try {
            promise = call(ns, value);
          } catch (error) {
            problems.push(`${label}: threw synchronously (${error?.message ?? String(error)})`);
            continue;
          }
          if (!(promise instanceof Promise)) {
            problems.push(`${label}: returned ${typeof promise}, not a Promise`);
            continue;
          }
          const outcome = await settle(promise, label);
          if (!outcome.rejected) continue;
          const { error } = outcome;
          if (error === thrown || error === thrownString) continue;
          if (!ALLOWED_CLASSES.some((C) => error?.constructor === C)) {
            problems.push(`${label}: rejected with ${error?.constructor?.name ?? typeof error}: ${String(error)}`);
          } else if (typeof error.message !== "string" || error.message === "" || LEAK.test(error.message)) {
            problems.push(`${label}: unclear message ${JSON.stringify(error.message)}`);
          }
        }
        const known = problems.filter(knownBug);
        if (known.length > 0 && known.length === problems.length) t.todo(known.map((p) => KNOWN_BUGS[knownBug(p)]).join("; "));
        assert.deepEqual(problems, []);
        // Still healthy: a normal round trip works.
        await ns.put("after", "fine", { metadata: { ok: true }, expirationTtl: 3600 });
        assert.deepEqual(await ns.getWithMetadata("after"), { value: "fine", metadata: { ok: true }, cacheStatus: null });
        assert.ok((await ns.list()).keys.some((k) => k.name === "after"));
      });
    }
  });
}

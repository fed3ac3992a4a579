#!/usr/bin/env node
// Hostile input through the JavaScript API: generated arguments (fast-check's
// anything(), symbols, BigInts, proxies whose traps throw, revoked proxies,
// throwing getters/toString/valueOf/toJSON, huge and ill-formed strings,
// sparse and huge arrays, typed arrays over detached buffers, hostile
// streams, hostile `this`) in every argument position of every method, mixed
// with valid arguments so that hostile values also reach the later checks.
//
// Every call must return a promise (never throw synchronously) that settles:
// it resolves, or rejects with
//   - an error of the contract's class with one of its messages,
//   - an engine error from converting the argument (allow-listed below), or
//   - exactly what the hostile code itself threw;
// never a message from the native layer (napi, Rust, a panic). The process
// must survive: no crash, no unhandled rejection, no uncaught exception.
//
//   node scripts/hostile.mjs [--calls N] [--seed S] [--backends memory,directory,sled,redis]
// Redis is used when KV_TEST_REDIS_URL is set (scripts/reliability.mjs starts one).
// Prints one summary line starting with "HOSTILE:"; exits 1 on any problem.
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import fc from "fast-check";

const require = createRequire(import.meta.url);
const { Miniflare } = require("../index.js");

const { values: cli } = parseArgs({
  options: {
    calls: { type: "string", default: "100000" },
    seed: { type: "string" },
    backends: { type: "string" },
    concurrency: { type: "string", default: "32" },
  },
});
const CALLS = Number(cli.calls);
const SEED = cli.seed === undefined ? Date.now() % 2 ** 31 : Number(cli.seed);
const CONCURRENCY = Number(cli.concurrency);
const SETTLE_GUARD_MS = 30_000;

// ---------------------------------------------------------------------------
// Hostile values
// ---------------------------------------------------------------------------

/** What hostile code throws; a rejection with exactly this is the user's own error passing through. */
class HostileError extends Error {}
const THROWN = new HostileError("thrown by hostile code");
const THROWN_PRIMITIVES = ["a string thrown by hostile code", 42, null, undefined];
const throwIt = () => {
  throw THROWN;
};
const isHostileThrow = (error) => error === THROWN || THROWN_PRIMITIVES.includes(error);

const TRAPS = ["get", "set", "has", "ownKeys", "getOwnPropertyDescriptor", "defineProperty", "deleteProperty",
  "getPrototypeOf", "setPrototypeOf", "isExtensible", "preventExtensions", "apply", "construct"];
const throwingHandler = Object.fromEntries(TRAPS.map((trap) => [trap, throwIt]));
const OPTION_NAMES = ["type", "cacheTtl", "expiration", "expirationTtl", "metadata", "prefix", "limit", "cursor"];

function revoked(target) {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
}

function detach(buffer) {
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

function nested(depth) {
  let value = [];
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

const streamOf = (chunks, { errorAt = -1, error = THROWN } = {}) => {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i === errorAt) return controller.error(error);
      if (i >= chunks.length) return controller.close();
      controller.enqueue(chunks[i++]);
    },
  });
};

/** Hand-made hostile values, fresh per call (proxies, streams and buffers are single-use). */
const FACTORIES = {
  throwingProxy: () => new Proxy({}, throwingHandler),
  throwingArrayProxy: () => new Proxy([], throwingHandler),
  throwingFunctionProxy: () => new Proxy(function () {}, throwingHandler),
  revokedProxy: () => revoked({}),
  revokedArrayProxy: () => revoked([]),
  transparentProxy: () => new Proxy({ toString: () => "via-proxy" }, {}),
  throwingGetters: () =>
    Object.defineProperties({}, Object.fromEntries(OPTION_NAMES.map((name) => [name, { get: throwIt, enumerable: true }]))),
  throwingToString: () => ({ toString: throwIt }),
  throwingValueOf: () => ({ valueOf: throwIt, toString: throwIt }),
  throwingToPrimitive: () => ({ [Symbol.toPrimitive]: throwIt }),
  throwingToJSON: () => ({ toJSON: throwIt }),
  stringThrower: () => ({
    toString() {
      throw THROWN_PRIMITIVES[0];
    },
  }),
  undefinedThrower: () => ({
    [Symbol.toPrimitive]() {
      throw undefined;
    },
  }),
  toPrimitiveObject: () => ({ [Symbol.toPrimitive]: () => ({}) }),
  toJSONUndefined: () => ({ toJSON: () => undefined }),
  toJSONHuge: () => ({ toJSON: () => "m".repeat(2000) }),
  nullPrototype: () => Object.create(null),
  circular: () => {
    const o = { name: "circular" };
    o.self = o;
    return o;
  },
  deepArrays: () => nested(10_000),
  loneSurrogates: () => "\ud800a\udfff",
  hugeArray: () => Array.from({ length: 5000 }, (_, i) => `k${i}`),
  arrayWithThrowingIndex: () => Object.defineProperty(["a", "b"], 1, { get: throwIt }),
  arrayWithThrowingLength: () => new Proxy(["a"], { get: (t, p) => (p === "length" ? throwIt() : t[p]) }),
  arrayLike: () => ({ length: 2 ** 32 - 1, 0: "a" }),
  sparseHuge: () => {
    const a = [];
    a[99] = "k";
    return a;
  },
  detachedBuffer: () => detach(new ArrayBuffer(8)),
  viewOnDetached: () => {
    const buffer = new ArrayBuffer(8);
    const view = new Uint8Array(buffer, 2, 4);
    detach(buffer);
    return view;
  },
  dataViewOnDetached: () => {
    const buffer = new ArrayBuffer(8);
    const view = new DataView(buffer, 1, 3);
    detach(buffer);
    return view;
  },
  resizableBuffer: () => new ArrayBuffer(8, { maxByteLength: 16 }),
  sharedBuffer: () => new SharedArrayBuffer(4),
  viewOnShared: () => new Int32Array(new SharedArrayBuffer(8)),
  lockedStream: () => {
    const stream = streamOf([new Uint8Array(1)]);
    stream.getReader();
    return stream;
  },
  erroringStream: () => streamOf([new Uint8Array(3)], { errorAt: 1 }),
  erroringStreamWithString: () => streamOf([], { errorAt: 0, error: THROWN_PRIMITIVES[0] }),
  streamOfStrings: () => streamOf(["not bytes"]),
  streamOfProxies: () => streamOf([new Proxy(new Uint8Array(2), throwingHandler)]),
  streamOfDetachedViews: () => streamOf([FACTORIES.viewOnDetached()]),
  streamWithThrowingPull: () => new ReadableStream({ pull: throwIt }),
  fakeStream: () => ({ locked: false, cancel() {}, getReader: throwIt }),
  fakeStreamReader: () => ({ locked: false, cancel() {}, getReader: () => ({ read: throwIt, releaseLock() {}, cancel() {} }) }),
  proxiedStream: () => new Proxy(streamOf([new Uint8Array(2)]), {}),
  thenable: () => ({ then: (resolve) => resolve("resolved") }),
  throwingThen: () => Object.defineProperty({}, "then", { get: throwIt }),
  blob: () => new Blob(["blob"]),
  weakRef: () => new WeakRef({}),
  func: () => () => "fn",
  klass: () => class Hostile {},
  symbolKeyed: () => ({ [Symbol("s")]: 1, type: Symbol("t") }),
};

/**
 * fast-check inspects the values it generates (and would trip over a proxy
 * whose traps throw), so generated calls hold placeholders; `realize` swaps
 * in the real hostile value just before the call.
 */
class Make {
  constructor(name, factories) {
    this.name = name;
    this.factories = factories;
  }
  [fc.toStringMethod]() {
    return `<${this.name}>`;
  }
}

function realize(value, depth = 0) {
  if (value instanceof Make) return value.factories[value.name]();
  if (depth > 3 || value === null || typeof value !== "object") return value;
  const proto = Object.getPrototypeOf(value);
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  for (const key of Object.keys(value)) value[key] = realize(value[key], depth + 1);
  return value;
}

const factoryValue = fc.constantFrom(...Object.keys(FACTORIES)).map((name) => new Make(name, FACTORIES));

/** Large values: rare, or a million calls would mostly be spent copying memory. */
const HUGE = {
  hugeString: () => "x".repeat(1 << 20),
  hugeMultibyte: () => "é".repeat(300_000),
};
/** Only ever a put value: as a key it would become a 50 MB string first. */
const overLimitValue = fc.constant(new Make("overLimitValue", { overLimitValue: () => new Uint8Array(25 * 1024 * 1024 + 1) }));
const hugeValue = fc.constantFrom(...Object.keys(HUGE)).map((name) => new Make(name, HUGE));

const anything = fc.anything({
  maxDepth: 2,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withObjectString: true,
  withSparseArray: true,
  withTypedArray: true,
  withUnicodeString: true,
});

const numberEdge = fc.oneof(
  fc.double(),
  fc.integer(),
  fc.constantFrom(2 ** 31, -(2 ** 31) - 1, 2 ** 31 - 1, -(2 ** 31), 2 ** 53, -0, NaN, Infinity, -Infinity, 59, 60, 29, 30, 1000, 1001),
);
const keyEdge = fc.constantFrom("", ".", "..", "\ud800", "x".repeat(512), "x".repeat(513), "é".repeat(257), "\u0000", "../..");

export const hostile = fc.oneof(
  { arbitrary: anything, weight: 60 },
  { arbitrary: factoryValue, weight: 60 },
  { arbitrary: fc.string({ unit: "binary", maxLength: 40 }), weight: 20 },
  { arbitrary: keyEdge, weight: 10 },
  { arbitrary: numberEdge, weight: 20 },
  { arbitrary: fc.bigInt(), weight: 10 },
  { arbitrary: fc.string().map((s) => Symbol(s)), weight: 10 },
  { arbitrary: fc.constantFrom(undefined, null, true, false), weight: 10 },
  { arbitrary: hugeValue, weight: 1 },
);

// Valid arguments, so a hostile value in one position meets valid ones elsewhere.
const validKey = fc.oneof(fc.constantFrom("k", "a/b", "é", "😀", "k2"), fc.string({ minLength: 1, maxLength: 8 }));
const validValue = fc.oneof(fc.string({ maxLength: 20 }), fc.uint8Array({ maxLength: 20 }));
const validType = fc.constantFrom("text", "json", "arrayBuffer", "stream");

const maybe = (valid, bad = hostile) => fc.oneof({ arbitrary: valid, weight: 1 }, { arbitrary: bad, weight: 1 });
const optionsObject = (names) =>
  fc.oneof(
    fc.record(Object.fromEntries(names.map((name) => [name, hostile])), { requiredKeys: [] }),
    fc.record(Object.fromEntries(names.map((name) => [name, hostile])), { requiredKeys: [], noNullPrototype: false }),
    factoryValue,
  );
const keyArray = fc.oneof(
  fc.array(maybe(validKey), { maxLength: 8 }),
  fc.sparseArray(maybe(validKey), { maxLength: 110 }),
  fc.array(validKey, { minLength: 99, maxLength: 102 }),
);
const keyArg = fc.oneof({ arbitrary: maybe(validKey), weight: 3 }, { arbitrary: keyArray, weight: 1 });

const CALL_SHAPES = {
  get: fc.tuple(keyArg, maybe(validType, fc.oneof(hostile, optionsObject(["type", "cacheTtl"])))),
  getWithMetadata: fc.tuple(keyArg, maybe(validType, fc.oneof(hostile, optionsObject(["type", "cacheTtl"])))),
  put: fc.tuple(
    maybe(validKey),
    fc.oneof({ arbitrary: maybe(validValue), weight: 500 }, { arbitrary: overLimitValue, weight: 1 }),
    maybe(fc.constant(undefined), optionsObject(["expiration", "expirationTtl", "metadata"])),
  ),
  delete: fc.tuple(maybe(validKey)),
  list: fc.tuple(maybe(fc.constant(undefined), optionsObject(["prefix", "limit", "cursor"]))),
};
const METHODS = Object.keys(CALL_SHAPES);

/** One call: a method, its arguments (sometimes too few or too many), and rarely a hostile `this`. */
export const call = fc
  .constantFrom(...METHODS)
  .chain((method) =>
    fc.record({
      method: fc.constant(method),
      args: CALL_SHAPES[method],
      arity: fc.oneof({ arbitrary: fc.constant(-1), weight: 8 }, { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 1 }),
      extra: fc.oneof({ arbitrary: fc.constant([]), weight: 9 }, { arbitrary: fc.array(hostile, { maxLength: 2 }), weight: 1 }),
      thisArg: fc.oneof({ arbitrary: fc.constant(null), weight: 40 }, { arbitrary: hostile, weight: 1 }),
    }),
  );

// ---------------------------------------------------------------------------
// What a rejection may be
// ---------------------------------------------------------------------------

const OP = "(GET|GET_BULK|PUT|DELETE)";
/** The contract's messages (kv-contract.md §2 and its error catalogue), with their class. */
const CONTRACT = [
  ["TypeError", /^Key name cannot be empty\.$/],
  ["TypeError", /^"\.\.?" is not allowed as a key name\.$/],
  ["Error", new RegExp(`^KV ${OP} failed: 414 UTF-8 encoded length of \\d+ exceeds key length limit of 512\\.$`)],
  ["Error", new RegExp(`^KV ${OP} failed: 400 Could not URL-decode key name$`)],
  ["Error", /^KV GET_BULK failed: 400 Key names must not be empty$/],
  ["Error", /^KV GET_BULK failed: 400 Illegal key name "\.\.?"\. Please use a different name\.$/],
  ["Error", /^KV GET_BULK failed: 400 You must request a minimum of 1 key$/],
  ["Error", /^KV GET_BULK failed: 400 You can request a maximum of 100 keys$/],
  ["Error", /^KV GET_BULK failed: 400 "[^]*" is not a valid type\. Use "json" or "text"$/],
  ["Error", /^KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value$/],
  ["Error", /^KV GET_BULK failed: 413 Total size of request exceeds the limit of 25MB$/],
  ["Error", /^KV (GET|GET_BULK) failed: 400 Invalid cache_ttl of -?\d+\. Cache TTL must be at least 30\.$/],
  ["Error", /^KV PUT failed: 413 Value length of \d+ exceeds limit of 26214400\.$/],
  ["Error", /^KV PUT failed: 413 Metadata length of \d+ exceeds limit of 1024\.$/],
  ["Error", /^KV PUT failed: 500 Internal Server Error$/],
  ["Error", /^KV PUT failed: 400 Invalid expiration_ttl of -?\d+\. (Please specify integer greater than 0|Expiration TTL must be at least 60)\.$/],
  ["Error", /^KV PUT failed: 400 Invalid expiration of -?\d+\. (Please specify integer greater than the current number of seconds since the UNIX epoch|Expiration times must be at least 60 seconds in the future)\.$/],
  ["Error", /^KV GET failed: 400 Invalid key_count_limit of \d+\. Please specify an integer less than 1000\.$/],
  ["TypeError", /^Value out of range\. Must be between -2147483648 and 2147483647 \(inclusive\)\.$/],
  ["TypeError", /^Failed to execute '(get|getWithMetadata|put|delete|list)' on 'KvNamespace': parameter \d is not of type '(string or Array|Array or string|string|string or JsObject|PutOptions|ListOptions)'\.$/],
  ["TypeError", /^KV put\(\) accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values\.$/],
  ["TypeError", /^Unknown response type\. Possible types are "text", "arrayBuffer", "json", and "stream"\.$/],
  ["TypeError", /^The ReadableStream has been locked to a reader\.$/],
  ["TypeError", /^Draining read encountered a value that cannot be converted to bytes$/],
];
/** V8's own errors from converting hostile arguments (ToString, ToNumber, JSON, proxies, buffers, private fields). */
const ENGINE = [
  ["TypeError", /^Cannot convert a (Symbol|BigInt) value to a (string|number)$/],
  ["TypeError", /^Cannot convert object to primitive value$/],
  ["TypeError", /^Do not know how to serialize a BigInt$/],
  ["TypeError", /^Converting circular structure to JSON/],
  ["TypeError", /^Cannot perform '[^']+' on a proxy that has been revoked$/],
  ["TypeError", /^Cannot (perform [^ ]+|read private member #\w+ from an object whose class did not declare it)/],
  // A hostile `this` (the methods called detached or on another object).
  ["TypeError", /^Receiver must be an instance of class KVNamespace$/],
  ["TypeError", /^Cannot read properties of (undefined|null) \(reading '(#native|KVNamespace)'\)$/],
  ["TypeError", /^(Function|Symbol|Date|BigInt|Number|String|Boolean)\.prototype\.\w+ requires that 'this' be a/],
  ["TypeError", /^Object\.prototype\.toString called on null or undefined$/],
  ["TypeError", /detached/i],
  ["TypeError", /^Invalid state: ReadableStream is locked$/],
  ["RangeError", /^Maximum call stack size exceeded$/],
  ["RangeError", /^Invalid (string|array|typed array) length/],
  ["SyntaxError", /JSON|Unexpected/],
];
// A message that would mean a native-layer detail leaked through.
const LEAK = /rust|napi|panic|unwrap|InvalidArg|GenericFailure|NumberExpected|StringExpected|ObjectExpected|Failed to convert/i;

function classify(error) {
  if (isHostileThrow(error)) return "hostile";
  const name = error?.constructor?.name;
  const message = typeof error?.message === "string" ? error.message : null;
  if (message === null || ![TypeError, RangeError, SyntaxError, Error].includes(error.constructor)) return null;
  if (LEAK.test(message)) return null;
  if (CONTRACT.some(([cls, re]) => cls === name && re.test(message))) return "contract";
  if (ENGINE.some(([cls, re]) => cls === name && re.test(message))) return "engine";
  return null;
}

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

function settle(promise) {
  let timer;
  const guard = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ hung: true }), SETTLE_GUARD_MS);
  });
  return Promise.race([promise.then((value) => ({ value }), (error) => ({ error })), guard]).finally(() => clearTimeout(timer));
}

function describeCall(c) {
  const show = (v) => {
    try {
      return fc.stringify(v).slice(0, 200);
    } catch {
      return "<unprintable>";
    }
  };
  return `${c.method}(${c.args.map(show).join(", ")})${c.thisArg !== null ? ` with this=${show(c.thisArg)}` : ""}`;
}

async function main() {
  const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-hostile-"));
  const available = {
    memory: () => false,
    directory: () => path.join(scratch, "dir"),
    sled: () => `sled:${path.join(scratch, "sled")}`,
    ...(process.env.KV_TEST_REDIS_URL && { redis: () => process.env.KV_TEST_REDIS_URL }),
    // scripts/redis-cluster.mjs; scripts/reliability.mjs and scripts/test.mjs start one.
    ...(process.env.KV_TEST_REDIS_CLUSTER_URL && { "redis-cluster": () => process.env.KV_TEST_REDIS_CLUSTER_URL }),
  };
  const names = cli.backends ? cli.backends.split(",") : Object.keys(available);
  const targets = [];
  for (const name of names) {
    if (!available[name]) throw new Error(`backend ${name} is not available (redis needs KV_TEST_REDIS_URL)`);
    const kvPersist = available[name]();
    const mf = new Miniflare({ kvNamespaces: { NS: "hostile-0" }, kvPersist });
    targets.push({ name, mf, kvPersist, ns: await mf.getKVNamespace("NS"), calls: 0 });
  }
  /** A fresh namespace now and then, so that what hostile puts stored does not make every list slow. */
  let rotations = 0;
  const rotate = async () => {
    rotations += 1;
    for (const target of targets) {
      await target.mf.setOptions({ kvNamespaces: { NS: `hostile-${rotations}` }, kvPersist: target.kvPersist });
      target.ns = await target.mf.getKVNamespace("NS");
    }
  };

  const process_ = { uncaught: [], unhandled: [] };
  process.on("uncaughtException", (e) => {
    console.error("uncaught exception:", e);
    process_.uncaught.push(String(e?.stack ?? e));
  });
  process.on("unhandledRejection", (e) => {
    console.error("unhandled rejection:", e);
    process_.unhandled.push(String(e?.stack ?? e));
  });

  const tally = { resolved: 0, contract: 0, engine: 0, hostile: 0, syncThrows: 0, notPromise: 0, hung: 0, bad: 0 };
  const perMethod = Object.fromEntries(METHODS.map((m) => [m, 0]));
  const problems = [];
  const note = (what, c) => {
    if (problems.length < 30) problems.push(`${what}: ${describeCall(c)}`);
  };
  const started = Date.now();
  let done = 0;
  let batchSeed = SEED;
  while (done < CALLS) {
    const batch = fc.sample(call, { numRuns: Math.min(CONCURRENCY, CALLS - done), seed: batchSeed++ });
    const pending = batch.map(async (c, i) => {
      const target = targets[(done + i) % targets.length];
      target.calls += 1;
      perMethod[c.method] += 1;
      const args = realize(c.arity >= 0 ? c.args.slice(0, c.arity) : [...c.args, ...c.extra]);
      const thisArg = c.thisArg === null ? target.ns : realize([c.thisArg])[0];
      let promise;
      try {
        promise = target.ns[c.method].apply(thisArg, args);
      } catch (error) {
        tally.syncThrows += 1;
        return note(`threw synchronously (${error?.message ?? String(error)})`, c);
      }
      if (!(promise instanceof Promise)) {
        tally.notPromise += 1;
        return note(`returned ${typeof promise}`, c);
      }
      const outcome = await settle(promise);
      if (outcome.hung) {
        tally.hung += 1;
        return note(`did not settle within ${SETTLE_GUARD_MS} ms`, c);
      }
      if (!("error" in outcome)) return void (tally.resolved += 1);
      const kind = classify(outcome.error);
      if (kind === null) {
        tally.bad += 1;
        return note(`rejected with ${outcome.error?.constructor?.name}: ${String(outcome.error?.message ?? outcome.error).slice(0, 300)}`, c);
      }
      tally[kind] += 1;
    });
    await Promise.all(pending);
    done += batch.length;
    if (done % 10_000 < CONCURRENCY) await rotate();
    if (done % 100_000 < CONCURRENCY && done >= 100_000) {
      console.error(`# ${done} calls, ${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }

  // Every namespace still answers correctly.
  for (const { name, ns } of targets) {
    await ns.put("after-hostile", "fine", { metadata: { ok: true } });
    const read = await ns.getWithMetadata("after-hostile");
    if (read.value !== "fine" || read.metadata?.ok !== true) problems.push(`${name}: a normal round trip failed afterwards`);
  }
  for (const { mf } of targets) await mf.dispose();
  rmSync(scratch, { recursive: true, force: true });
  await new Promise((resolve) => setTimeout(resolve, 50)); // let late unhandled rejections surface
  for (const e of process_.uncaught) problems.push(`uncaught exception: ${e}`);
  for (const e of process_.unhandled) problems.push(`unhandled rejection: ${e}`);

  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const failures = tally.syncThrows + tally.notPromise + tally.hung + tally.bad + process_.uncaught.length + process_.unhandled.length;
  console.log(
    `HOSTILE: ${done} calls (${targets.map((t) => `${t.name} ${t.calls}`).join(", ")}; ` +
      `${METHODS.map((m) => `${m} ${perMethod[m]}`).join(", ")}) in ${seconds} s, seed ${SEED}: ` +
      `${tally.resolved} resolved, ${tally.contract} rejected with a contract error, ${tally.engine} with an engine error, ` +
      `${tally.hostile} with the hostile code's own exception; ${failures} problems`,
  );
  if (problems.length > 0) {
    console.error(problems.join("\n"));
    process.exitCode = 1;
  }
}

try {
  await main();
} catch (error) {
  console.error("HOSTILE: the run itself failed:", error);
  process.exit(1);
}

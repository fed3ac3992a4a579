// A reference model of a KV namespace as the contract describes it, the
// fast-check arbitraries for operations on it, and a runner that applies an
// operation to both a real KVNamespace and the model and compares.
//
// Operations are plain data (printable when fast-check reports a failure);
// `realize*` turns them into the JavaScript arguments a user would pass —
// numbers and objects as keys, typed arrays, DataView windows and streams as
// values, numeric strings and fractions as options — so the JS coercions are
// exercised too. The model works on the converted forms only.
import assert from "node:assert/strict";
import fc from "fast-check";

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

const utf8 = new TextEncoder();
// KV text reads keep a leading BOM and replace bad bytes with U+FFFD.
const utf8Text = new TextDecoder("utf-8", { ignoreBOM: true });
export const byUtf8 = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));
const utf8Length = (s) => Buffer.byteLength(s);

const RANGE_ERROR = "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).";
const UNKNOWN_TYPE = 'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".';

/** A KV error the model predicts. */
class Expected {
  constructor(name, message) {
    this.name = name;
    this.message = message;
  }
}
const typeError = (message) => new Expected("TypeError", message);
const plainError = (message) => new Expected("Error", message);

function keyRule(op, key) {
  if (key === "") return typeError("Key name cannot be empty.");
  if (key === "." || key === "..") return typeError(`"${key}" is not allowed as a key name.`);
  const length = utf8Length(key);
  if (length > 512) return plainError(`KV ${op} failed: 414 UTF-8 encoded length of ${length} exceeds key length limit of 512.`);
  return null;
}

function bulkKeyRule(key) {
  if (key === "") return plainError("KV GET_BULK failed: 400 Key names must not be empty");
  if (key === "." || key === "..") return plainError(`KV GET_BULK failed: 400 Illegal key name "${key}". Please use a different name.`);
  const length = utf8Length(key);
  if (length > 512) return plainError(`KV GET_BULK failed: 414 UTF-8 encoded length of ${length} exceeds key length limit of 512.`);
  return null;
}

const notWellFormed = (op) => plainError(`KV ${op} failed: 400 Could not URL-decode key name`);

/** WebIDL long, as the contract states it; returns a number or an Expected. */
function int32(n) {
  if (!Number.isFinite(n)) return 0;
  const t = Math.trunc(n);
  if (t < -2147483648 || t > 2147483647) return typeError(RANGE_ERROR);
  return t === 0 ? 0 : t;
}

function parseJson(text) {
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    return { error };
  }
}

export class KvModel {
  /** name → { bytes: Uint8Array, expiration: number | null, metadataJson: string | null } */
  entries = new Map();

  live(name, now) {
    const entry = this.entries.get(name);
    if (entry === undefined) return null;
    if (entry.expiration !== null && entry.expiration <= Math.floor(now / 1000)) return null;
    return entry;
  }

  /** `options`: { expiration, expirationTtl } already as numbers (or undefined), `metadata` a JS value. */
  put(key, bytes, options, now) {
    let expiration = options.expiration === undefined ? undefined : int32(options.expiration);
    if (expiration instanceof Expected) return expiration;
    let ttl = options.expirationTtl === undefined ? undefined : int32(options.expirationTtl);
    if (ttl instanceof Expected) return ttl;
    const { metadata } = options;
    let metadataJson = null;
    let unserialisable = false;
    if (metadata !== undefined && metadata !== null) {
      metadataJson = JSON.stringify(metadata);
      if (metadataJson === undefined) {
        unserialisable = true;
        metadataJson = null;
      }
      // "null" (NaN, Infinity) is stored and listed as metadata: null.
    }
    // Key rules (the 414 counting a lone surrogate as 3 bytes), then the 400.
    const rule = keyRule("PUT", key);
    if (rule) return rule;
    if (!key.isWellFormed()) return notWellFormed("PUT");
    const nowSeconds = Math.floor(now / 1000);
    let at = null;
    if (ttl !== undefined) {
      if (ttl <= 0) return plainError(`KV PUT failed: 400 Invalid expiration_ttl of ${ttl}. Please specify integer greater than 0.`);
      if (ttl < 60) return plainError(`KV PUT failed: 400 Invalid expiration_ttl of ${ttl}. Expiration TTL must be at least 60.`);
      at = nowSeconds + ttl;
    } else if (expiration !== undefined) {
      if (expiration <= nowSeconds) {
        return plainError(`KV PUT failed: 400 Invalid expiration of ${expiration}. Please specify integer greater than the current number of seconds since the UNIX epoch.`);
      }
      if (expiration < nowSeconds + 60) {
        return plainError(`KV PUT failed: 400 Invalid expiration of ${expiration}. Expiration times must be at least 60 seconds in the future.`);
      }
      at = expiration;
    }
    if (unserialisable) return plainError("KV PUT failed: 500 Internal Server Error");
    if (metadataJson !== null && utf8Length(metadataJson) > 1024) {
      return plainError(`KV PUT failed: 413 Metadata length of ${utf8Length(metadataJson)} exceeds limit of 1024.`);
    }
    this.entries.set(key, { bytes: Uint8Array.from(bytes), expiration: at, metadataJson });
    return undefined;
  }

  delete(key) {
    const rule = keyRule("DELETE", key);
    if (rule) return rule;
    if (!key.isWellFormed()) return notWellFormed("DELETE");
    this.entries.delete(key);
    return undefined;
  }

  /** The checks shared by get and getWithMetadata; null when none fails. */
  #readError(key, cacheTtl) {
    const ttl = cacheTtl === undefined ? undefined : int32(cacheTtl);
    if (ttl instanceof Expected) return ttl;
    const rule = keyRule("GET", key);
    if (rule) return rule;
    if (!key.isWellFormed()) return notWellFormed("GET");
    if (ttl !== undefined && ttl < 30) return plainError(`KV GET failed: 400 Invalid cache_ttl of ${ttl}. Cache TTL must be at least 30.`);
    return null;
  }

  /** Resolves like `get(key, type)`: a value, `null`, or an Expected / SyntaxError-marker. */
  get(key, type, cacheTtl, now) {
    const error = this.#readError(key, cacheTtl);
    if (error) return error;
    const entry = this.live(key, now);
    if (entry === null) return null;
    return readAs(entry.bytes, type);
  }

  getWithMetadata(key, type, cacheTtl, now) {
    const error = this.#readError(key, cacheTtl);
    if (error) return error;
    const entry = this.live(key, now);
    if (entry === null) return { value: null, metadata: null, cacheStatus: null };
    const value = readAs(entry.bytes, type);
    if (value instanceof Expected || value instanceof JsonFailure) return value;
    return { value, metadata: entry.metadataJson === null ? null : JSON.parse(entry.metadataJson), cacheStatus: null };
  }

  /** `get(keys, type)` / `getWithMetadata(keys, type)`. */
  bulk(keys, type, withMetadata, cacheTtl, now) {
    const ttl = cacheTtl === undefined ? undefined : int32(cacheTtl);
    if (ttl instanceof Expected) return ttl;
    for (const key of keys) if (!key.isWellFormed()) return notWellFormed("GET_BULK");
    if (type !== "text" && type !== "json") return plainError(`KV GET_BULK failed: 400 "${type}" is not a valid type. Use "json" or "text"`);
    if (keys.length === 0) return plainError("KV GET_BULK failed: 400 You must request a minimum of 1 key");
    if (keys.length > 100) return plainError("KV GET_BULK failed: 400 You can request a maximum of 100 keys");
    for (const key of keys) {
      const rule = bulkKeyRule(key);
      if (rule) return rule;
    }
    if (ttl !== undefined && ttl < 30) return plainError(`KV GET_BULK failed: 400 Invalid cache_ttl of ${ttl}. Cache TTL must be at least 30.`);
    const entries = keys.map((key) => this.live(key, now));
    if (type === "json" && entries.some((e) => e !== null && parseJson(utf8Text.decode(e.bytes)).error)) {
      return plainError("KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value");
    }
    const map = new Map();
    keys.forEach((key, i) => {
      const entry = entries[i];
      if (entry === null) return map.set(key, null);
      const text = utf8Text.decode(entry.bytes);
      // Bulk text drops a leading BOM (single reads keep it).
      const value = type === "json" ? JSON.parse(text) : text.replace(/^\ufeff/, "");
      const metadata = entry.metadataJson === null ? null : JSON.parse(entry.metadataJson);
      map.set(key, withMetadata ? { value, metadata } : value);
    });
    return map;
  }

  /** `list(options)` where options hold converted values: prefix string | undefined, limit number | undefined, cursor string | undefined. */
  list({ prefix, limit, cursor }, now) {
    let count = limit === undefined ? undefined : int32(limit);
    if (count instanceof Expected) return count;
    // The limit before the prefix's length; a prefix that is not well-formed
    // UTF-16 matches nothing.
    if (count > 1000) return plainError(`KV GET failed: 400 Invalid key_count_limit of ${count}. Please specify an integer less than 1000.`);
    prefix ??= "";
    if (utf8Length(prefix) > 512) {
      return plainError(`KV GET failed: 414 UTF-8 encoded length of ${utf8Length(prefix)} exceeds key length limit of 512.`);
    }
    if (!prefix.isWellFormed()) return { keys: [], list_complete: true, cacheStatus: null };
    if (count === undefined || count <= 0) count = 1000;
    const after = cursor === undefined ? "" : Buffer.from(cursor, "base64").toString("utf8");
    const names = [...this.entries.keys()]
      .filter((name) => name.startsWith(prefix) && (after === "" || byUtf8(name, after) > 0) && this.live(name, now))
      .sort(byUtf8);
    const page = names.slice(0, count).map((name) => {
      const { expiration, metadataJson } = this.entries.get(name);
      const key = { name };
      if (expiration !== null) key.expiration = expiration;
      if (metadataJson !== null) key.metadata = JSON.parse(metadataJson);
      return key;
    });
    const result = { keys: page, list_complete: names.length <= count };
    if (!result.list_complete) result.cursor = Buffer.from(page.at(-1).name, "utf8").toString("base64");
    result.cacheStatus = null;
    return result;
  }
}

/** A json read whose text is not JSON: the read rejects with a SyntaxError. */
class JsonFailure {}

function readAs(bytes, type) {
  switch (type) {
    case undefined:
    case "text":
      return utf8Text.decode(bytes);
    case "json": {
      const parsed = parseJson(utf8Text.decode(bytes));
      return parsed.error ? new JsonFailure() : parsed.value;
    }
    case "arrayBuffer":
      return { arrayBuffer: Array.from(bytes) };
    case "stream":
      return { stream: Array.from(bytes) };
    default:
      return typeError(UNKNOWN_TYPE);
  }
}

// ---------------------------------------------------------------------------
// Arbitraries (plain data)
// ---------------------------------------------------------------------------

const KEY_ALPHABET = ["a", "b", "/", "é", "\uffff", "😀", "\u0000", " ", ".", ":", "%", "*"];

/** A key name: short strings over a small alphabet (collisions, shared
 * prefixes, UTF-8 order edges), rarely an invalid or edge-length one. */
export const keyName = fc.oneof(
  { arbitrary: fc.array(fc.constantFrom(...KEY_ALPHABET), { minLength: 1, maxLength: 3 }).map((p) => p.join("")), weight: 30 },
  { arbitrary: fc.constantFrom("x.meta.json", "CON", "...", "k".repeat(512), "é".repeat(256)), weight: 2 },
  { arbitrary: fc.constantFrom("", ".", "..", "k".repeat(513), "a\ud800", "\udc00", "k".repeat(510) + "\ud800"), weight: 1 },
);

/** How a key is passed: as itself, as a number, as an object with toString, as a String object. */
export const keySpec = fc.oneof(
  { arbitrary: keyName.map((name) => ({ as: "string", name })), weight: 8 },
  { arbitrary: fc.oneof(fc.integer({ min: -3, max: 30 }), fc.constantFrom(1.5, -0, 1e21)).map((n) => ({ as: "number", n, name: String(n) })), weight: 1 },
  { arbitrary: keyName.map((name) => ({ as: "toString", name })), weight: 1 },
  { arbitrary: keyName.map((name) => ({ as: "String", name })), weight: 1 },
);

const byteArray = fc.oneof(
  { arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 8 }), weight: 6 },
  { arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 3000 }), weight: 1 },
  // Valid JSON texts, so json reads and bulk json reads succeed sometimes.
  { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => Array.from(utf8.encode(JSON.stringify(v)))), weight: 3 },
  // A leading BOM: text reads keep it.
  { arbitrary: fc.constant([0xef, 0xbb, 0xbf, 0x31]), weight: 1 },
);

export const valueSpec = fc.oneof(
  { arbitrary: fc.string({ unit: "binary", maxLength: 12 }).map((text) => ({ kind: "string", text })), weight: 4 },
  { arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => ({ kind: "string", text: JSON.stringify(v) })), weight: 2 },
  {
    arbitrary: fc.record({
      bytes: byteArray,
      view: fc.constantFrom("Uint8Array", "ArrayBuffer", "DataView", "Buffer", "Uint16Array"),
      pad: fc.integer({ min: 0, max: 3 }),
    }).map((v) => ({ kind: "bytes", ...v })),
    weight: 4,
  },
  { arbitrary: fc.oneof(fc.integer(), fc.double({ noNaN: false })).map((n) => ({ kind: "number", n })), weight: 1 },
  { arbitrary: fc.constantFrom(null, true, false).map((v) => ({ kind: "primitive", v })), weight: 1 },
  { arbitrary: fc.array(byteArray, { maxLength: 3 }).map((chunks) => ({ kind: "stream", chunks })), weight: 1 },
);

/** A number as passed in options: itself, a numeric string, or with a fraction to truncate. */
const numberForm = (n) =>
  fc.constantFrom("number", "string", "fraction").map((form) => ({ form, n }));

const ttlSpec = fc
  .oneof(fc.constantFrom(0, 59, 60, 61, -1, 2 ** 31), fc.integer({ min: -5, max: 400 }), fc.integer({ min: 60, max: 100_000 }))
  .chain(numberForm);
/** Expiration as seconds relative to now; made absolute when the call is made. */
const expirationOffsetSpec = fc
  .oneof(fc.constantFrom(0, 59, 60, 61), fc.integer({ min: -100, max: 400 }))
  .chain(numberForm);

const metadataValue = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 2 }), weight: 6 },
  { arbitrary: fc.constantFrom(0, false, "", null, NaN, Infinity), weight: 2 },
  { arbitrary: fc.constantFrom("m".repeat(1022), "m".repeat(1023), "é".repeat(600)), weight: 1 },
  { arbitrary: fc.constant({ unserialisable: "function" }), weight: 1 },
);

export const putOptionsSpec = fc.oneof(
  { arbitrary: fc.constantFrom(undefined, null), weight: 2 },
  {
    arbitrary: fc.record(
      { expirationTtl: ttlSpec, expiration: expirationOffsetSpec, metadata: metadataValue },
      { requiredKeys: [] },
    ),
    weight: 8,
  },
);

const readType = fc.constantFrom(undefined, "text", "json", "arrayBuffer", "stream", "bogus");
const cacheTtl = fc.oneof({ arbitrary: fc.constant(undefined), weight: 8 }, { arbitrary: fc.constantFrom(29, 30, 3600, "45"), weight: 1 });
const listPrefix = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.array(fc.constantFrom("a", "b", "/", "é", "\uffff", "😀", "."), { minLength: 0, maxLength: 2 }).map((p) => p.join("")),
  fc.constantFrom("k".repeat(513), "\ud800", "\ud83d", "k".repeat(510) + "\ud800"),
);
const listLimit = fc.oneof(
  { arbitrary: fc.constant(undefined), weight: 3 },
  { arbitrary: fc.integer({ min: 1, max: 4 }).chain(numberForm), weight: 6 },
  { arbitrary: fc.constantFrom(0, -1, 1000, 1001, NaN, 2 ** 31).chain(numberForm), weight: 1 },
);
const listCursor = fc.oneof(
  { arbitrary: fc.constant({ kind: "none" }), weight: 3 },
  { arbitrary: fc.constant({ kind: "continue" }), weight: 4 },
  { arbitrary: keyName.map((after) => ({ kind: "after", after })), weight: 1 },
);

export const operation = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("put"), key: keySpec, value: valueSpec, options: putOptionsSpec }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant("delete"), key: keySpec }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("get"), key: keySpec, type: readType, cacheTtl }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("getWithMetadata"), key: keySpec, type: readType, cacheTtl }), weight: 2 },
  {
    arbitrary: fc.record({
      op: fc.constant("bulk"),
      keys: fc.array(keySpec, { minLength: 0, maxLength: 6 }),
      type: fc.constantFrom(undefined, "text", "json", "arrayBuffer"),
      withMetadata: fc.boolean(),
      cacheTtl,
    }),
    weight: 2,
  },
  { arbitrary: fc.record({ op: fc.constant("list"), prefix: listPrefix, limit: listLimit, cursor: listCursor }), weight: 4 },
  {
    arbitrary: fc.record({
      op: fc.constant("advance"),
      ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 58_000, max: 62_000 }), fc.integer({ min: 0, max: 400_000 })),
    }),
    weight: 2,
  },
);

// ---------------------------------------------------------------------------
// Realizing specs as the arguments a user passes, and what they convert to
// ---------------------------------------------------------------------------

export function realizeKey(spec) {
  switch (spec.as) {
    case "string":
      return spec.name;
    case "number":
      return spec.n;
    case "toString":
      return { toString: () => spec.name };
    case "String":
      return new String(spec.name);
  }
  throw new Error(`unknown key form ${spec.as}`);
}

/** [argument, the bytes it stores]. */
export function realizeValue(spec) {
  switch (spec.kind) {
    case "string":
      return [spec.text, utf8.encode(spec.text)];
    case "number":
      return [spec.n, utf8.encode(String(spec.n))];
    case "primitive":
      return [spec.v, utf8.encode(String(spec.v))];
    case "bytes": {
      const bytes = Uint8Array.from(spec.bytes);
      // The value sits in a window of a larger buffer: only the window is stored.
      const buffer = new ArrayBuffer(bytes.length + 2 * spec.pad);
      new Uint8Array(buffer).fill(0xaa);
      new Uint8Array(buffer, spec.pad, bytes.length).set(bytes);
      switch (spec.view) {
        case "Uint8Array":
          return [new Uint8Array(buffer, spec.pad, bytes.length), bytes];
        case "ArrayBuffer":
          return [buffer.slice(spec.pad, spec.pad + bytes.length), bytes];
        case "DataView":
          return [new DataView(buffer, spec.pad, bytes.length), bytes];
        case "Buffer":
          return [Buffer.from(buffer, spec.pad, bytes.length), bytes];
        case "Uint16Array": {
          // Whole 16-bit elements only: the stored bytes are the view's window.
          const even = bytes.length & ~1;
          const aligned = new ArrayBuffer(even + 2 * spec.pad * 2);
          new Uint8Array(aligned, spec.pad * 2, even).set(bytes.subarray(0, even));
          return [new Uint16Array(aligned, spec.pad * 2, even / 2), bytes.subarray(0, even)];
        }
      }
      break;
    }
    case "stream": {
      const chunks = spec.chunks.map((c) => Uint8Array.from(c));
      const stream = new ReadableStream({
        start(controller) {
          for (const chunk of chunks) controller.enqueue(chunk);
          controller.close();
        },
      });
      return [stream, Uint8Array.from(chunks.flatMap((c) => Array.from(c)))];
    }
  }
  throw new Error(`unknown value kind ${spec.kind}`);
}

function realizeNumber(spec, offset = 0) {
  const n = spec.n + offset;
  switch (spec.form) {
    case "number":
      return n;
    case "string":
      return String(n);
    case "fraction":
      // Truncation toward zero must land back on n.
      return Number.isFinite(n) ? n + (n >= 0 ? 0.75 : -0.75) : n;
  }
  throw new Error(`unknown number form ${spec.form}`);
}

/** The number a realized option converts to with ToNumber (before int32). */
const toNumber = (arg) => (arg === undefined ? undefined : +arg);

function realizeMetadata(value) {
  if (value !== null && typeof value === "object" && value.unserialisable === "function") return () => {};
  return value;
}

// ---------------------------------------------------------------------------
// Running one operation against a namespace and the model
// ---------------------------------------------------------------------------

/** Per-sequence state the runner keeps (the last cursor a list gave). */
export function newRunState() {
  return { lastCursor: undefined };
}

async function outcome(promise) {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

function assertRejectsAs(actual, expected, where) {
  assert.ok("error" in actual, `${where}: expected ${expected.name}: ${expected.message}, got ${inspectValue(actual.value)}`);
  assert.equal(actual.error?.constructor?.name, expected.name, `${where}: error class (${actual.error?.message})`);
  assert.equal(actual.error.message, expected.message, `${where}: error message`);
}

function inspectValue(value) {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

async function streamBytes(stream) {
  const out = [];
  for await (const chunk of stream) out.push(...chunk);
  return out;
}

/** Brings a read result to the model's shapes (bytes as arrays). */
async function normalizeRead(value, type) {
  if (value === null) return null;
  if (type === "arrayBuffer") {
    assert.ok(value instanceof ArrayBuffer, "arrayBuffer reads resolve an ArrayBuffer");
    return { arrayBuffer: Array.from(new Uint8Array(value)) };
  }
  if (type === "stream") {
    assert.ok(value instanceof ReadableStream, "stream reads resolve a ReadableStream");
    return { stream: await streamBytes(value) };
  }
  return value;
}

function compare(actual, expected, where) {
  if (expected instanceof Expected) return assertRejectsAs(actual, expected, where);
  if (expected instanceof JsonFailure) {
    assert.ok("error" in actual, `${where}: expected a SyntaxError, got ${inspectValue(actual.value)}`);
    assert.equal(actual.error?.constructor?.name, "SyntaxError", `${where}: ${actual.error?.message}`);
    return;
  }
  assert.ok(!("error" in actual), `${where}: unexpected ${actual.error?.constructor?.name}: ${actual.error?.message}`);
  assert.deepEqual(actual.value, expected, where);
}

/**
 * Applies `spec` to `ns` and to `model` at time `clock.now()`; fails on the
 * first difference. `clock.advance(ms)` moves the mocked Date.now().
 */
export async function step(ns, model, spec, clock, state, where = spec.op) {
  switch (spec.op) {
    case "advance":
      clock.advance(spec.ms);
      return;
    case "put": {
      const [valueArg, bytes] = realizeValue(spec.value);
      const nowSeconds = Math.floor(clock.now() / 1000);
      let optionsArg = spec.options;
      let converted = {};
      if (spec.options !== undefined && spec.options !== null) {
        optionsArg = {};
        if ("expirationTtl" in spec.options) optionsArg.expirationTtl = realizeNumber(spec.options.expirationTtl);
        if ("expiration" in spec.options) optionsArg.expiration = realizeNumber(spec.options.expiration, nowSeconds);
        if ("metadata" in spec.options) optionsArg.metadata = realizeMetadata(spec.options.metadata);
        converted = {
          expirationTtl: toNumber(optionsArg.expirationTtl),
          expiration: toNumber(optionsArg.expiration),
          metadata: optionsArg.metadata,
        };
      }
      const keyArg = realizeKey(spec.key);
      const actual = await outcome(ns.put(keyArg, valueArg, optionsArg));
      const expected = model.put(spec.key.name, bytes, converted, clock.now());
      return compare(actual, expected, where);
    }
    case "delete": {
      const actual = await outcome(ns.delete(realizeKey(spec.key)));
      return compare(actual, model.delete(spec.key.name), where);
    }
    case "get":
    case "getWithMetadata": {
      const options = spec.cacheTtl === undefined ? spec.type : { type: spec.type, cacheTtl: spec.cacheTtl };
      const expected =
        spec.op === "get"
          ? model.get(spec.key.name, spec.type, toNumber(spec.cacheTtl), clock.now())
          : model.getWithMetadata(spec.key.name, spec.type, toNumber(spec.cacheTtl), clock.now());
      const result = await outcome(ns[spec.op](realizeKey(spec.key), options));
      if ("value" in result && result.value !== null) {
        if (spec.op === "get") result.value = await normalizeRead(result.value, spec.type);
        else if (result.value.value !== null) result.value.value = await normalizeRead(result.value.value, spec.type);
      }
      return compare(result, expected, where);
    }
    case "bulk": {
      const keys = spec.keys.map(realizeKey);
      const options = spec.cacheTtl === undefined ? spec.type : { type: spec.type, cacheTtl: spec.cacheTtl };
      const method = spec.withMetadata ? "getWithMetadata" : "get";
      const names = spec.keys.map((k) => k.name);
      const expected = model.bulk(names, spec.type ?? "text", spec.withMetadata, toNumber(spec.cacheTtl), clock.now());
      const actual = await outcome(ns[method](keys, options));
      if ("value" in actual) {
        assert.ok(actual.value instanceof Map, `${where}: bulk reads resolve a Map`);
        actual.value = [...actual.value];
      }
      return compare(actual, expected instanceof Map ? [...expected] : expected, where);
    }
    case "list": {
      let cursor;
      if (spec.cursor.kind === "continue") cursor = state.lastCursor;
      else if (spec.cursor.kind === "after") cursor = Buffer.from(spec.cursor.after, "utf8").toString("base64");
      const options = {};
      if (spec.prefix !== undefined) options.prefix = spec.prefix;
      if (spec.limit !== undefined) options.limit = realizeNumber(spec.limit);
      if (cursor !== undefined) options.cursor = cursor;
      const expected = model.list(
        { prefix: spec.prefix ?? undefined, limit: toNumber(options.limit), cursor },
        clock.now(),
      );
      const actual = await outcome(ns.list(options));
      compare(actual, expected, where);
      if (!(expected instanceof Expected)) state.lastCursor = expected.cursor;
      return;
    }
  }
  throw new Error(`unknown operation ${spec.op}`);
}

/** Every live key, paged, must be what the model holds. */
export async function checkAll(ns, model, clock, where = "final listing") {
  const listed = [];
  let cursor;
  do {
    const page = await ns.list({ limit: 7, cursor });
    listed.push(...page.keys);
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  assert.deepEqual(listed, model.list({}, clock.now()).keys, where);
  for (const { name } of listed) {
    const expected = model.getWithMetadata(name, "arrayBuffer", undefined, clock.now());
    const actual = await ns.getWithMetadata(name, "arrayBuffer");
    actual.value = await normalizeRead(actual.value, "arrayBuffer");
    assert.deepEqual(actual, expected, `${where}: ${JSON.stringify(name)}`);
  }
}

/** A clock over node:test's mocked Date (enabled by the caller). */
export function mockClock(t) {
  return {
    now: () => Date.now(),
    advance: (ms) => t.mock.timers.tick(ms),
  };
}

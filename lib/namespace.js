"use strict";
// KVNamespace: the object a Worker's KV binding is. Each method converts its
// arguments as workerd does (./webidl.js), calls the native namespace
// synchronously (in memory, that is far cheaper than any thread hop) and
// shapes the result. Methods are `async`, so every failure is a rejection.

const { Buffer } = require("node:buffer");
const { types } = require("node:util");
const { nsGetText, nsGetWithMetadata, nsPut, nsDelete, nsList } = require("../binding");
const { toDOMString, toInt32, optionalInt32, isDictionary, missingArgument } = require("./webidl");
const { toStorable, toStream, unknownType } = require("./values");

const CONSTRUCT = Symbol("KVNamespace.construct");
// Local stores answer synchronously and Redis with promises; awaiting a plain
// value would still cost a microtask turn on every call.
const isPromise = (x) => x !== null && typeof x === "object" && typeof x.then === "function";

/** A local namespace's hot calls (get, getWithMetadata, put, delete, list)
 * go to free functions keyed by a numeric handle (src/fastpath.rs): a napi
 * `&self` method call costs ~250 ns more, a third of a whole `get`. Byte and
 * bulk reads go to the NativeNamespace itself, which also keeps the handle
 * alive (its finalizer frees the handle's slot). */
class LocalNamespaceCalls {
  constructor(native) {
    this.native = native;
    this.handle = native.handle();
  }
  getText(key, cacheTtl, now) {
    return nsGetText(this.handle, key, cacheTtl, now);
  }
  getWithMetadata(key, asText, cacheTtl, now) {
    return nsGetWithMetadata(this.handle, key, asText, cacheTtl, now);
  }
  put(key, bytes, expiration, expirationTtl, metadataJson, unserialisable, now) {
    return nsPut(this.handle, key, bytes, expiration, expirationTtl, metadataJson, unserialisable, now);
  }
  delete(key) {
    return nsDelete(this.handle, key);
  }
  list(prefix, limit, cursor, now) {
    return nsList(this.handle, prefix, limit, cursor, now);
  }
  getBytes(key, cacheTtl, now) {
    return this.native.getBytes(key, cacheTtl, now);
  }
  getBulk(keys, type, withMetadata, cacheTtl, now) {
    return this.native.getBulk(keys, type, withMetadata, cacheTtl, now);
  }
}

/** Native errors carry their JavaScript class in `code` (see src/error.rs). */
function rethrow(error) {
  if (error && error.code === "InvalidArg") throw new TypeError(error.message);
  if (error && typeof error.code === "string") throw new Error(error.message);
  throw error;
}

const MAX_KEY_BYTES = 512;

function notUrlDecodable(op) {
  return new Error(`KV ${op} failed: 400 Could not URL-decode key name`);
}

/** The rules for one key, in production's order: empty, "."/"..", the 414
 * length (a lone surrogate counts as U+FFFD, 3 bytes), and only then the 400
 * for a lone surrogate (the service's URL decoding fails after workerd's own
 * checks passed). The native core checks the first three again (the REST API
 * and CLI rely on that); they are repeated here because `put` must reject a
 * bad key before it converts or drains the value, and because a Rust string
 * cannot hold a lone surrogate. Messages match kv-core's error.rs. */
function checkKey(key, op) {
  if (key === "") throw new TypeError("Key name cannot be empty.");
  if (key === "." || key === "..") throw new TypeError(`"${key}" is not allowed as a key name.`);
  // A UTF-16 unit is at most 3 UTF-8 bytes, so shorter keys need no count.
  if (key.length > MAX_KEY_BYTES / 3) {
    const bytes = Buffer.byteLength(key, "utf8");
    if (bytes > MAX_KEY_BYTES) {
      throw new Error(`KV ${op} failed: 414 UTF-8 encoded length of ${bytes} exceeds key length limit of 512.`);
    }
  }
  if (!key.isWellFormed()) throw notUrlDecodable(op);
  return key;
}

/** `get`'s key is an array only if V8's IsArray says so, which a Proxy of an
 * array is not to workerd (Array.isArray would see through it): such a Proxy
 * is converted to a string and read as one key. isProxy comes first because
 * Array.isArray throws on a revoked Proxy. */
function isKeyArray(key) {
  return !types.isProxy(key) && Array.isArray(key);
}

/** WebIDL conversion of `get`'s first argument: a string, or the array's
 * elements as strings (Array.from, not map: holes convert like `undefined`). */
function toKeyArgument(key) {
  return isKeyArray(key) ? { names: Array.from(key, (k) => toDOMString(k)) } : { key: toDOMString(key) };
}

/** `get`'s second argument: a type string or `{ type, cacheTtl }`. */
function readGetOptions(arg) {
  if (arg === undefined || arg === null) return { type: "text", cacheTtl: undefined };
  if (typeof arg === "object" || typeof arg === "function") {
    const cacheTtl = optionalInt32(arg.cacheTtl);
    const type = arg.type;
    return { type: type === undefined ? "text" : toDOMString(type), cacheTtl };
  }
  return { type: toDOMString(arg), cacheTtl: undefined };
}

/** Local stores return an ArrayBuffer; Redis returns a Uint8Array that owns
 * its whole buffer. */
function toArrayBuffer(bytes) {
  if (bytes === null || bytes instanceof ArrayBuffer) return bytes;
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
}

function parseJsonOrNull(text) {
  return text === null || text === undefined ? null : JSON.parse(text);
}

/** For Miniflare#setOptions(): `rebindNamespace(ns, native)` points a
 * namespace obtained earlier at its binding's new storage (set below). */
let rebindNamespace;

class KVNamespace {
  #native;

  constructor(token, native) {
    if (token !== CONSTRUCT) throw new TypeError("Illegal constructor: use Miniflare#getKVNamespace()");
    rebindNamespace(this, native);
  }

  // A static block, not a method: the prototype shows only the five KV methods.
  static {
    rebindNamespace = (ns, native) => {
      // NativeRemoteNamespace (Redis) has no handle: its calls are async anyway.
      ns.#native = typeof native.handle === "function" ? new LocalNamespaceCalls(native) : native;
    };
  }

  // Only an absent argument is missing (arguments.length): `undefined` is a
  // value, converted to the key "undefined", as workerd does.
  async get(key, typeOrOptions) {
    if (arguments.length < 1) throw missingArgument("get", 1, "string or Array");
    const converted = toKeyArgument(key);
    const { type, cacheTtl } = readGetOptions(typeOrOptions);
    if (converted.names) return this.#getBulk(converted.names, type, cacheTtl, false);
    const k = checkKey(converted.key, "GET");
    const native = this.#native;
    try {
      switch (type) {
        case "text":
        {
          const text = native.getText(k, cacheTtl, Date.now());
          return isPromise(text) ? await text : text;
        }
        case "json":
          return parseJsonOrNull(await native.getText(k, cacheTtl, Date.now()));
        case "arrayBuffer":
          return toArrayBuffer(await native.getBytes(k, cacheTtl, Date.now()));
        case "stream": {
          const bytes = await native.getBytes(k, cacheTtl, Date.now());
          return bytes === null ? null : toStream(toArrayBuffer(bytes));
        }
        default:
          // An unknown type is only an error when there is a value to convert.
          if ((await native.getBytes(k, cacheTtl, Date.now())) === null) return null;
          throw unknownType();
      }
    } catch (error) {
      rethrow(error);
    }
  }

  async getWithMetadata(key, typeOrOptions) {
    if (arguments.length < 1) throw missingArgument("getWithMetadata", 1, "Array or string");
    const converted = toKeyArgument(key);
    const { type, cacheTtl } = readGetOptions(typeOrOptions);
    if (converted.names) return this.#getBulk(converted.names, type, cacheTtl, true);
    const k = checkKey(converted.key, "GET");
    let entry;
    try {
      entry = this.#native.getWithMetadata(k, type === "text" || type === "json", cacheTtl, Date.now());
      if (isPromise(entry)) entry = await entry;
    } catch (error) {
      rethrow(error);
    }
    if (entry === null) return { value: null, metadata: null, cacheStatus: null };
    let value;
    switch (type) {
      case "text":
        value = entry.value;
        break;
      case "arrayBuffer":
        value = toArrayBuffer(entry.value);
        break;
      case "json":
        value = JSON.parse(entry.value);
        break;
      case "stream":
        value = toStream(toArrayBuffer(entry.value));
        break;
      default:
        throw unknownType();
    }
    return { value, metadata: parseJsonOrNull(entry.metadata), cacheStatus: null };
  }

  async #getBulk(names, type, cacheTtl, withMetadata) {
    let result;
    try {
      // Unchanged by issue 11 (which is about single keys): in an array, a
      // lone surrogate is rejected before the core checks the request.
      for (const name of names) if (!name.isWellFormed()) throw notUrlDecodable("GET_BULK");
      result = await this.#native.getBulk(names, type, withMetadata, cacheTtl, Date.now());
    } catch (error) {
      rethrow(error);
    }
    const json = type === "json";
    const map = new Map();
    for (let i = 0; i < names.length; i++) {
      let text = result.values[i];
      if (text === null || text === undefined) {
        map.set(names[i], null);
        continue;
      }
      // Bulk values are decoded by the service, which drops a leading UTF-8
      // BOM (a single get keeps it). U+FEFF can only open the decoded text
      // if the bytes began with EF BB BF.
      if (!json && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const value = json ? JSON.parse(text) : text;
      map.set(names[i], withMetadata ? { value, metadata: parseJsonOrNull(result.metadata[i]) } : value);
    }
    return map;
  }

  async put(key, value, options) {
    if (arguments.length < 1) throw missingArgument("put", 1, "string");
    if (arguments.length < 2) throw missingArgument("put", 2, "string or JsObject");
    // WebIDL conversions first (key, value, options), then the method's own
    // checks: key rules before the value's type, so `put("", {})` is the
    // empty-key error and a stream under a bad key is never read.
    const k = toDOMString(key);
    const v = typeof value === "string" || typeof value === "object" || typeof value === "function"
      ? value
      : toDOMString(value); // `undefined` included: it stores "undefined"
    let expiration, expirationTtl, metadata;
    if (isDictionary(options, "put", 3, "PutOptions")) {
      expiration = optionalInt32(options.expiration);
      expirationTtl = optionalInt32(options.expirationTtl);
      metadata = options.metadata;
    }
    checkKey(k, "PUT");
    // Strings and buffers are copied into the store synchronously, at call
    // time, as in a Worker; only a stream has to be drained first.
    let bytes = toStorable(v);
    if (typeof bytes.then === "function") bytes = await bytes;
    let metadataJson = null;
    let unserialisable = false;
    if (metadata !== undefined && metadata !== null) {
      metadataJson = JSON.stringify(metadata);
      // NaN, Infinity or a toJSON() yielding null serialise to "null", which
      // is stored: getWithMetadata reads null and list shows `metadata: null`.
      if (metadataJson === undefined) {
        metadataJson = null;
        unserialisable = true;
      }
    }
    try {
      const done = this.#native.put(k, bytes, expiration, expirationTtl, metadataJson, unserialisable, Date.now());
      if (isPromise(done)) await done;
    } catch (error) {
      rethrow(error);
    }
  }

  async delete(key) {
    if (arguments.length < 1) throw missingArgument("delete", 1, "string");
    const k = checkKey(toDOMString(key), "DELETE");
    try {
      const done = this.#native.delete(k);
      if (isPromise(done)) await done;
    } catch (error) {
      rethrow(error);
    }
  }

  async list(options) {
    let cursor, limit, prefix;
    if (isDictionary(options, "list", 1, "ListOptions")) {
      const c = options.cursor;
      if (c !== undefined && c !== null) cursor = toDOMString(c);
      const l = options.limit;
      if (l !== undefined) limit = toInt32(l);
      const p = options.prefix;
      if (p !== undefined && p !== null) prefix = toDOMString(p);
    }
    // A prefix that is not well-formed UTF-16 is no key's prefix: production
    // accepts it and lists nothing. The core still checks the request (limit,
    // then the prefix's 414 with U+FFFD for each lone surrogate) first.
    const matchesNothing = prefix !== undefined && !prefix.isWellFormed();
    let page;
    try {
      page = this.#native.list(matchesNothing ? prefix.toWellFormed() : prefix, limit, cursor, Date.now());
      if (isPromise(page)) page = await page;
    } catch (error) {
      rethrow(error);
    }
    if (matchesNothing) return { keys: [], list_complete: true, cacheStatus: null };
    return toListResult(page);
  }
}

/** Rebuilds `{ keys, list_complete, cursor?, cacheStatus }` from the native
 * page, whose names arrive concatenated with their UTF-16 lengths. */
function toListResult(page) {
  const { names, nameLengths, expirations, metadata } = page;
  const keys = new Array(nameLengths.length);
  let offset = 0;
  for (let i = 0; i < nameLengths.length; i++) {
    const end = offset + nameLengths[i];
    const key = { name: names.slice(offset, end) };
    offset = end;
    if (expirations && expirations[i] !== null) key.expiration = expirations[i];
    if (metadata && metadata[i] !== null) key.metadata = JSON.parse(metadata[i]);
    keys[i] = key;
  }
  const result = { keys, list_complete: page.cursor == null };
  if (page.cursor != null) result.cursor = page.cursor;
  result.cacheStatus = null;
  return result;
}

// Only the five KV methods are visible: private fields and no other members.
module.exports = { KVNamespace, CONSTRUCT, rebindNamespace };

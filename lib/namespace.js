"use strict";
// KVNamespace: the object a Worker's KV binding is. Each method converts its
// arguments as workerd does (./webidl.js), calls the native namespace
// synchronously (in memory, that is far cheaper than any thread hop) and
// shapes the result. Methods are `async`, so every failure is a rejection.

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

/** Keys must be well-formed UTF-16: a lone surrogate has no UTF-8 form. This
 * is the one key rule checked here, because a Rust string cannot hold one. */
function checkWellFormed(key, op) {
  if (!key.isWellFormed()) throw new Error(`KV ${op} failed: 400 Could not URL-decode key name`);
  return key;
}

function toKey(value, op) {
  return checkWellFormed(toDOMString(value), op);
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

  async get(key, typeOrOptions) {
    if (key === undefined) throw missingArgument("get", 1, "string or Array");
    const { type, cacheTtl } = readGetOptions(typeOrOptions);
    if (Array.isArray(key)) return this.#getBulk(key, type, cacheTtl, false);
    const k = toKey(key, "GET");
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
    if (key === undefined) throw missingArgument("getWithMetadata", 1, "Array or string");
    const { type, cacheTtl } = readGetOptions(typeOrOptions);
    if (Array.isArray(key)) return this.#getBulk(key, type, cacheTtl, true);
    const k = toKey(key, "GET");
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

  async #getBulk(keys, type, cacheTtl, withMetadata) {
    // Array.from, not map: holes convert like `undefined`, as WebIDL does.
    const names = Array.from(keys, (k) => toKey(k, "GET_BULK"));
    let result;
    try {
      result = await this.#native.getBulk(names, type, withMetadata, cacheTtl, Date.now());
    } catch (error) {
      rethrow(error);
    }
    const json = type === "json";
    const map = new Map();
    for (let i = 0; i < names.length; i++) {
      const text = result.values[i];
      if (text === null || text === undefined) {
        map.set(names[i], null);
        continue;
      }
      const value = json ? JSON.parse(text) : text;
      map.set(names[i], withMetadata ? { value, metadata: parseJsonOrNull(result.metadata[i]) } : value);
    }
    return map;
  }

  async put(key, value, options) {
    if (key === undefined) throw missingArgument("put", 1, "string");
    if (value === undefined) throw missingArgument("put", 2, "string or JsObject");
    const k = toKey(key, "PUT");
    const v = typeof value === "string" || typeof value === "object" || typeof value === "function"
      ? value
      : toDOMString(value);
    let expiration, expirationTtl, metadata;
    if (isDictionary(options, "put", 3, "PutOptions")) {
      expiration = optionalInt32(options.expiration);
      expirationTtl = optionalInt32(options.expirationTtl);
      metadata = options.metadata;
    }
    // Strings and buffers are copied into the store synchronously, at call
    // time, as in a Worker; only a stream has to be drained first.
    let bytes = toStorable(v);
    if (typeof bytes.then === "function") bytes = await bytes;
    let metadataJson = null;
    let unserialisable = false;
    if (metadata !== undefined && metadata !== null) {
      metadataJson = JSON.stringify(metadata);
      if (metadataJson === undefined) {
        metadataJson = null;
        unserialisable = true;
      } else if (metadataJson === "null") {
        metadataJson = null; // a toJSON() that yields null means "no metadata"
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
    if (key === undefined) throw missingArgument("delete", 1, "string");
    const k = toKey(key, "DELETE");
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
      if (p !== undefined && p !== null) prefix = checkWellFormed(toDOMString(p), "GET");
    }
    let page;
    try {
      page = this.#native.list(prefix, limit, cursor, Date.now());
      if (isPromise(page)) page = await page;
    } catch (error) {
      rethrow(error);
    }
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

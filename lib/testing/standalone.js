"use strict";
// Stand-alone namespaces for unit tests that need no Miniflare instance, as
// @miniflare/kv gave them (`new KVNamespace(new MemoryStorage())`):
//
//   const ns = createKVNamespace();                           // in memory
//   const ns = createKVNamespace({ kvPersist: "./data", id: "NS" }); // any kvPersist form
//   disposeKVNamespace(ns);                                   // closes files / connections
//
// Synchronous: a local store opens at once; a Redis namespace connects on its
// first call (so a bad URL rejects that call, as a Miniflare instance's would).
// The object is a real KVNamespace, with the same semantics as a binding's.

const { NativeStore } = require("../native");
const { KVNamespace, CONSTRUCT, rebindNamespace } = require("../namespace");
const { resolvePersist } = require("../persist");
const { closest } = require("../suggest");

const OPTIONS = ["kvPersist", "id"];
const DEFAULT_ID = "default";

/** namespace → { store, disposed } (or a pending Redis connection). */
const owners = new WeakMap();

function checkOptions(options) {
  if (typeof options !== "object" || options === null || Array.isArray(options)) {
    throw new TypeError(`createKVNamespace(options): options must be an object such as { kvPersist, id }; got ${options === null ? "null" : typeof options}.`);
  }
  for (const name of Object.keys(options)) {
    if (OPTIONS.includes(name)) continue;
    const meant = closest(name, OPTIONS);
    throw new TypeError(
      `Unknown createKVNamespace option "${name}"` + (meant === undefined ? "" : `: did you mean "${meant}"?`) + ` Options: ${OPTIONS.join(", ")}.`,
    );
  }
  const id = options.id ?? DEFAULT_ID;
  if (typeof id !== "string" || id === "") throw new TypeError("createKVNamespace: id must be a non-empty namespace id string.");
  return { location: resolvePersist(options.kvPersist), id };
}

function disposedError() {
  return new Error("This KV namespace has been disposed: create a new one with createKVNamespace().");
}

/** Stands in for a Redis namespace until the store has connected. */
class ConnectingNamespace {
  #owner;
  #id;
  constructor(owner, id) {
    this.#owner = owner;
    this.#id = id;
  }
  async #call(method, args) {
    const owner = this.#owner;
    if (owner.disposed) throw disposedError();
    // A failed connection is retried on the next call.
    owner.connecting ??= NativeStore.connect(owner.location).then(
      (store) => {
        if (owner.disposed) store.dispose();
        else owner.store = store;
        return store;
      },
      (error) => {
        owner.connecting = null;
        throw error;
      },
    );
    const store = await owner.connecting;
    if (owner.disposed) throw disposedError();
    owner.native ??= store.namespace(this.#id);
    return owner.native[method](...args);
  }
  getText(...args) { return this.#call("getText", args); }
  getWithMetadata(...args) { return this.#call("getWithMetadata", args); }
  getBytes(...args) { return this.#call("getBytes", args); }
  getBulk(...args) { return this.#call("getBulk", args); }
  put(...args) { return this.#call("put", args); }
  delete(...args) { return this.#call("delete", args); }
  list(...args) { return this.#call("list", args); }
}

/** A disposed namespace rejects every call. */
class DisposedNamespace {
  async #fail() { throw disposedError(); }
  getText() { return this.#fail(); }
  getWithMetadata() { return this.#fail(); }
  getBytes() { return this.#fail(); }
  getBulk() { return this.#fail(); }
  put() { return this.#fail(); }
  delete() { return this.#fail(); }
  list() { return this.#fail(); }
}

function createKVNamespace(options = {}) {
  const { location, id } = checkOptions(options);
  const owner = { location, store: null, connecting: null, native: null, disposed: false };
  let native;
  if (/^rediss?:\/\//i.test(location)) {
    native = new ConnectingNamespace(owner, id);
  } else {
    owner.store = new NativeStore(location);
    native = owner.store.namespace(id);
  }
  const namespace = new KVNamespace(CONSTRUCT, native);
  owners.set(namespace, owner);
  return namespace;
}

/** Closes the namespace's store (files, database, connection). Idempotent;
 * later calls on the namespace reject. In-memory namespaces need not be
 * disposed: their data is freed with the object. */
function disposeKVNamespace(namespace) {
  const owner = owners.get(namespace);
  if (owner === undefined) {
    throw new TypeError("disposeKVNamespace(ns): ns was not made by createKVNamespace() or new KVNamespace(storage).");
  }
  if (owner.disposed) return;
  owner.disposed = true;
  rebindNamespace(namespace, new DisposedNamespace());
  owner.store?.dispose();
  owner.store = null;
}

/** @miniflare/kv's in-memory storage: one namespace's data. Namespaces made
 * over the same MemoryStorage share it. */
class MemoryStorage {
  #store = new NativeStore("memory:");
  /** @internal for StandaloneKVNamespace */
  static native(storage) {
    if (!(storage instanceof MemoryStorage)) {
      throw new TypeError("new KVNamespace(storage): storage must be a MemoryStorage from miniflare-kv/testing (or use createKVNamespace({ kvPersist })).");
    }
    return storage.#store.namespace(DEFAULT_ID);
  }
}

/** `new KVNamespace(new MemoryStorage())`, as @miniflare/kv had it; a real
 * KVNamespace (instanceof holds), the storage optional. */
class StandaloneKVNamespace extends KVNamespace {
  constructor(storage = new MemoryStorage()) {
    super(CONSTRUCT, MemoryStorage.native(storage));
  }
}

module.exports = { createKVNamespace, disposeKVNamespace, MemoryStorage, KVNamespace: StandaloneKVNamespace };

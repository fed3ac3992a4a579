"use strict";
// The Miniflare class: options → one native store (the persistence backend)
// and one KVNamespace per binding. Storage is keyed by namespace id, so two
// bindings with the same id share data.

const { NativeStore } = require("../binding");
const { KVNamespace, CONSTRUCT } = require("./namespace");
const { resolvePersist } = require("./persist");
const { scopeNamespaces } = require("./scope");
// Workers and wrangler config (see lib/worker.js, lib/config.js).
const { withWranglerConfig } = require("./config");
const { resolveWorkerOptions, loadWorker, WORKER_FILES } = require("./worker");

function isRemote(location) {
  return /^rediss?:\/\//i.test(location);
}

/** `kvNamespaces` → Map<binding, namespace id>. */
function resolveNamespaces(kvNamespaces) {
  const bindings = new Map();
  if (kvNamespaces === undefined || kvNamespaces === null) return bindings;
  if (Array.isArray(kvNamespaces)) {
    for (const name of kvNamespaces) {
      if (typeof name !== "string" || name === "") {
        throw new TypeError(`kvNamespaces entries must be non-empty binding names; got ${String(name)}.`);
      }
      bindings.set(name, name);
    }
    return bindings;
  }
  if (typeof kvNamespaces === "object") {
    for (const [binding, value] of Object.entries(kvNamespaces)) {
      const id = typeof value === "object" && value !== null ? value.id : value;
      if (typeof id !== "string" || id === "") {
        throw new TypeError(`kvNamespaces.${binding} must be a namespace id string (or { id }).`);
      }
      bindings.set(binding, id);
    }
    return bindings;
  }
  throw new TypeError(
    'kvNamespaces must be an array of binding names or a record { BINDING: "namespace-id" }.',
  );
}

/** For lib/rest-api.js: `await mf[KV_STORE]()` → { store, bindings }. */
const KV_STORE = Symbol("miniflare-kv.kvStore");

class Miniflare {
  #bindings = new Map(); // binding → namespace id
  #location = "memory:";
  #store = null; // NativeStore, or null until a Redis store has connected
  #connecting = null; // Promise<NativeStore> while connecting to Redis
  #namespaces = new Map(); // binding → KVNamespace
  #disposed = false;
  #workerSpec = null; // what to load, from script/scriptPath/modules/modulesRules
  #worker = null; // Promise of the loaded Worker, created on first use

  constructor(options = {}) {
    this.#configure(options ?? {});
  }

  #configure(options) {
    options = withWranglerConfig(options);
    const workerSpec = resolveWorkerOptions(options);
    const bindings = scopeNamespaces(resolveNamespaces(options.kvNamespaces), options.kvNamespaceScope);
    const location = resolvePersist(options.kvPersist);
    // Keep the store (and so in-memory data) when persistence is unchanged.
    if (this.#store === null || location !== this.#location) {
      // Local stores open now (errors throw from the constructor); Redis
      // connects on first use, because connecting is asynchronous.
      const store = isRemote(location) ? null : new NativeStore(location);
      this.#closeStore();
      this.#store = store;
      this.#location = location;
    }
    this.#bindings = bindings;
    this.#namespaces = new Map();
    this.#setWorker(workerSpec);
  }

  /** Replaces the Worker; it is (re)loaded on next use. */
  #setWorker(spec) {
    const previous = this.#worker;
    this.#worker = null;
    this.#workerSpec = spec;
    previous?.then((worker) => worker.dispose(), () => {});
  }

  #loadWorker() {
    if (this.#workerSpec === null) {
      return Promise.reject(
        new Error("This Miniflare instance has no Worker: pass script or scriptPath (or a wrangler config with main)."),
      );
    }
    if (this.#worker === null) {
      this.#worker = this.getBindings().then((env) => loadWorker(this.#workerSpec, env));
      this.#worker.catch(() => {}); // reported to whoever awaits it, not as an unhandled rejection
    }
    return this.#worker;
  }

  /** Resolves once the Worker (if any) has loaded; rejects with its load error. */
  get ready() {
    if (this.#disposed || this.#workerSpec === null) return Promise.resolve();
    return this.#loadWorker().then(() => undefined);
  }

  /** Sends a request to the Worker and resolves to its Response. The Response
   * has `waitUntil()`, a promise of everything the Worker passed to ctx.waitUntil(). */
  async dispatchFetch(input, init) {
    this.#checkOpen();
    const worker = await this.#loadWorker();
    let request;
    if (input instanceof Request && init === undefined) request = input;
    else {
      // Node needs `duplex` for a streamed body; a Worker runtime does not.
      const withDuplex = init?.body != null && init.duplex === undefined ? { ...init, duplex: "half" } : init;
      request = new Request(input, withDuplex);
    }
    return worker.dispatch(request);
  }

  /** The loaded Worker's project files, for `miniflare --watch`; [] without a Worker. */
  async [WORKER_FILES]() {
    if (this.#workerSpec === null) return [];
    return (await this.#loadWorker()).files();
  }

  /** The native store and the bound namespace ids (binding → id), for the
   * local REST API: it serves the same data as this instance's bindings. */
  async [KV_STORE]() {
    this.#checkOpen();
    return { store: await this.#openStore(), bindings: new Map(this.#bindings) };
  }

  /** The native store, connecting to Redis on first use (and again after a
   * failed attempt, so a server that comes back is picked up). */
  async #openStore() {
    if (this.#store !== null) return this.#store;
    const location = this.#location;
    this.#connecting ??= NativeStore.connect(location).finally(() => {
      this.#connecting = null;
    });
    const store = await this.#connecting;
    if (this.#disposed || location !== this.#location) {
      // Options changed or dispose() ran while connecting.
      store.dispose();
      this.#checkOpen();
      return this.#openStore();
    }
    this.#store ??= store;
    return this.#store;
  }

  #closeStore() {
    this.#store?.dispose();
    this.#store = null;
  }

  #checkOpen() {
    if (this.#disposed) {
      throw new Error("This Miniflare instance has been disposed: create a new Miniflare() to use KV again.");
    }
  }

  /** The namespace bound as `binding`; the same object on every call. */
  async getKVNamespace(binding) {
    this.#checkOpen();
    const name = `${binding}`;
    let ns = this.#namespaces.get(name);
    if (ns !== undefined) return ns;
    const id = this.#bindings.get(name);
    if (id === undefined) {
      const known = [...this.#bindings.keys()];
      throw new Error(
        `KV namespace binding "${name}" is not configured: add it to kvNamespaces` +
          (known.length ? ` (configured: ${known.join(", ")}).` : " (none are configured)."),
      );
    }
    const store = await this.#openStore();
    ns = this.#namespaces.get(name); // another call may have won the race
    if (ns !== undefined) return ns;
    ns = new KVNamespace(CONSTRUCT, store.namespace(id));
    this.#namespaces.set(name, ns);
    return ns;
  }

  /** Every binding, as a Worker's `env` would hold them. */
  async getBindings() {
    this.#checkOpen();
    const env = {};
    for (const binding of this.#bindings.keys()) env[binding] = await this.getKVNamespace(binding);
    return env;
  }

  /** Saves the data of this instance's namespaces (as bound now) on a stack;
   * `popStorage()` puts it back. Memory: O(1); other backends copy the data
   * (see docs/isolation.md). */
  async pushStorage() {
    this.#checkOpen();
    const remote = isRemote(this.#location);
    const ids = [...new Set(this.#bindings.values())];
    const store = await this.#openStore();
    if (remote) await store.pushSnapshotAsync(ids, Date.now());
    else store.pushSnapshot(ids, Date.now());
  }

  /** Restores the data saved by the latest `pushStorage()` and drops that
   * snapshot. Rejects when nothing is pushed. */
  async popStorage() {
    this.#checkOpen();
    const remote = isRemote(this.#location);
    const store = await this.#openStore();
    if (remote) await store.popSnapshotAsync(Date.now());
    else store.popSnapshot(Date.now());
  }

  /** Applies new options. In-memory data is kept; namespaces are re-bound. */
  async setOptions(options) {
    this.#checkOpen();
    this.#configure(options ?? {});
  }

  /** Closes files, databases and connections. Idempotent. */
  async dispose() {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#setWorker(null);
    this.#closeStore();
    this.#namespaces.clear();
  }
}

module.exports = { Miniflare, resolveNamespaces, KV_STORE };

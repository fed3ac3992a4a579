"use strict";
// The Miniflare class: options → one native store (the persistence backend)
// and one KVNamespace per binding. Storage is keyed by namespace id, so two
// bindings with the same id share data.

const { NativeStore } = require("./native");
const { KVNamespace, CONSTRUCT, rebindNamespace } = require("./namespace");
const { resolvePersist } = require("./persist");
const { scopeNamespaces } = require("./scope");
// Workers and wrangler config (see lib/worker.js, lib/config.js).
const { withWranglerConfig, UNSUPPORTED_BINDINGS } = require("./config");
const { resolveWorkerOptions, loadWorker, WORKER_FILES } = require("./worker");
const { closest } = require("./suggest");
// kvConsistency: "eventual": per-location caches (issue 17).
const { EventualConsistency, resolveConsistency, locationKey, locationOfRequest } = require("./api/consistency");
const { planSeed, seeded, isSeeded } = require("./seed"); // kvSeed: fill namespaces from files before first use

/** Every option `new Miniflare()` / `setOptions()` reads (index.d.ts documents
 * them). Any other name is rejected, so a typo such as `kvNamespace` fails
 * loudly instead of binding nothing. Add new options here. */
const KNOWN_OPTIONS = [
  "kvNamespaces",
  "kvPersist",
  "kvNamespaceScope",
  "kvConsistency",
  "kvSeed",
  "script",
  "scriptPath",
  "modules",
  "modulesRules",
  "wranglerConfigPath",
  "wranglerConfigEnv",
  "bindings",
];

function checkOptionNames(options) {
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`Miniflare options must be an object, e.g. { kvNamespaces: ["NS"] }; got ${typeof options}.`);
  }
  for (const name of Object.keys(options)) {
    if (KNOWN_OPTIONS.includes(name)) continue;
    const meant = closest(name, KNOWN_OPTIONS);
    throw new TypeError(
      `Unknown Miniflare option "${name}"` +
        (meant === undefined ? "" : `: did you mean "${meant}"?`) +
        ` Options: ${KNOWN_OPTIONS.join(", ")}.`,
    );
  }
}

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

/** `bindings` (Miniflare 2's option; wrangler `vars` merged under it) → a
 * plain record bound as-is into env. Names may not also be KV bindings. */
function resolvePlainBindings(bindings, kvBindings) {
  if (bindings === undefined || bindings === null) return {};
  if (typeof bindings !== "object" || Array.isArray(bindings)) {
    throw new TypeError("bindings must be a record { NAME: value } of values to put in the Worker's env.");
  }
  const clash = Object.keys(bindings).filter((name) => kvBindings.has(name));
  if (clash.length > 0) {
    throw new TypeError(`${clash.join(", ")} ${clash.length === 1 ? "is" : "are"} bound both as a KV namespace and in bindings/vars: binding names must be unique.`);
  }
  return { ...bindings };
}

/** For lib/rest-api.js: `await mf[KV_STORE]()` → { store, bindings }. */
const KV_STORE = Symbol("miniflare-kv.kvStore");

/** For the test kit (lib/testing/kit.js): `mf[PUSH_STORAGE_NOW]()` and
 * `mf[POP_STORAGE_NOW]()` do what pushStorage()/popStorage() do, synchronously,
 * when that needs no waiting — the store is local, open and seeded — and
 * return true; otherwise they do nothing and return false (call the async
 * method). They save a test runner several promise hops per test. Registered
 * symbols: the Jest environment's kit and the copy of this file it loads into
 * the test's vm context are different module instances. */
const PUSH_STORAGE_NOW = Symbol.for("miniflare-kv.pushStorageNow");
const POP_STORAGE_NOW = Symbol.for("miniflare-kv.popStorageNow");

class Miniflare {
  #bindings = new Map(); // binding → namespace id
  #plainBindings = {}; // `bindings` option and wrangler vars: name → value
  #warnedUnsupported = false;
  #location = "memory:";
  #store = null; // NativeStore, or null until a Redis store has connected
  #connecting = null; // Promise<NativeStore> while connecting to Redis
  #consistency = "strong"; // kvConsistency
  // With "eventual": every location's caches for #store (lib/api/consistency.js).
  #eventual = null;
  // binding (+ "\0" + location for a pinned location) → { ns: KVNamespace,
  // id, store, binding, location, eventual }, kept across setOptions(): an
  // object obtained once keeps working and follows its binding's storage.
  #namespaces = new Map();
  #disposed = false;
  #workerSpec = null; // what to load, from script/scriptPath/modules/modulesRules
  #worker = null; // Promise of the loaded Worker, created on first use

  constructor(options = {}) {
    this.#configure(options ?? {});
  }

  #configure(options) {
    checkOptionNames(options);
    options = withWranglerConfig(options);
    const workerSpec = resolveWorkerOptions(options);
    const bindings = scopeNamespaces(resolveNamespaces(options.kvNamespaces), options.kvNamespaceScope);
    const plainBindings = resolvePlainBindings(options.bindings, bindings);
    const location = resolvePersist(options.kvPersist);
    const consistency = resolveConsistency(options.kvConsistency);
    // Caches describe one store's data: start cold with a new store or mode,
    // else keep them (as in-memory data is kept).
    if (consistency !== this.#consistency || location !== this.#location) {
      this.#eventual = consistency === "eventual" ? new EventualConsistency() : null;
      this.#consistency = consistency;
    }
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
    planSeed(this, options.kvSeed, bindings, location);
    this.#plainBindings = plainBindings;
    this.#rebindNamespaces();
    this.#warnUnsupported(options[UNSUPPORTED_BINDINGS]);
    this.#setWorker(workerSpec);
  }

  /** Points every namespace object handed out so far at its binding's
   * namespace in the current store. A binding that the new options no longer
   * have keeps its last namespace id. Until a Redis store has connected, the
   * objects go through a PendingNamespace that connects on first call. */
  #rebindNamespaces() {
    for (const entry of this.#namespaces.values()) {
      const id = this.#bindings.get(entry.binding) ?? entry.id;
      const current = this.#store ?? this.#pendingFor(id, entry.location);
      if (entry.id === id && entry.store === current && entry.eventual === this.#eventual) continue;
      rebindNamespace(entry.ns, this.#store === null ? current : this.#callsFor(this.#store, id, entry.location));
      entry.id = id;
      entry.store = current;
      entry.eventual = this.#eventual;
    }
  }

  #pendingFor(id, location) {
    return new PendingNamespace(() => this.#openStore().then((store) => this.#callsFor(store, id, location)));
  }

  /** What a KVNamespace calls: the store's namespace, or with eventual
   * consistency, a location's view (`location` null: the request's location). */
  #callsFor(store, id, location) {
    return this.#eventual === null ? store.namespace(id) : this.#eventual.calls(store, id, location);
  }

  /** One console.warn per instance (not per setOptions()) naming the wrangler
   * config's bindings that are not emulated. */
  #warnUnsupported(unsupported) {
    if (!unsupported || this.#warnedUnsupported) return;
    this.#warnedUnsupported = true;
    console.warn(
      `miniflare-kv: the wrangler config's ${unsupported.join(", ")} ${unsupported.length === 1 ? "is" : "are"} not emulated ` +
        "and not in env (only kv_namespaces and vars are bound).",
    );
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
   * has `waitUntil()`, a promise of everything the Worker passed to ctx.waitUntil().
   * `init.cf` (Miniflare 2's option) becomes `request.cf`; with eventual
   * consistency the request runs in the location `cf.colo`. */
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
    const cf = init?.cf !== undefined ? init.cf : input?.cf;
    if (cf !== undefined && request.cf !== cf) {
      Object.defineProperty(request, "cf", { value: cf, enumerable: true, configurable: true, writable: true });
    }
    if (this.#eventual === null) return worker.dispatch(request);
    return EventualConsistency.runIn(locationOfRequest(request), () => worker.dispatch(request));
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
    if (this.#store !== null) return seeded(this, this.#store);
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
    if (this.#store === null) {
      this.#store = store;
      this.#rebindNamespaces();
    }
    return seeded(this, this.#store);
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

  /** The namespace bound as `binding`; the same object on every call.
   * `{ location }` gives that location's view (kvConsistency: "eventual");
   * without it, calls run in the location of the request they are made in. */
  async getKVNamespace(binding, options) {
    this.#checkOpen();
    const name = `${binding}`;
    if (options !== undefined && (typeof options !== "object" || options === null)) {
      throw new TypeError('getKVNamespace()\'s second argument must be an object such as { location: "AMS" }.');
    }
    const location = options?.location === undefined ? null : locationKey(options.location, "getKVNamespace()'s location");
    const key = location === null ? name : `${name}\0${location}`;
    const id = this.#bindings.get(name);
    if (id !== undefined && this.#namespaces.has(key)) return this.#namespaces.get(key).ns;
    if (id === undefined) {
      const known = [...this.#bindings.keys()];
      throw new Error(
        `KV namespace binding "${name}" is not configured: add it to kvNamespaces` +
          (known.length ? ` (configured: ${known.join(", ")}).` : " (none are configured)."),
      );
    }
    const store = await this.#openStore();
    const raced = this.#namespaces.get(key); // another call may have won the race
    if (raced !== undefined) return raced.ns;
    const ns = new KVNamespace(CONSTRUCT, this.#callsFor(store, id, location));
    this.#namespaces.set(key, { ns, id, store, binding: name, location, eventual: this.#eventual });
    return ns;
  }

  /** Every binding, as a Worker's `env` would hold them: KV namespaces, then
   * `bindings`/wrangler vars (values as given). */
  async getBindings() {
    this.#checkOpen();
    const env = {};
    for (const binding of this.#bindings.keys()) env[binding] = await this.getKVNamespace(binding);
    Object.assign(env, this.#plainBindings);
    return env;
  }

  /** Saves the data of this instance's namespaces (as bound now) on a stack;
   * `popStorage()` puts it back. Memory: O(1); other backends copy the data
   * (see docs/isolation.md). */
  async pushStorage() {
    this.#checkOpen();
    const remote = isRemote(this.#location);
    const ids = this.#boundIds();
    const store = await this.#openStore();
    if (remote) await store.pushSnapshotAsync(ids, Date.now());
    else store.pushSnapshot(ids, Date.now());
    this.#pushed();
  }

  /** Restores the data saved by the latest `pushStorage()` and drops that
   * snapshot. Rejects when nothing is pushed. */
  async popStorage() {
    this.#checkOpen();
    const remote = isRemote(this.#location);
    const store = await this.#openStore();
    if (remote) await store.popSnapshotAsync(Date.now());
    else store.popSnapshot(Date.now());
    this.#popped();
  }

  [PUSH_STORAGE_NOW]() {
    const store = this.#storeReadyNow();
    if (store === null) return false;
    store.pushSnapshot(this.#boundIds(), Date.now());
    this.#pushed();
    return true;
  }

  [POP_STORAGE_NOW]() {
    const store = this.#storeReadyNow();
    if (store === null) return false;
    store.popSnapshot(Date.now());
    this.#popped();
    return true;
  }

  /** The store, when it can be used synchronously: open, local, seeded. */
  #storeReadyNow() {
    if (this.#disposed || this.#store === null || isRemote(this.#location) || !isSeeded(this)) return null;
    return this.#store;
  }

  /** The namespace ids a snapshot saves: every bound id, once. */
  #boundIds() {
    return [...new Set(this.#bindings.values())];
  }

  #pushed() {
    // Each pushed state starts settled, so what a test reads does not depend
    // on what earlier tests left in the caches.
    this.#eventual?.settle();
  }

  #popped() {
    this.#eventual?.settle(); // the restored data must not be read through stale caches
  }

  /** With kvConsistency: "eventual", forgets what every location has cached,
   * so every next read sees the stored data (the eventual state). Nothing to
   * do when strongly consistent. */
  async settleKv() {
    this.#checkOpen();
    this.#eventual?.settle();
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

/** Stands in for a Redis namespace while the store has not connected yet
 * (after setOptions() switched to Redis): each call connects first. Once
 * connected, Miniflare rebinds the namespace objects to the real one. */
class PendingNamespace {
  #open;
  #native = null;
  constructor(open) {
    this.#open = open;
  }
  async #call(method, args) {
    // A failed connection is retried on the next call, as getKVNamespace does.
    this.#native ??= this.#open().catch((error) => {
      this.#native = null;
      throw error;
    });
    const native = await this.#native;
    return native[method](...args);
  }
  getText(...args) { return this.#call("getText", args); }
  getWithMetadata(...args) { return this.#call("getWithMetadata", args); }
  getBytes(...args) { return this.#call("getBytes", args); }
  getBulk(...args) { return this.#call("getBulk", args); }
  put(...args) { return this.#call("put", args); }
  delete(...args) { return this.#call("delete", args); }
  list(...args) { return this.#call("list", args); }
}

module.exports = { Miniflare, resolveNamespaces, KV_STORE, PUSH_STORAGE_NOW, POP_STORAGE_NOW, KNOWN_OPTIONS };

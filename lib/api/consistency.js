"use strict";
// Opt-in eventual consistency (issue 17): `kvConsistency: "eventual"` makes
// each location (a named data centre, e.g. "AMS") answer reads from its own
// cache, as production KV does. The cache model itself is in Rust
// (crates/kv-core/src/consistency.rs, documented there and in the README);
// this file decides which location a call runs in and hands out the
// per-location calls objects that KVNamespace uses instead of the strongly
// consistent ones. With the default, "strong", nothing here is used.

const { AsyncLocalStorage } = require("node:async_hooks");
const { NativeLocations, viewGetText, viewGetWithMetadata } = require("../native");
const { closest } = require("../suggest");

const CONSISTENCY_MODES = ["strong", "eventual"];

/** Where code runs when no request says otherwise: `getKVNamespace(binding)`
 * outside a request, and a request without `cf.colo`. */
const DEFAULT_LOCATION = "local";

/** `kvConsistency` (option, `--kv-consistency`, `[miniflare] kv_consistency`)
 * → "strong" | "eventual". Absent is "strong". */
function resolveConsistency(value, source = "kvConsistency") {
  if (value === undefined || value === null) return "strong";
  if (typeof value === "string" && CONSISTENCY_MODES.includes(value)) return value;
  const meant = typeof value === "string" ? closest(value.toLowerCase(), CONSISTENCY_MODES) : undefined;
  throw new TypeError(
    `${source} must be "strong" (the default) or "eventual"; got ${typeof value === "string" ? JSON.stringify(value) : String(value)}` +
      (meant === undefined ? "." : `: did you mean "${meant}"?`),
  );
}

/** A location name as caches tell them apart: colos are IATA codes, which
 * production writes in capitals, so "ams" and "AMS" are one location. */
function locationKey(value, source) {
  if (typeof value !== "string" || value.trim() === "") {
    throw new TypeError(`${source} must be a location name such as "AMS" (a non-empty string); got ${value === "" ? '""' : String(value)}.`);
  }
  return value.trim().toUpperCase();
}

const DEFAULT_KEY = locationKey(DEFAULT_LOCATION, "DEFAULT_LOCATION");

/** The location of the request being handled (set by dispatchFetch for the
 * request and all the work it starts, ctx.waitUntil() included). */
const requestLocation = new AsyncLocalStorage();

/** `dispatchFetch(input, init)`'s location: `init.cf.colo`, else the input
 * Request's own `cf.colo`, else the default. */
function locationOfRequest(request) {
  const colo = request.cf?.colo;
  return colo === undefined || colo === null ? DEFAULT_KEY : locationKey(colo, "cf.colo");
}

/** One location's view of a namespace, with the method names KVNamespace
 * calls. `delete` gets the time too: the deleting location caches "not found". */
class LocationCalls {
  #view;
  constructor(view) {
    this.#view = view;
  }
  getText(key, cacheTtl, now) {
    return this.#view.getText(key, cacheTtl, now);
  }
  getWithMetadata(key, asText, cacheTtl, now) {
    return this.#view.getWithMetadata(key, asText, cacheTtl, now);
  }
  getBytes(key, cacheTtl, now) {
    return this.#view.getBytes(key, cacheTtl, now);
  }
  getBulk(keys, type, withMetadata, cacheTtl, now) {
    return this.#view.getBulk(keys, type, withMetadata, cacheTtl, now);
  }
  put(key, bytes, expiration, expirationTtl, metadataJson, unserialisable, now) {
    return this.#view.put(key, bytes, expiration, expirationTtl, metadataJson, unserialisable, now);
  }
  delete(key) {
    return this.#view.delete(key, Date.now());
  }
  list(prefix, limit, cursor, now) {
    return this.#view.list(prefix, limit, cursor, now);
  }
}

/** A local store's view: text and metadata reads go to free functions keyed
 * by a number (src/consistency.rs), as the strong path's do (fastpath.rs). */
class LocalLocationCalls extends LocationCalls {
  #handle;
  constructor(view) {
    super(view);
    this.#handle = view.fastHandle();
  }
  getText(key, cacheTtl, now) {
    return viewGetText(this.#handle, key, cacheTtl, now);
  }
  getWithMetadata(key, asText, cacheTtl, now) {
    return viewGetWithMetadata(this.#handle, key, asText, cacheTtl, now);
  }
}

const locationCalls = (view) => (typeof view.fastHandle === "function" ? new LocalLocationCalls(view) : new LocationCalls(view));

/** A binding's own object (`getKVNamespace(binding)`, a Worker's `env`):
 * each call runs in the location of the request it is made in. */
class RequestLocationCalls {
  #viewAt;
  constructor(viewAt) {
    this.#viewAt = viewAt;
  }
  #here() {
    return this.#viewAt(requestLocation.getStore() ?? DEFAULT_KEY);
  }
  getText(key, cacheTtl, now) {
    return this.#here().getText(key, cacheTtl, now);
  }
  getWithMetadata(key, asText, cacheTtl, now) {
    return this.#here().getWithMetadata(key, asText, cacheTtl, now);
  }
  getBytes(...args) {
    return this.#here().getBytes(...args);
  }
  getBulk(...args) {
    return this.#here().getBulk(...args);
  }
  put(...args) {
    return this.#here().put(...args);
  }
  delete(key) {
    return this.#here().delete(key);
  }
  list(...args) {
    return this.#here().list(...args);
  }
}

/** Every location's caches for one store of one Miniflare instance. */
class EventualConsistency {
  #locations = new NativeLocations();

  /** The calls object for namespace `id` of `store`: pinned to `location`
   * (a location key), or with `null`, following the current request. */
  calls(store, id, location) {
    if (location !== null) return locationCalls(this.#locations.view(store, id, location));
    const views = new Map();
    return new RequestLocationCalls((key) => {
      let calls = views.get(key);
      if (calls === undefined) {
        calls = locationCalls(this.#locations.view(store, id, key));
        views.set(key, calls);
      }
      return calls;
    });
  }

  /** Drops every location's cached answers. */
  settle() {
    this.#locations.settle();
  }

  /** Runs `fn` (a request) in location `key`. */
  static runIn(key, fn) {
    return requestLocation.run(key, fn);
  }
}

module.exports = {
  CONSISTENCY_MODES,
  DEFAULT_LOCATION,
  EventualConsistency,
  resolveConsistency,
  locationKey,
  locationOfRequest,
};

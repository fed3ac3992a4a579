// Hand-written typings for the public surface (index.js, lib/*.js).
// `KVNamespace` follows the shape of `@cloudflare/workers-types`' KVNamespace
// so a namespace from this package can be passed wherever Worker code expects
// a KV binding, and the other way round (checked by __test__/types/).
//
// Self-contained: a program with only `--lib es2022` (plus @types/node, the
// DOM lib or @cloudflare/workers-types, or none of them) type-checks without
// skipLibCheck. The fetch and stream types below come from whichever of those
// the program has; with none, they are empty stand-ins. How:
// - ReadableStream, Response and URL are declared as empty global interfaces,
//   which merge with the environment's declarations (same type parameters),
//   or stand alone.
// - Request and RequestInit are read off the global `Request` value when
//   there is one (workers-types' Request interface has type parameters, so it
//   cannot be merged into), else fall back to minimal shapes.
declare global {
  interface ReadableStream<R = any> {}
  interface Response {}
  interface URL {}
}

/** The environment's Request type (DOM, @types/node or workers-types), or a minimal stand-in. */
export type FetchRequest = typeof globalThis extends { Request: { prototype: infer R } } ? R : { readonly url: string };
/** The second argument of the environment's `new Request()`, or a minimal stand-in. */
export type FetchRequestInit = typeof globalThis extends { Request: new (input: any, init?: infer I) => any }
  ? I
  : { method?: string; headers?: Record<string, string> | [string, string][]; body?: string | ArrayBuffer | ArrayBufferView | ReadableStream | null };

/** A namespace entry in `kvNamespaces` given as a record: the id, or `{ id }`. */
export type KVNamespaceBinding = string | { id: string };

/**
 * Options for `new Miniflare()` and `setOptions()`.
 * Add later options (script, scriptPath, modules, wranglerConfigPath, …) here.
 */
export interface MiniflareOptions {
  /**
   * The KV bindings. An array of names binds each name to the namespace with
   * that id; a record `{ BINDING: "namespace-id" }` (or `{ BINDING: { id } }`)
   * binds names to ids, so two bindings with one id share data.
   */
  kvNamespaces?: string[] | Record<string, KVNamespaceBinding>;
  /**
   * Where KV data lives: absent, `false` or `"memory:"` → in memory, private
   * to this instance; `true` → `./.mf/kv`; a directory path or `file:` URL;
   * a `redis://` / `rediss://` URL; `"sled:<path>"` → an embedded sled
   * database; `"wrangler:<path>"` → the store of wrangler 4 / Miniflare 4
   * (`.wrangler/state`, its `v3` or `v3/kv` folder). Relative paths resolve
   * against `process.cwd()`.
   */
  kvPersist?: boolean | string;
  /**
   * Fills namespaces from files before the first KV call: binding → a
   * `kv bulk put` JSON file or the JSON lines of `miniflare kv export`
   * (relative to `process.cwd()`). The file's keys are written over what
   * they held; other keys are left alone.
   */
  kvSeed?: Record<string, string>;
  /**
   * Gives this instance's namespaces ids of their own in storage, so test
   * workers sharing one directory or Redis server never see each other's
   * data: a string `s` (letters, digits and `- _ . + @ =`) stores namespace
   * `NS` as `s~NS`; `true` uses the test
   * worker's scope (`jest-<JEST_WORKER_ID>`, `vitest-<VITEST_POOL_ID>`, else
   * the process id). Bindings keep their names.
   */
  kvNamespaceScope?: boolean | string;
  /**
   * `"strong"` (the default): every read sees the latest write. `"eventual"`:
   * as production, each location caches what it reads (a value or "not
   * found") for the read's `cacheTtl` (default 60 s) and `list` pages for
   * 60 s; a location sees its own writes at once, other locations when their
   * cached copy expires. Locations: `getKVNamespace(binding, { location })`,
   * or a request's `cf.colo` in `dispatchFetch`. See the README's "Eventual
   * consistency" section.
   */
  kvConsistency?: "strong" | "eventual";

  /** The Worker's source. With `modules: true` an ES module whose default
   * export has `fetch(request, env, ctx)`; otherwise a service-worker script
   * (`addEventListener("fetch", …)`) that sees bindings as globals. */
  script?: string;
  /** A file holding the Worker (relative and bare imports resolve from it). */
  scriptPath?: string;
  /** Whether the script is an ES module Worker; detected from its syntax when absent. */
  modules?: boolean;
  /** How imported files load, as wrangler's `rules` (added to its defaults). */
  modulesRules?: ModuleRule[];
  /** `true` finds wrangler.toml / wrangler.json / wrangler.jsonc in the working
   * directory; a string names the file. Explicit options override it. */
  wranglerConfigPath?: boolean | string;
  /** The `[env.<name>]` section of the wrangler config to use. */
  wranglerConfigEnv?: string;
  /** Extra bindings in `env` (Miniflare 2's option): `{ NAME: value }`. */
  bindings?: Record<string, unknown>;
}

export interface ModuleRule {
  type: "ESModule" | "CommonJS" | "Text" | "Data" | "CompiledWasm";
  include: string | string[];
}

/** A Worker's Response, plus the promises it passed to `ctx.waitUntil()`. */
export type DispatchFetchResponse = Response & { waitUntil(): Promise<unknown[]> };

export declare class Miniflare {
  constructor(options?: MiniflareOptions);
  /**
   * The namespace bound as `binding` (the same object on every call). Rejects
   * when the binding is not configured or the instance has been disposed.
   */
  getKVNamespace<Key extends string = string>(binding: string, options?: GetKVNamespaceOptions): Promise<KVNamespace<Key>>;
  /** Every binding, as a Worker's `env` would hold them. */
  getBindings<Env = Record<string, KVNamespace>>(): Promise<Env>;
  /** Applies new options; in-memory data is kept, namespaces are re-bound. */
  setOptions(options: MiniflareOptions): Promise<void>;
  /** Closes files, databases and connections. Idempotent. */
  dispose(): Promise<void>;
  /**
   * Saves the data of this instance's namespaces (those bound now) on a
   * stack, for `popStorage()`. In memory this costs O(1) whatever the data
   * size; directory, sled and Redis read every entry (see docs/isolation.md).
   */
  pushStorage(): Promise<void>;
  /**
   * Restores the namespaces saved by the latest `pushStorage()` exactly
   * (added keys removed, deleted and overwritten ones back, with metadata and
   * expiration) and drops that snapshot. Rejects when nothing is pushed.
   */
  popStorage(): Promise<void>;
  /**
   * With `kvConsistency: "eventual"`, forgets what every location has cached,
   * so every next read sees the stored data. Does nothing when strongly
   * consistent. (`pushStorage()` and `popStorage()` do this too.)
   */
  settleKv(): Promise<void>;
  /** Resolves once the Worker (if any) has loaded; rejects with its load error. */
  readonly ready: Promise<void>;
  /** Sends a request to the Worker and resolves to its Response; a Worker
   * exception rejects with the Worker's own error. `init.cf` becomes
   * `request.cf`; with eventual consistency the request runs in the location
   * `cf.colo` (default `"local"`). */
  dispatchFetch(input: string | URL | FetchRequest, init?: DispatchFetchInit): Promise<DispatchFetchResponse>;
}

/** `getKVNamespace(binding, { location })`. */
export interface GetKVNamespaceOptions {
  /** The location (e.g. `"AMS"`; case does not matter) whose view of the
   * namespace to return. Without it, calls run in the location of the request
   * they are made in, else in `"local"`. */
  location?: string;
}

/** The request's `cf` object (as `request.cf` in the Worker). */
export interface DispatchFetchCf {
  /** The data centre the request runs in: with eventual consistency, the location whose KV caches it reads. */
  colo?: string;
  [property: string]: unknown;
}

/** `dispatchFetch`'s init: the environment's RequestInit plus `cf`. */
export type DispatchFetchInit = FetchRequestInit & { cf?: DispatchFetchCf };

/** The value types `get`/`getWithMetadata` can return a value as. */
export type KVNamespaceValueType = "text" | "json" | "arrayBuffer" | "stream";

/** `get(key, { type, cacheTtl })`; `cacheTtl` (≥ 30 s) is how long the reading location caches the answer with `kvConsistency: "eventual"` (default 60), else validated only. */
export interface KVNamespaceGetOptions<Type> {
  type: Type;
  cacheTtl?: number;
}

export interface KVNamespacePutOptions {
  /** Absolute expiry, seconds since the UNIX epoch (at least 60 s ahead). */
  expiration?: number;
  /** Expiry relative to now, in seconds (at least 60); wins over `expiration`. */
  expirationTtl?: number;
  /** Any JSON-serialisable value, at most 1024 bytes as JSON. */
  metadata?: any | null;
}

export interface KVNamespaceListOptions {
  /** Page size, 1–1000 (default 1000). */
  limit?: number;
  prefix?: string | null;
  /** The `cursor` of the previous page. */
  cursor?: string | null;
}

export interface KVNamespaceListKey<Metadata, Key extends string = string> {
  name: Key;
  /** Absolute expiry in seconds since the UNIX epoch; present only when set. */
  expiration?: number;
  /** Present only when set. */
  metadata?: Metadata;
}

/** A page of `list()`: `cursor` exists exactly when `list_complete` is false. */
export type KVNamespaceListResult<Metadata, Key extends string = string> =
  | {
      list_complete: false;
      keys: KVNamespaceListKey<Metadata, Key>[];
      cursor: string;
      cacheStatus: string | null;
    }
  | {
      list_complete: true;
      keys: KVNamespaceListKey<Metadata, Key>[];
      cacheStatus: string | null;
    };

/** `getWithMetadata` result; a missing key gives `value: null, metadata: null`. */
export interface KVNamespaceGetWithMetadataResult<Value, Metadata> {
  value: Value | null;
  metadata: Metadata | null;
  /** Always `null` locally (there is no edge cache). */
  cacheStatus: string | null;
}

/**
 * `get`/`getWithMetadata`'s second argument asking for `Type`: the type name
 * itself or `{ type, cacheTtl }`.
 */
export type KVNamespaceGetType<Type extends KVNamespaceValueType> = Type | KVNamespaceGetOptions<Type>;

/** The default, text: nothing, `"text"`, `{ type: "text" }` or just `{ cacheTtl }`. */
export type KVNamespaceGetTextType = KVNamespaceGetType<"text"> | Partial<KVNamespaceGetOptions<undefined>>;

/**
 * The object a Worker's KV binding is. Obtain one with
 * `Miniflare#getKVNamespace()`; it cannot be constructed directly.
 * Every failure is a rejected promise; a missing or expired key reads as null.
 */
export declare class KVNamespace<Key extends string = string> {
  private constructor();

  // One overload per result type. The non-text ones take `| undefined` so
  // that each stays assignable to workers-types' overloads with an optional
  // options argument; overload order still reads a bare `get(key)` as text.

  get(key: Key, type?: KVNamespaceGetTextType): Promise<string | null>;
  get<ExpectedValue = unknown>(key: Key, type: KVNamespaceGetType<"json"> | undefined): Promise<ExpectedValue | null>;
  get(key: Key, type: KVNamespaceGetType<"arrayBuffer"> | undefined): Promise<ArrayBuffer | null>;
  get(key: Key, type: KVNamespaceGetType<"stream"> | undefined): Promise<ReadableStream | null>;
  /** Bulk read of 1–100 keys ("text" or "json" only): a Map in input order. */
  get(keys: Key[], type?: KVNamespaceGetTextType): Promise<Map<string, string | null>>;
  get<ExpectedValue = unknown>(
    keys: Key[],
    type: KVNamespaceGetType<"json"> | undefined,
  ): Promise<Map<string, ExpectedValue | null>>;

  getWithMetadata<Metadata = unknown>(
    key: Key,
    type?: KVNamespaceGetTextType,
  ): Promise<KVNamespaceGetWithMetadataResult<string, Metadata>>;
  getWithMetadata<ExpectedValue = unknown, Metadata = unknown>(
    key: Key,
    type: KVNamespaceGetType<"json"> | undefined,
  ): Promise<KVNamespaceGetWithMetadataResult<ExpectedValue, Metadata>>;
  getWithMetadata<Metadata = unknown>(
    key: Key,
    type: KVNamespaceGetType<"arrayBuffer"> | undefined,
  ): Promise<KVNamespaceGetWithMetadataResult<ArrayBuffer, Metadata>>;
  getWithMetadata<Metadata = unknown>(
    key: Key,
    type: KVNamespaceGetType<"stream"> | undefined,
  ): Promise<KVNamespaceGetWithMetadataResult<ReadableStream, Metadata>>;
  // Bulk with metadata, typed as @cloudflare/workers-types types it so the
  // two stay assignable. At run time (as in production) a missing key maps to
  // `null` and a present one to `{ value, metadata }`, without `cacheStatus`.
  getWithMetadata<Metadata = unknown>(
    keys: Key[],
    type?: KVNamespaceGetTextType,
  ): Promise<Map<string, KVNamespaceGetWithMetadataResult<string, Metadata>>>;
  getWithMetadata<ExpectedValue = unknown, Metadata = unknown>(
    keys: Key[],
    type: KVNamespaceGetType<"json"> | undefined,
  ): Promise<Map<string, KVNamespaceGetWithMetadataResult<ExpectedValue, Metadata>>>;

  /**
   * Stores a copy of `value` (a ReadableStream is drained first). Values are
   * limited to 25 MiB, keys to 512 UTF-8 bytes.
   */
  put(
    key: Key,
    value: string | ArrayBuffer | ArrayBufferView | ReadableStream,
    options?: KVNamespacePutOptions,
  ): Promise<void>;

  /** Resolves `undefined` whether or not the key existed. */
  delete(key: Key): Promise<void>;

  /** Keys in UTF-8 byte order, at most `limit` (≤ 1000) per page. */
  list<Metadata = unknown>(
    options?: KVNamespaceListOptions,
  ): Promise<KVNamespaceListResult<Metadata, Key>>;
}

/** A running local KV REST API (see `startKvApi`). */
export interface KvApiServer {
  /** Base URL for clients, e.g. `http://127.0.0.1:8788/client/v4`
   * (the `cloudflare` package's `baseURL`). */
  readonly url: string;
  readonly port: number;
  /** The token requests need as `Authorization: Bearer <token>`: `apiToken`,
   * or one generated when listening on an address that is not loopback;
   * `undefined` when none is required. */
  readonly token: string | undefined;
  /** Stops accepting connections, lets requests being answered finish, then
   * closes the connections (and storage it opened itself). */
  close(): Promise<void>;
}

/**
 * Serves Cloudflare's v4 REST API for Workers KV
 * (`/client/v4/accounts/:account/storage/kv/namespaces…`) over `target`: a
 * Miniflare instance (the data its bindings see, in memory too) or a
 * `kvPersist` value (directory, `sled:<path>`, `redis://` URL). Any account
 * id is accepted. `port` 0 (the default) picks a free port. Requests with an
 * `Origin` other than the server's own, or a `Host` that is neither its address
 * nor a loopback name, are refused (403). With `apiToken`, or on a host that is
 * not loopback, `Authorization: Bearer <token>` is required (see `token`).
 */
export declare function startKvApi(
  target: Miniflare | boolean | string,
  options?: { port?: number; host?: string; apiToken?: string },
): Promise<KvApiServer>;

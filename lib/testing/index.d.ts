// Typings for `miniflare-kv/testing` (lib/testing/index.js).
import type { Miniflare } from "../../index";
import type { KVNamespace as BindingKVNamespace } from "../../index";

/** A test framework's hook registrar (`beforeEach`, `afterEach`). */
export type TestHook = (fn: () => Promise<void>) => unknown;

export interface IsolationHooks {
  beforeEach?: TestHook;
  afterEach?: TestHook;
}

/**
 * Registers `beforeEach(() => mf.pushStorage())` and
 * `afterEach(() => mf.popStorage())`, so every test starts from the data that
 * was there before it (e.g. seeded in `beforeAll`) and its writes are undone.
 * `miniflare` is the instance or a function returning it (for an instance
 * created in `beforeAll`). Hooks default to the framework's globals (Jest;
 * Vitest with `globals: true`); pass them otherwise.
 */
export declare function useIsolatedStorage(
  miniflare: Miniflare | (() => Miniflare),
  hooks?: IsolationHooks,
): void;

/**
 * The running test worker's scope: `jest-<JEST_WORKER_ID>`,
 * `vitest-<VITEST_POOL_ID>`, else `pid-<process id>` (and thread id). What
 * `kvNamespaceScope: true` uses.
 */
export declare function testWorkerScope(): string;

/** Options of the test kit (Jest's testEnvironmentOptions, Vitest's
 * `provide.miniflareKv`, useMiniflareKv): what `new Miniflare()` takes. A
 * persistent `kvPersist` without `kvNamespaceScope` gets `kvNamespaceScope: true`. */
export type TestKitOptions = import("../../index").MiniflareOptions;

/** The running kit's bindings, as a Worker's `env` (Miniflare 2's global). */
export declare function getMiniflareBindings<Bindings = Record<string, any>>(): Bindings;

/** The running kit's Miniflare instance (for dispatchFetch, setOptions, …). */
export declare function getMiniflare(): Miniflare;

export interface NodeTestKit {
  /** Resolves once the instance is open (await it in root-level `before` hooks). */
  ready: Promise<void>;
  getMiniflareBindings<Bindings = Record<string, any>>(): Bindings;
  getMiniflare(): Miniflare;
  /** node:test's describe (same arguments) with a storage frame around the block. */
  describe(...args: unknown[]): unknown;
}

/** node:test: one instance for the file, isolated per describe (kv.describe) and test. */
export declare function useMiniflareKv(
  options?: TestKitOptions,
  hooks?: { before: TestHook; after: TestHook; beforeEach: TestHook; afterEach: TestHook; describe: (...args: any[]) => unknown },
): NodeTestKit;

export interface CreateKVNamespaceOptions {
  /** Any `kvPersist` form (default: in memory). */
  kvPersist?: boolean | string;
  /** The namespace id in that store (default `"default"`). */
  id?: string;
}

/** A stand-alone namespace, synchronously (a Redis one connects on first use). */
export declare function createKVNamespace(options?: CreateKVNamespaceOptions): BindingKVNamespace;

/** Closes the store behind a stand-alone namespace; later calls reject. Idempotent. */
export declare function disposeKVNamespace(namespace: BindingKVNamespace): void;

/** @miniflare/kv's in-memory storage, for `new KVNamespace(new MemoryStorage())`. */
export declare class MemoryStorage {}

/** `new KVNamespace(storage?)`, as @miniflare/kv had it: a real KVNamespace. */
export declare const KVNamespace: {
  new <Key extends string = string>(storage?: MemoryStorage): BindingKVNamespace<Key>;
  readonly prototype: BindingKVNamespace;
};
export type KVNamespace<Key extends string = string> = BindingKVNamespace<Key>;

// Typings for `miniflare-kv/testing` (lib/testing/index.js).
import type { Miniflare } from "../../index";

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

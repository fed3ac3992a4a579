// Typings for `miniflare-kv/jest-environment` (lib/testing/jest-environment.js):
// the environment class, and the globals it defines in each test file.
import type { Miniflare } from "../../index";

declare global {
  /** The file's bindings, as a Worker's `env` (Miniflare 2's global). */
  function getMiniflareBindings<Bindings = Record<string, any>>(): Bindings;
  /** The file's Miniflare instance (dispatchFetch, …). */
  function getMiniflare(): Miniflare;
}

/** Jest's node environment with one Miniflare instance per test file. */
declare class MiniflareKvEnvironment {
  constructor(config: unknown, context: unknown);
  setup(): Promise<void>;
  teardown(): Promise<void>;
}
export = MiniflareKvEnvironment;

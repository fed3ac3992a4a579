"use strict";
// `miniflare-kv/testing`: per-test isolated KV storage for Jest, Vitest and
// node:test. Each test starts from the data that was there before it (e.g.
// seeded in beforeAll) and its writes are undone when it ends.
//
// - getMiniflareBindings() / getMiniflare(): the running test kit's bindings
//   and instance (Jest environment, Vitest set-up file, useMiniflareKv()).
// - useMiniflareKv(options): the same kit for node:test.
// - useIsolatedStorage(mf): push/pop hooks around each test for an instance
//   you create yourself.
// - createKVNamespace() / new KVNamespace(new MemoryStorage()): stand-alone
//   namespaces (./standalone.js).

const { testWorkerScope } = require("../scope");
const { TestKit, installKit, uninstallKit, currentKit } = require("./kit");
const { createKVNamespace, disposeKVNamespace, MemoryStorage, KVNamespace } = require("./standalone");

/** The running kit's bindings, as a Worker's `env` (Miniflare 2's global). */
function getMiniflareBindings() {
  return currentKit("getMiniflareBindings()").bindings;
}

/** The running kit's Miniflare instance (dispatchFetch, setOptions, …). */
function getMiniflare() {
  return currentKit("getMiniflare()").miniflare;
}

/**
 * node:test: one Miniflare instance for this file, from `options` (what
 * `new Miniflare()` takes, plus kvSeed), isolated as the Jest environment
 * isolates: the file's and the enclosing `kv.describe` blocks' `before`
 * hooks' writes are kept, each test's are undone. Call it at the top of the
 * file, before your own hooks; a root-level `before` hook of yours that uses
 * KV starts with `await kv.ready`. `hooks` defaults to node:test's.
 */
function useMiniflareKv(options = {}, hooks = require("node:test")) {
  const { before, after, beforeEach, afterEach, describe } = hooks;
  const { Miniflare } = require("../miniflare");
  const kit = new TestKit(Miniflare, options);
  // Opened (and the file's frame pushed) from the start rather than in a
  // `before` hook: Node 20 starts a file's root-level before hooks without
  // waiting for the previous one, so a user's hook could run first. Such a
  // hook awaits `kv.ready`; tests and describe blocks wait for it anyway.
  const ready = kit.open().then(async () => {
    installKit(globalThis, kit);
    await kit.push();
  });
  ready.catch(() => {}); // reported by the before hook below, not as unhandled
  before(() => ready);
  // node:test runs `after` hooks in registration order, so this one runs
  // before after hooks registered later in the file: KV is closed by then.
  after(async () => {
    uninstallKit(globalThis, kit);
    await kit.close();
  });
  beforeEach(() => kit.push());
  afterEach(() => kit.pop());

  /** node:test's describe, with a frame around the block: what its `before`
   * hooks write is seen by its tests and undone when the block ends. */
  function isolatedDescribe(...args) {
    const index = args.findIndex((arg) => typeof arg === "function");
    if (index === -1) return describe(...args);
    const body = args[index];
    args[index] = function (...bodyArgs) {
      before(() => kit.push());
      const result = body.apply(this, bodyArgs);
      after(() => kit.pop()); // registered last: runs after the block's own after hooks
      return result;
    };
    return describe(...args);
  }

  return {
    ready,
    getMiniflareBindings: () => kit.bindings,
    getMiniflare: () => kit.miniflare,
    describe: isolatedDescribe,
  };
}

/**
 * Registers `beforeEach(() => mf.pushStorage())` and
 * `afterEach(() => mf.popStorage())`. `miniflare` is the instance, or a
 * function returning it (for an instance created in `beforeAll`). The hooks
 * come from `hooks`, else from the framework's globals (Jest; Vitest with
 * `globals: true`).
 */
function useIsolatedStorage(miniflare, hooks = {}) {
  const beforeEach = hooks.beforeEach ?? globalThis.beforeEach;
  const afterEach = hooks.afterEach ?? globalThis.afterEach;
  if (typeof beforeEach !== "function" || typeof afterEach !== "function") {
    throw new TypeError(
      "useIsolatedStorage(mf, { beforeEach, afterEach }): no beforeEach/afterEach hooks found. " +
        'Pass them from your test framework (e.g. import { beforeEach, afterEach } from "vitest").',
    );
  }
  if (typeof miniflare !== "function" && !isMiniflare(miniflare)) {
    throw new TypeError("useIsolatedStorage: the first argument must be a Miniflare instance or a function returning one.");
  }
  const resolve = () => {
    const mf = typeof miniflare === "function" ? miniflare() : miniflare;
    if (!isMiniflare(mf)) {
      throw new TypeError(
        "useIsolatedStorage: the function did not return a Miniflare instance (was it created in beforeAll, before this hook?).",
      );
    }
    return mf;
  };
  // The instance whose snapshot this test pushed, or null: a failed push (or
  // a failed earlier hook) must not pop a snapshot someone else pushed.
  let pushedOn = null;
  beforeEach(async () => {
    const mf = resolve();
    await mf.pushStorage();
    pushedOn = mf;
  });
  afterEach(async () => {
    const mf = pushedOn;
    pushedOn = null;
    if (mf !== null) await mf.popStorage();
  });
}

function isMiniflare(value) {
  return (
    value !== null &&
    typeof value === "object" &&
    typeof value.pushStorage === "function" &&
    typeof value.popStorage === "function"
  );
}

module.exports = {
  getMiniflareBindings,
  getMiniflare,
  useMiniflareKv,
  useIsolatedStorage,
  testWorkerScope,
  createKVNamespace,
  disposeKVNamespace,
  MemoryStorage,
  KVNamespace,
};

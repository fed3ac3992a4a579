"use strict";
// `miniflare-kv/testing`: per-test isolated KV storage for Jest, Vitest and
// node:test. Each test starts from the data that was there before it (e.g.
// seeded in beforeAll) and its writes are undone when it ends.

const { testWorkerScope } = require("./scope");

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

module.exports = { useIsolatedStorage, testWorkerScope };

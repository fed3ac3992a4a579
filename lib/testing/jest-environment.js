"use strict";
// `testEnvironment: "miniflare-kv/jest-environment"`: Jest's node environment
// plus one Miniflare instance per test file, built from
// `testEnvironmentOptions` (the names `new Miniflare()` takes, and kvSeed),
// with Miniflare 2's globals and isolation:
//
//   run_describe_start → push   (the file's root block and every describe)
//   test_started       → push   (after skip/todo are ruled out, before beforeEach)
//   test_done          → pop    (after afterEach)
//   run_describe_finish→ pop    (after afterAll)
//
// so a test sees what the file's and its enclosing describes' beforeAll hooks
// wrote, and nothing another test wrote. Concurrent tests (test.concurrent)
// share their describe's frame: their bodies overlap, so no frame of their own.

const { TestKit, installKit, uninstallKit } = require("./kit");
const { requireInContext } = require("./in-context");

let NodeEnvironment;
try {
  ({ TestEnvironment: NodeEnvironment } = require("jest-environment-node"));
} catch (error) {
  const failure = new Error(
    "miniflare-kv/jest-environment needs jest-environment-node (installed with jest): npm install --save-dev jest",
  );
  failure.cause = error;
  throw failure;
}

/** testEnvironmentOptions keys that belong to Jest's node environment itself
 * and are passed on to it; every other key is a Miniflare option. */
const JEST_OWN_OPTIONS = ["customExportConditions", "globalsCleanup"];

class MiniflareKvEnvironment extends NodeEnvironment {
  #kitOptions;
  #rootDir;
  #kit = null;

  constructor(config, context) {
    const { projectConfig } = config;
    const jestOptions = {};
    const kitOptions = {};
    for (const [name, value] of Object.entries(projectConfig.testEnvironmentOptions ?? {})) {
      (JEST_OWN_OPTIONS.includes(name) ? jestOptions : kitOptions)[name] = value;
    }
    // jest-environment-node copies testEnvironmentOptions onto the test's
    // global object: hand it only its own keys.
    super({ ...config, projectConfig: { ...projectConfig, testEnvironmentOptions: jestOptions } }, context);
    this.#kitOptions = kitOptions;
    this.#rootDir = projectConfig.rootDir;
  }

  async setup() {
    await super.setup();
    const { Miniflare } = requireInContext(this.getVmContext(), "index.js");
    const kit = new TestKit(Miniflare, this.#kitOptions, { rootDir: this.#rootDir });
    await kit.open();
    this.#kit = kit;
    installKit(this.global, kit);
    // Miniflare 2's global, and one to reach the instance (dispatchFetch).
    this.global.getMiniflareBindings = () => kit.bindings;
    this.global.getMiniflare = () => kit.miniflare;
  }

  async teardown() {
    const kit = this.#kit;
    this.#kit = null;
    try {
      if (kit !== null) {
        uninstallKit(this.global, kit);
        await kit.close();
      }
    } finally {
      await super.teardown();
    }
  }

  // Not async: Jest awaits this for every event (about eight per test), and
  // with an in-memory store a push or pop completes synchronously, so most
  // calls return undefined instead of a promise.
  handleTestEvent(event, state) {
    const kit = this.#kit;
    if (kit === null) return;
    switch (event.name) {
      case "run_describe_start":
        return this.#push(kit, event, state);
      case "run_describe_finish":
        return this.#pop(kit, event, state);
      case "test_started":
        if (event.test.concurrent) return;
        return this.#push(kit, event, state);
      case "test_done":
        if (event.test.concurrent) return;
        return this.#pop(kit, event, state);
    }
  }

  /** Pushes a frame: synchronously when the store allows it, else (Redis, or
   * not seeded yet) through the kit's promise. */
  #push(kit, event, state) {
    try {
      if (kit.pushNow()) return;
    } catch (error) {
      return this.#report(error, event, state);
    }
    return this.#guard(() => kit.push(), event, state);
  }

  #pop(kit, event, state) {
    try {
      if (kit.popNow()) return;
    } catch (error) {
      return this.#report(error, event, state);
    }
    return this.#guard(() => kit.pop(), event, state);
  }

  async #guard(step, event, state) {
    try {
      await step();
    } catch (error) {
      this.#report(error, event, state);
    }
  }

  /** A failed push or pop fails the test it belongs to (or the file), never
   * the process. */
  #report(error, event, state) {
    if (event.test) event.test.errors.push(error);
    else state.unhandledErrors.push(error);
  }
}

module.exports = MiniflareKvEnvironment;
module.exports.TestEnvironment = MiniflareKvEnvironment;
module.exports.default = MiniflareKvEnvironment;

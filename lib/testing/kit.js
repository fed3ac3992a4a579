"use strict";
// The test kit shared by the Jest environment, the Vitest set-up file and the
// node:test helper: one Miniflare instance per test file, built from the same
// options `new Miniflare()` takes, and a stack of storage frames that the
// framework adapters open and close around describe blocks and tests.
//
// Isolation rule (Miniflare 2's): a frame is pushed when a file, a describe
// block or a test starts and popped when it ends, so a test sees what the
// file's and its enclosing describe blocks' beforeAll hooks wrote, and
// nothing a previous test wrote. In memory a frame is a copy-on-write
// snapshot (microseconds, whatever the size).

const path = require("node:path");
const { resolvePersist } = require("../persist");
const { findWranglerConfig } = require("../config");

/** Where the running kit is published for `getMiniflareBindings()`: a property
 * of the test realm's global object, so every copy of this package loaded in
 * that realm (Jest loads one per test file) finds it. */
const CURRENT_KIT = Symbol.for("miniflare-kv.testKit");

/** Miniflare's synchronous push and pop (lib/miniflare.js defines them; not
 * required from there, so that the Jest environment, which instantiates the
 * copy loaded into the test's vm context, does not load a second copy). */
const PUSH_STORAGE_NOW = Symbol.for("miniflare-kv.pushStorageNow");
const POP_STORAGE_NOW = Symbol.for("miniflare-kv.popStorageNow");

/** Options as the user wrote them, with relative paths made absolute against
 * `rootDir` (Jest's rootDir; the current directory elsewhere, which is what
 * `new Miniflare()` uses anyway). A persistent `kvPersist` without an explicit
 * `kvNamespaceScope` gets `kvNamespaceScope: true`, so that parallel test
 * workers sharing one directory or one Redis never see each other's data. */
function resolveKitOptions(options, rootDir = process.cwd()) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== "object" || Array.isArray(options)) {
    throw new TypeError(`miniflare-kv test options must be an object, e.g. { kvNamespaces: ["NS"] }; got ${typeof options}.`);
  }
  const resolved = { ...options };
  const absolute = (file) => path.resolve(rootDir, file);
  if (typeof resolved.scriptPath === "string" && resolved.scriptPath !== "") {
    resolved.scriptPath = absolute(resolved.scriptPath);
  }
  if (typeof resolved.wranglerConfigPath === "string" && resolved.wranglerConfigPath !== "") {
    resolved.wranglerConfigPath = absolute(resolved.wranglerConfigPath);
  } else if (resolved.wranglerConfigPath === true) {
    // `true` looks in the project root rather than in the current directory.
    const found = findWranglerConfig(rootDir);
    if (found) resolved.wranglerConfigPath = found;
  }
  if (resolved.kvSeed !== null && typeof resolved.kvSeed === "object" && !Array.isArray(resolved.kvSeed)) {
    resolved.kvSeed = Object.fromEntries(
      Object.entries(resolved.kvSeed).map(([binding, file]) => [binding, typeof file === "string" ? absolute(file) : file]),
    );
  }
  let location = "memory:";
  if (resolved.kvPersist !== undefined) {
    // Throws the same TypeError as `new Miniflare()` for a mistyped form.
    location = resolvePersist(resolved.kvPersist, rootDir);
    resolved.kvPersist = location.startsWith("dir:") ? location.slice("dir:".length) : location;
  }
  if (location !== "memory:" && resolved.kvNamespaceScope === undefined) resolved.kvNamespaceScope = true;
  return resolved;
}

class TestKit {
  #Miniflare;
  #options;
  #mf = null;
  #bindings = null;
  #depth = 0;
  #closed = false;

  /** `Miniflare` is the class to instantiate: the Jest environment passes the
   * copy it loaded inside the test's vm context. */
  constructor(Miniflare, options, { rootDir } = {}) {
    this.#Miniflare = Miniflare;
    this.#options = resolveKitOptions(options, rootDir);
  }

  /** Creates the instance and opens every binding (which applies kvSeed), so
   * `getMiniflareBindings()` is synchronous afterwards. Unknown option names
   * throw Miniflare's own TypeError. */
  async open() {
    this.#mf = new this.#Miniflare(this.#options);
    this.#bindings = await this.#mf.getBindings();
    return this;
  }

  get miniflare() {
    if (this.#mf === null || this.#bindings === null) {
      throw new Error("The miniflare-kv test kit is not open yet (node:test: await kv.ready in a root-level before hook).");
    }
    return this.#mf;
  }

  get bindings() {
    this.miniflare; // throws while not open
    return this.#bindings;
  }

  /** Opens a storage frame: what happens until the matching pop is undone. */
  async push() {
    await this.miniflare.pushStorage();
    this.#depth++;
  }

  async pop() {
    if (this.#depth === 0) return; // the matching push failed (and was reported)
    this.#depth--;
    await this.miniflare.popStorage();
  }

  /** push() without waiting, when the store allows it (local, open, seeded):
   * returns true once pushed, or false having done nothing (then call push()).
   * Throws what push() would reject with. A test runner calls this for every
   * test, so the usual in-memory case costs no promise at all. */
  pushNow() {
    if (!this.miniflare[PUSH_STORAGE_NOW]()) return false;
    this.#depth++;
    return true;
  }

  /** pop() without waiting, as pushNow(): true when done, false to call pop(). */
  popNow() {
    if (this.#depth === 0) return true; // as pop(): nothing of ours to pop
    let popped;
    try {
      popped = this.miniflare[POP_STORAGE_NOW]();
    } catch (error) {
      this.#depth--; // as pop(): the frame counts as gone even if restoring it failed
      throw error;
    }
    if (popped) this.#depth--;
    return popped;
  }

  /** Runs `fn` inside a frame. */
  async frame(fn) {
    if (!this.pushNow()) await this.push();
    try {
      return await fn();
    } finally {
      if (!this.popNow()) await this.pop();
    }
  }

  /** Pops what is still pushed (so a persistent store is left as it was when
   * the file started) and disposes the instance. Idempotent. */
  async close() {
    if (this.#closed || this.#mf === null) return;
    this.#closed = true;
    try {
      while (this.#depth > 0) await this.pop();
    } finally {
      await this.#mf.dispose();
    }
  }
}

/** Publishes `kit` on `realmGlobal` (the test realm's global object). */
function installKit(realmGlobal, kit) {
  Object.defineProperty(realmGlobal, CURRENT_KIT, { value: kit, configurable: true, writable: true });
}

function uninstallKit(realmGlobal, kit) {
  if (realmGlobal[CURRENT_KIT] === kit) delete realmGlobal[CURRENT_KIT];
}

function currentKit(caller) {
  const kit = globalThis[CURRENT_KIT];
  if (kit === undefined) {
    throw new Error(
      `${caller}: no miniflare-kv test kit is running. Jest: testEnvironment: "miniflare-kv/jest-environment"; ` +
        'Vitest: setupFiles: ["miniflare-kv/vitest-setup"]; node:test: useMiniflareKv(options) from "miniflare-kv/testing".',
    );
  }
  return kit;
}

module.exports = { TestKit, resolveKitOptions, installKit, uninstallKit, currentKit, CURRENT_KIT };

"use strict";
// `kvNamespaceScope`: gives the namespaces of one Miniflare instance ids of
// their own, so that several test workers can share one directory or one
// Redis server without seeing each other's data. A scope `s` turns the
// namespace id `NS` into `s~NS` (only in storage: bindings keep their names).
//
// Why `~`: the scoped id becomes a directory name, so the separator must be
// legal in file names on every OS (`:` is not on Windows) and need no
// escaping there, in Redis keys or in REST API paths (`~` is an unreserved
// URL character). A scope may only hold characters with the same properties
// and never `~` itself, so `<scope>~<id>` always splits back one way.

const { threadId } = require("node:worker_threads");

/**
 * The scope of the running test worker: `jest-<JEST_WORKER_ID>` under Jest,
 * `vitest-<VITEST_POOL_ID>` under Vitest (ids that no two workers running at
 * the same time share, in process and in thread pools), else
 * `pid-<process id>` (plus `-thread-<id>` in a worker thread).
 */
function testWorkerScope(env = process.env) {
  if (env.JEST_WORKER_ID) return `jest-${env.JEST_WORKER_ID}`;
  if (env.VITEST_POOL_ID) return `vitest-${env.VITEST_POOL_ID}`;
  return threadId === 0 ? `pid-${process.pid}` : `pid-${process.pid}-thread-${threadId}`;
}

const SEPARATOR = "~";
/** Letters, digits and `- _ . + @ =`: file-name safe on Linux, macOS and Windows. */
const SCOPE_CHARACTERS = /^[A-Za-z0-9_.+@=-]+$/;

/** The option → the scope string, or null for none. */
function resolveNamespaceScope(option) {
  if (option === undefined || option === null || option === false) return null;
  if (option === true) return testWorkerScope();
  if (typeof option === "string" && SCOPE_CHARACTERS.test(option)) return option;
  if (typeof option === "string" && option !== "") {
    throw new TypeError(
      `kvNamespaceScope ${JSON.stringify(option)} may only contain letters, digits and - _ . + @ = ` +
        "(it becomes part of directory names, which must be valid on every OS).",
    );
  }
  throw new TypeError(
    "kvNamespaceScope must be true (one scope per test worker), a non-empty string, or false/undefined (no scope).",
  );
}

/** Map<binding, id> → Map<binding, scoped id>. */
function scopeNamespaces(bindings, option) {
  const scope = resolveNamespaceScope(option);
  if (scope === null) return bindings;
  return new Map([...bindings].map(([binding, id]) => [binding, `${scope}${SEPARATOR}${id}`]));
}

module.exports = { testWorkerScope, resolveNamespaceScope, scopeNamespaces };

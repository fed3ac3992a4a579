"use strict";
// Loads this package's JavaScript inside a vm context (the Jest test's), the
// way Jest itself loads a required package: each file is compiled as a
// CommonJS function in that context. So the objects KV hands to the test —
// errors, results, Maps, JSON values — belong to the test's realm
// (`toThrow(TypeError)`, `toStrictEqual` and `instanceof` work), and "now" is
// that realm's `Date.now()`, which `jest.useFakeTimers()` replaces.
//
// Every CommonJS file reached from index.js is compiled in the context — the
// package's own files and its npm dependencies (esbuild checks `instanceof
// RegExp` on what worker.js hands it, so they must share a realm), as Jest
// does. Node built-ins, JSON, native addons and the generated binding.js (the
// native addon, shared by every realm of the process) come from the
// ordinary `require`.

const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { createRequire } = require("node:module");

const PACKAGE_ROOT = path.resolve(__dirname, "..", "..");
const NATIVE_LOADER = path.join(PACKAGE_ROOT, "binding.js");
const WRAPPER_PARAMS = ["exports", "require", "module", "__filename", "__dirname"];

function compiledInContext(file) {
  // A built-in resolves to its bare name (no directory).
  return path.isAbsolute(file) && /\.c?js$/.test(file) && file !== NATIVE_LOADER;
}

/** `require(entry)` evaluated in `context`; a module cache of its own. */
function requireInContext(context, entry) {
  const cache = new Map();
  const load = (file) => {
    const cached = cache.get(file);
    if (cached !== undefined) return cached.exports;
    const module = { exports: {}, id: file, filename: file, loaded: false };
    cache.set(file, module);
    const outerRequire = createRequire(file);
    const localRequire = (request) => {
      const resolved = outerRequire.resolve(request);
      return compiledInContext(resolved) ? load(resolved) : outerRequire(request);
    };
    localRequire.resolve = outerRequire.resolve;
    let fn;
    try {
      fn = vm.compileFunction(fs.readFileSync(file, "utf8"), WRAPPER_PARAMS, { filename: file, parsingContext: context });
    } catch (error) {
      // An ES module dependency (import/export syntax): Node's own loader.
      cache.delete(file);
      if (error instanceof SyntaxError) return outerRequire(file);
      throw error;
    }
    try {
      fn.call(module.exports, module.exports, localRequire, module, file, path.dirname(file));
    } catch (error) {
      cache.delete(file);
      throw error;
    }
    module.loaded = true;
    return module.exports;
  };
  return load(path.resolve(PACKAGE_ROOT, entry));
}

module.exports = { requireInContext };

"use strict";
// Loading and running a Worker script against the KV bindings.
//
// Module workers (`export default { fetch(request, env, ctx) }`) are imported
// with Node's own loader, so relative imports and npm packages resolve from
// the user's project exactly as they would in Node; ./worker-hooks.mjs gives
// every load its own module graph (for reloads and for separate Miniflare
// instances) and handles modulesRules. An inline module `script` is written
// to node_modules/.cache/miniflare-kv/ under the working directory first, so
// its bare imports resolve from the project's node_modules.
//
// Service-worker scripts (`addEventListener("fetch", ...)`) run in a node:vm
// context whose globals are the Web globals plus the bindings.

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { MessageChannel } = require("node:worker_threads");
const { pathToFileURL } = require("node:url");

/** The Web platform globals a Worker may use, as Node provides them. */
const WEB_GLOBALS = [
  "fetch", "Request", "Response", "Headers", "FormData", "Blob", "File",
  "URL", "URLSearchParams", "AbortController", "AbortSignal", "Event", "EventTarget", "DOMException",
  "TextEncoder", "TextDecoder", "TextEncoderStream", "TextDecoderStream",
  "ReadableStream", "ReadableStreamDefaultReader", "ReadableStreamBYOBReader",
  "ReadableStreamDefaultController", "ReadableByteStreamController", "ReadableStreamBYOBRequest",
  "WritableStream", "WritableStreamDefaultWriter", "WritableStreamDefaultController",
  "TransformStream", "TransformStreamDefaultController",
  "ByteLengthQueuingStrategy", "CountQueuingStrategy", "CompressionStream", "DecompressionStream",
  "crypto", "Crypto", "CryptoKey", "SubtleCrypto",
  "setTimeout", "clearTimeout", "setInterval", "clearInterval", "queueMicrotask", "structuredClone",
  "atob", "btoa", "console", "performance", "navigator",
  "MessageChannel", "MessagePort", "MessageEvent", "BroadcastChannel", "WebSocket",
];

/** wrangler's default module rules, applied after the user's. */
const DEFAULT_MODULE_RULES = [
  { type: "Text", include: ["**/*.txt", "**/*.html"] },
  { type: "Data", include: ["**/*.bin"] },
  { type: "CompiledWasm", include: ["**/*.wasm"] },
];
const RULE_TYPES = new Set(["ESModule", "CommonJS", "Text", "Data", "CompiledWasm"]);

/** Miniflare's internal method listing the Worker's files (used by the CLI's --watch). */
const WORKER_FILES = Symbol("miniflare-kv.workerFiles");

const INLINE_SERVICE_WORKER_NAME = "inline-worker.js";

/**
 * The worker part of Miniflare options → a description of what to load, or
 * null when there is no script. Throws TypeError for malformed options.
 */
function resolveWorkerOptions(options, cwd = process.cwd()) {
  const { script, scriptPath, modules, modulesRules } = options;
  if (script !== undefined && typeof script !== "string") {
    throw new TypeError(`script must be the Worker's source code as a string; got ${typeof script}.`);
  }
  if (scriptPath !== undefined && (typeof scriptPath !== "string" || scriptPath === "")) {
    throw new TypeError("scriptPath must be a path to the Worker's script file.");
  }
  if (modules !== undefined && typeof modules !== "boolean") {
    throw new TypeError("modules must be true (ES module Worker) or false (service-worker script).");
  }
  const rules = normaliseRules(modulesRules);
  if (script === undefined && scriptPath === undefined) return null;
  return {
    script,
    scriptPath: scriptPath === undefined ? undefined : path.resolve(cwd, scriptPath),
    modules,
    rules,
    cwd,
  };
}

function normaliseRules(modulesRules) {
  if (modulesRules === undefined || modulesRules === null) return [];
  if (!Array.isArray(modulesRules)) {
    throw new TypeError('modulesRules must be an array of { type, include: ["glob", ...] }.');
  }
  return modulesRules.map((rule, i) => {
    if (!rule || !RULE_TYPES.has(rule.type)) {
      throw new TypeError(`modulesRules[${i}].type must be one of ${[...RULE_TYPES].join(", ")}.`);
    }
    const include = typeof rule.include === "string" ? [rule.include] : rule.include;
    if (!Array.isArray(include) || include.length === 0 || !include.every((g) => typeof g === "string")) {
      throw new TypeError(`modulesRules[${i}].include must be a glob or an array of globs, e.g. ["**/*.txt"].`);
    }
    return { type: rule.type, include };
  });
}

/** True when the source is an ES module (it does not compile as a classic script). */
function looksLikeModule(source, filename) {
  try {
    new vm.Script(source, { filename });
    return false;
  } catch {
    return true;
  }
}

function readScript(file) {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") throw new Error(`Worker script not found: ${file}`);
    throw error;
  }
}

/** Loads the Worker described by `spec` with `env` as its bindings. */
async function loadWorker(spec, env) {
  const source = spec.script ?? readScript(spec.scriptPath);
  const filename = spec.scriptPath ?? (spec.modules === false ? INLINE_SERVICE_WORKER_NAME : undefined);
  const modules = spec.modules ?? looksLikeModule(source, filename ?? INLINE_SERVICE_WORKER_NAME);
  return modules ? ModuleWorker.load(spec, source, env) : ServiceWorker.load(source, filename ?? INLINE_SERVICE_WORKER_NAME, env);
}

// ---------------------------------------------------------------------------
// Loader hooks: registered once, talked to over a MessagePort.

let hooks = null;
let nextLoadId = 0;

function loaderHooks() {
  if (hooks !== null) return hooks;
  const { register } = require("node:module");
  const { port1, port2 } = new MessageChannel();
  register(pathToFileURL(path.join(__dirname, "worker-hooks.mjs")), {
    data: { port: port2 },
    transferList: [port2],
  });
  const waiting = new Map(); // "<type>:<id>" → resolve
  port1.on("message", (message) => {
    const key = `${message.type}:${message.id}`;
    const resolve = waiting.get(key);
    waiting.delete(key);
    if (waiting.size === 0) port1.unref();
    resolve?.(message);
  });
  port1.unref();
  const ask = (message, reply) =>
    new Promise((resolve) => {
      waiting.set(`${reply}:${message.id}`, resolve);
      port1.ref(); // keep the process alive until the loader thread answers
      port1.postMessage(message);
    });
  hooks = {
    register: (id, rootDir, rules) => ask({ type: "register", id, rootDir, rules }, "registered"),
    files: async (id) => (await ask({ type: "files", id }, "files")).files,
    forget: (id) => port1.postMessage({ type: "forget", id }),
  };
  return hooks;
}

let mainContextImport = null;

/**
 * `import()` through Node's own loader (and so through ./worker-hooks.mjs).
 * Test runners that run tests in a vm context (Jest) route a plain `import()`
 * to their own module system, so there the import is made from the main context.
 */
function importWithNodeLoader(url) {
  if (vm.runInThisContext("globalThis") === globalThis) return import(url);
  mainContextImport ??= vm.runInThisContext("(url) => import(url)", {
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  return mainContextImport(url);
}

/** Writes an inline module script where its bare imports resolve from the project. */
function writeInlineModule(source, cwd) {
  const dir = path.join(cwd, "node_modules", ".cache", "miniflare-kv");
  const hash = crypto.createHash("sha256").update(source).digest("hex").slice(0, 16);
  const file = path.join(dir, `worker-${hash}.mjs`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dir, { recursive: true });
    // Write then rename, so a concurrent instance never imports half a file.
    const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(partial, source);
    fs.renameSync(partial, file);
  }
  return file;
}

/**
 * Node does not say where an imported module's SyntaxError is (it keeps that
 * for uncaught errors). Find it with `node --check` on each file the failed
 * load read, and put "file:line", the line and a caret on top of the stack.
 */
async function locateSyntaxError(error, files) {
  const { spawnSync } = require("node:child_process");
  for (const file of files) {
    if (!/\.m?js$/.test(file)) continue;
    let source;
    try {
      source = fs.readFileSync(file, "utf8");
    } catch {
      continue;
    }
    const check = spawnSync(process.execPath, ["--input-type=module", "--check"], { input: source, encoding: "utf8" });
    const located = /^\[stdin\]:(\d+)\n([^\n]*)\n([^\n]*)\n/.exec(check.stderr ?? "");
    if (check.status !== 0 && located) {
      const [, line, code, caret] = located;
      error.stack = `${file}:${line}\n${code}\n${caret}\n\n${error.stack}`;
      return;
    }
  }
}

class ModuleWorker {
  #handler;
  #env;
  #loadId;
  #entry;

  constructor(handler, env, loadId, entry) {
    this.#handler = handler;
    this.#env = env;
    this.#loadId = loadId;
    this.#entry = entry;
  }

  static async load(spec, source, env) {
    const entry = spec.script === undefined ? spec.scriptPath : writeInlineModule(source, spec.cwd);
    const loadId = `${++nextLoadId}`;
    const rootDir = spec.scriptPath === undefined ? spec.cwd : path.dirname(spec.scriptPath);
    const loader = loaderHooks();
    await loader.register(loadId, rootDir, [...spec.rules, ...DEFAULT_MODULE_RULES]);
    let namespace;
    try {
      namespace = await importWithNodeLoader(`${pathToFileURL(entry).href}?mf-kv=${loadId}`);
    } catch (error) {
      if (error instanceof SyntaxError) await locateSyntaxError(error, await loader.files(loadId));
      loader.forget(loadId);
      throw error;
    }
    const handler = namespace.default;
    const name = spec.scriptPath ?? "the inline module script";
    if (handler === undefined || handler === null) {
      loader.forget(loadId);
      throw new TypeError(`${name} has no default export: a module Worker must \`export default { fetch(request, env, ctx) { ... } }\`.`);
    }
    if (typeof handler.fetch !== "function") {
      loader.forget(loadId);
      throw new TypeError(`The default export of ${name} has no fetch() method: a module Worker must \`export default { fetch(request, env, ctx) { ... } }\`.`);
    }
    return new ModuleWorker(handler, env, loadId, entry);
  }

  get kind() {
    return "modules";
  }

  /** Every project file this Worker's module graph loaded. */
  async files() {
    return hooks.files(this.#loadId);
  }

  async dispatch(request) {
    const waitUntil = [];
    const ctx = {
      waitUntil(promise) {
        waitUntil.push(Promise.resolve(promise));
      },
      passThroughOnException() {}, // there is no origin to pass through to
    };
    const response = await this.#handler.fetch(request, this.#env, ctx);
    return checkResponse(response, "The fetch() handler", waitUntil);
  }

  dispose() {
    hooks.forget(this.#loadId);
  }
}

class ServiceWorker {
  #listeners;
  #filename;

  constructor(listeners, filename) {
    this.#listeners = listeners;
    this.#filename = filename;
  }

  static load(source, filename, env) {
    const listeners = [];
    const sandbox = {};
    for (const name of WEB_GLOBALS) {
      if (name in globalThis) sandbox[name] = globalThis[name];
    }
    Object.assign(sandbox, env);
    sandbox.addEventListener = (type, listener) => {
      if (type === "fetch" && typeof listener === "function" && !listeners.includes(listener)) listeners.push(listener);
    };
    sandbox.removeEventListener = (type, listener) => {
      const i = type === "fetch" ? listeners.indexOf(listener) : -1;
      if (i !== -1) listeners.splice(i, 1);
    };
    const context = vm.createContext(sandbox, { name: filename });
    vm.runInContext("globalThis.self = globalThis;", context);
    new vm.Script(source, { filename }).runInContext(context);
    if (listeners.length === 0) {
      throw new TypeError(
        `${filename} added no fetch listener: a service-worker script must call addEventListener("fetch", (event) => event.respondWith(...)).`,
      );
    }
    return new ServiceWorker(listeners, filename);
  }

  get kind() {
    return "service-worker";
  }

  async files() {
    return this.#filename === INLINE_SERVICE_WORKER_NAME ? [] : [this.#filename];
  }

  async dispatch(request) {
    const waitUntil = [];
    let responded = false;
    let response;
    let dispatching = true;
    const event = {
      type: "fetch",
      request,
      respondWith(value) {
        if (!dispatching) throw new Error("respondWith() must be called synchronously in the fetch listener.");
        if (responded) throw new Error("respondWith() has already been called for this request.");
        responded = true;
        response = value;
      },
      waitUntil(promise) {
        waitUntil.push(Promise.resolve(promise));
      },
      passThroughOnException() {},
    };
    try {
      for (const listener of [...this.#listeners]) listener.call(undefined, event);
    } finally {
      dispatching = false;
    }
    if (!responded) {
      throw new Error(`No response: the fetch listener of ${this.#filename} did not call event.respondWith().`);
    }
    return checkResponse(await response, "event.respondWith()", waitUntil);
  }

  dispose() {}
}

/** Ensures the Worker produced a Response and gives it Miniflare's `waitUntil()`. */
function checkResponse(response, source, waitUntil) {
  const isResponse =
    response instanceof Response || (response !== null && typeof response === "object" &&
      Object.prototype.toString.call(response) === "[object Response]");
  if (!isResponse) {
    const got = response === null ? "null" : typeof response === "object" ? `a ${response.constructor?.name ?? "plain"} object` : typeof response;
    throw new TypeError(`${source} of the Worker must give a Response; it gave ${got}.`);
  }
  // A rejected waitUntil() promise must not crash the process: it is reported
  // through response.waitUntil() instead.
  for (const promise of waitUntil) promise.catch(() => {});
  Object.defineProperty(response, "waitUntil", {
    value: () => Promise.all(waitUntil),
    configurable: true,
    writable: true,
    enumerable: false,
  });
  return response;
}

module.exports = { resolveWorkerOptions, loadWorker, WORKER_FILES, WEB_GLOBALS, DEFAULT_MODULE_RULES };

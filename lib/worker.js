"use strict";
// Loading and running a Worker script against the KV bindings.
//
// Module Workers (`export default { fetch(request, env, ctx) }`) are bundled
// with esbuild, as wrangler does: relative imports, npm packages (resolved
// from the user's project, with wrangler's "workerd"/"worker"/"browser"
// conditions), TypeScript (.ts/.tsx/.mts, types stripped, not checked) and
// modulesRules (Text, Data, CompiledWasm) all become one CommonJS-format
// script. That script is compiled with node:vm in Node's main context and
// called like a CommonJS module. Why not Node's ESM loader: test runners
// that run tests in vm contexts (Jest, Vitest's vmThreads/vmForks) refuse
// `module.register()` and route `import()` to their own module systems,
// while node:vm compiles the same way under every runner. And a compiled
// script is garbage once its Worker is dropped, whereas Node never unloads
// an imported module. Each load bundles and evaluates afresh, so every
// Miniflare instance and every reload has its own module state (npm
// packages included, as each deployed Worker has its own copy).
//
// A Worker that uses top-level await cannot be CommonJS: it is bundled as an
// ES module instead, written to node_modules/.cache/miniflare-kv/ and
// imported with Node's main-context loader (see importWithNodeLoader).
//
// Service-worker scripts (`addEventListener("fetch", ...)`) run in a node:vm
// context whose globals are the Web globals plus the bindings; TypeScript
// ones are first transformed by esbuild.
//
// Errors thrown by bundled code have their stack frames mapped back to the
// original files and lines with the bundle's source map.

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { pathToFileURL, fileURLToPath } = require("node:url");

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
  const typescript = spec.scriptPath !== undefined && TYPESCRIPT_EXTENSIONS.test(spec.scriptPath);
  const filename = spec.scriptPath ?? (spec.modules === false ? INLINE_SERVICE_WORKER_NAME : undefined);
  // A TypeScript file's kind is judged from its JavaScript (type annotations
  // would make any file look like a module).
  const transformed = typescript ? await transformTypeScript(source, spec.scriptPath) : null;
  const modules = spec.modules ?? looksLikeModule(transformed?.code ?? source, filename ?? INLINE_SERVICE_WORKER_NAME);
  if (modules) return ModuleWorker.load(spec, source, env);
  return ServiceWorker.load(transformed ?? { code: source }, filename ?? INLINE_SERVICE_WORKER_NAME, env);
}

// ---------------------------------------------------------------------------
// Bundling with esbuild.

const TYPESCRIPT_EXTENSIONS = /\.(ts|tsx|mts|cts)$/i;
const INLINE_MODULE_NAME = "inline-worker.mjs";
/** esbuild's message when a Worker with top-level await is bundled as CommonJS. */
const TOP_LEVEL_AWAIT = /Top-level await is currently not supported with the "cjs" output format/;

/** A Node built-in module, fetched past any test runner's module registry. */
function nodeBuiltin(name) {
  return process.getBuiltinModule?.(name) ?? require(name);
}

let esbuildModule = null;
function esbuild() {
  esbuildModule ??= require("esbuild");
  return esbuildModule;
}

/** esbuild's build failure → the error a user can act on. Syntax errors become a
 * SyntaxError whose stack starts "file:line", the line and a caret, as Node's do. */
function buildError(failure, workingDir) {
  const messages = failure.errors ?? [];
  if (messages.length === 0) return failure;
  const first = messages[0];
  const where = (message) => {
    const location = message.location;
    if (!location) return null;
    const file = location.file === "<stdin>" ? INLINE_MODULE_NAME : path.resolve(workingDir, location.file);
    return { file, line: location.line, column: location.column, lineText: location.lineText };
  };
  const describe = (message) => {
    const at = where(message);
    let text = message.text;
    if (/^No loader is configured for/.test(text)) {
      text += ' (add a modulesRules entry for it, e.g. { type: "Text", include: ["**/*.sql"] })';
    }
    return at ? `${at.file}:${at.line}:${at.column + 1}: ${text}` : text;
  };
  const resolution = /^(Could not resolve|No loader is configured)/.test(first.text);
  if (resolution) {
    const error = new Error(messages.map(describe).join("\n"));
    error.code = "ERR_MODULE_NOT_FOUND";
    return error;
  }
  const error = new SyntaxError(first.text);
  const at = where(first);
  if (at) {
    error.stack = `${at.file}:${at.line}\n${at.lineText}\n${" ".repeat(at.column)}^\n\n${error.stack}`;
  }
  return error;
}

/** wrangler's modulesRules as an esbuild plugin: files a rule matches load as
 * the rule says; every other file is left to esbuild's own loaders. */
function moduleRulesPlugin(rules, rootDir) {
  const picomatch = require("picomatch");
  const compiled = rules.map((rule) => ({ type: rule.type, match: picomatch(rule.include, { dot: true }) }));
  const ruleFor = (file) => {
    const relative = path.relative(rootDir, file);
    const candidate = relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
    const name = candidate.split(path.sep).join("/");
    return compiled.find((rule) => rule.match(name)) ?? null;
  };
  const bytesModule = (file, expression) =>
    `const bytes = Uint8Array.from(atob(${JSON.stringify(fs.readFileSync(file).toString("base64"))}), (c) => c.charCodeAt(0));\n` +
    `export default ${expression};\n`;
  return {
    name: "miniflare-kv-module-rules",
    setup(build) {
      build.onLoad({ filter: /.*/ }, (args) => {
        if (args.namespace !== "file") return undefined;
        switch (ruleFor(args.path)?.type) {
          case "Text":
            return { contents: fs.readFileSync(args.path, "utf8"), loader: "text" };
          case "Data":
            // A Worker's Data module is an ArrayBuffer (esbuild's "binary" loader gives a Uint8Array).
            return { contents: bytesModule(args.path, "bytes.buffer"), loader: "js" };
          case "CompiledWasm":
            return { contents: bytesModule(args.path, "new WebAssembly.Module(bytes)"), loader: "js" };
          case "ESModule":
          case "CommonJS":
            // esbuild tells the two apart by syntax; the rule only makes the file a script.
            return TYPESCRIPT_EXTENSIONS.test(args.path) ? undefined : { contents: fs.readFileSync(args.path, "utf8"), loader: "js" };
          default:
            return undefined;
        }
      });
    },
  };
}

/**
 * Bundles the module Worker into one script. `format`: "cjs" (evaluated with
 * node:vm) or "esm" (for top-level await). → { code, map, files, outfile }.
 */
async function bundleModuleWorker(spec, source, format) {
  const rootDir = spec.scriptPath === undefined ? spec.cwd : path.dirname(spec.scriptPath);
  const outfile = path.join(rootDir, "miniflare-kv-worker-bundle.js"); // never written: names the output for the source map
  const options = {
    absWorkingDir: rootDir,
    bundle: true,
    write: false,
    outfile,
    format,
    platform: "neutral",
    target: "es2022",
    // What wrangler uses, so packages pick their Worker builds.
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["browser", "module", "main"],
    // Node's built-ins stay imports (Workers with nodejs_compat use them).
    external: ["node:*", ...nodeBuiltin("node:module").builtinModules],
    sourcemap: "external",
    sourcesContent: false,
    metafile: true,
    logLevel: "silent",
    plugins: [moduleRulesPlugin([...spec.rules, ...DEFAULT_MODULE_RULES], rootDir)],
  };
  if (spec.script !== undefined) {
    options.stdin = { contents: source, resolveDir: spec.cwd, sourcefile: INLINE_MODULE_NAME, loader: "js" };
  } else {
    options.entryPoints = [spec.scriptPath];
  }
  let result;
  try {
    result = await esbuild().build(options);
  } catch (failure) {
    throw buildError(failure, rootDir);
  }
  const code = result.outputFiles.find((file) => !file.path.endsWith(".map")).text;
  const map = JSON.parse(result.outputFiles.find((file) => file.path.endsWith(".map")).text);
  const files = Object.keys(result.metafile.inputs)
    .filter((input) => input !== "<stdin>" && !input.includes(":"))
    .map((input) => path.resolve(rootDir, input))
    .filter((file) => !file.split(path.sep).includes("node_modules"));
  return { code, map, files, outfile };
}

/** A TypeScript service-worker script → { code, map, outfile } (types stripped). */
async function transformTypeScript(source, file) {
  const loader = /\.tsx$/i.test(file) ? "tsx" : "ts";
  try {
    const result = await esbuild().transform(source, { loader, sourcefile: file, sourcemap: "external", sourcesContent: false, target: "es2022" });
    return { code: result.code, map: JSON.parse(result.map), outfile: file };
  } catch (failure) {
    throw buildError(failure, path.dirname(file));
  }
}

/**
 * Rewrites stack frames that point into generated code (`generatedName`:line:column)
 * to the original file, line and column, using the source map. Errors are
 * changed in place (their `stack`), once.
 */
class StackMapper {
  #pattern;
  #sourceMap;
  #sourceDir;
  #mapped = new WeakSet();

  constructor(generatedName, map, outfile) {
    const { SourceMap } = nodeBuiltin("node:module");
    this.#sourceMap = SourceMap ? new SourceMap(map) : null;
    this.#sourceDir = path.dirname(outfile);
    const escaped = generatedName.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    this.#pattern = new RegExp(`${escaped}:(\\d+):(\\d+)`, "g");
  }

  map(error) {
    if (this.#sourceMap === null || error === null || typeof error !== "object" || this.#mapped.has(error)) return error;
    let stack;
    try {
      stack = error.stack;
    } catch {
      return error;
    }
    if (typeof stack !== "string") return error;
    const mapped = stack.replace(this.#pattern, (frame, line, column) => {
      const entry = this.#sourceMap.findEntry(Number(line) - 1, Number(column) - 1);
      if (!entry || entry.originalSource === undefined) return frame;
      const original = entry.originalSource;
      // An inline script has no file: its frames say "inline-worker.mjs".
      const source = original === INLINE_MODULE_NAME ? original
        : original.startsWith("file:") ? fileURLToPath(original) : path.resolve(this.#sourceDir, original);
      return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
    });
    try {
      Object.defineProperty(error, "stack", { value: mapped, writable: true, configurable: true, enumerable: false });
      this.#mapped.add(error);
    } catch {
      // A frozen error keeps its generated positions.
    }
    return error;
  }
}

// ---------------------------------------------------------------------------
// Evaluating the bundle.

let nextLoadId = 0;

/** The CommonJS-format bundle → its exports, evaluated in Node's main context
 * (node:vm compiles there under Jest and Vitest's vm pools too). */
function evaluateScriptBundle(code, filename, mapper) {
  const requireBuiltin = (id) => {
    const name = id.startsWith("node:") ? id : `node:${id}`;
    const module = nodeBuiltin("node:module").isBuiltin?.(name) ? nodeBuiltin(name) : undefined;
    if (module === undefined) throw new Error(`Cannot find module '${id}': a Worker can only require Node's built-in modules.`);
    return module;
  };
  const module = { exports: {} };
  try {
    const evaluate = vm.compileFunction(code, ["exports", "require", "module"], { filename });
    evaluate.call(module.exports, module.exports, requireBuiltin, module);
  } catch (error) {
    throw mapper.map(error);
  }
  const exports = module.exports;
  // esbuild marks an ES module's exports with __esModule; a CommonJS entry's
  // module.exports is its default export, as Node's import() gives it.
  return exports !== null && typeof exports === "object" && exports.__esModule ? exports : { default: exports };
}

let mainContextImport = null;

/**
 * `import()` through Node's own loader. Test runners that run tests in a vm
 * context (Jest, Vitest's vm pools) route a plain `import()` to their own
 * module system, so there the import is made from the main context.
 */
function importWithNodeLoader(url) {
  if (vm.runInThisContext("globalThis") === globalThis) return import(url);
  mainContextImport ??= vm.runInThisContext("(url) => import(url)", {
    importModuleDynamically: vm.constants?.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  return mainContextImport(url);
}

/**
 * Writes the ES module bundle (top-level await) where Node can import it: a
 * file in the project's node_modules/.cache, named by content hash. Returns
 * its real path, which is what Node names in stack frames (node_modules may
 * be a symlink).
 */
function writeModuleBundle(code, cwd) {
  const hash = crypto.createHash("sha256").update(code).digest("hex").slice(0, 16);
  const file = path.join(cwd, "node_modules", ".cache", "miniflare-kv", `worker-${hash}.mjs`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    // Write then rename, so a concurrent instance never imports half a file.
    const partial = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(partial, code);
    fs.renameSync(partial, file);
  }
  return fs.realpathSync(file);
}

class ModuleWorker {
  #handler;
  #env;
  #files;
  #mapper;

  constructor(handler, env, files, mapper) {
    this.#handler = handler;
    this.#env = env;
    this.#files = files;
    this.#mapper = mapper;
  }

  static async load(spec, source, env) {
    const loadId = ++nextLoadId;
    let bundle;
    let format = "cjs";
    try {
      bundle = await bundleModuleWorker(spec, source, format);
    } catch (error) {
      if (!TOP_LEVEL_AWAIT.test(error.message)) throw error;
      format = "esm";
      bundle = await bundleModuleWorker(spec, source, format);
    }
    const name = spec.scriptPath ?? "the inline module script";
    let namespace;
    if (format === "cjs") {
      const filename = `${spec.scriptPath ?? path.join(spec.cwd, INLINE_MODULE_NAME)} [bundle ${loadId}]`;
      const mapper = new StackMapper(filename, bundle.map, bundle.outfile);
      namespace = evaluateScriptBundle(bundle.code, filename, mapper);
      return ModuleWorker.#checked(namespace, name, env, bundle.files, mapper);
    }
    // `?load=` makes each load a new module instance of the same file.
    const url = `${pathToFileURL(writeModuleBundle(bundle.code, spec.cwd)).href}?load=${loadId}`;
    const mapper = new StackMapper(url, bundle.map, bundle.outfile);
    try {
      namespace = await importWithNodeLoader(url);
    } catch (error) {
      throw mapper.map(error);
    }
    return ModuleWorker.#checked(namespace, name, env, bundle.files, mapper);
  }

  static #checked(namespace, name, env, files, mapper) {
    const handler = namespace.default;
    if (handler === undefined || handler === null) {
      throw new TypeError(`${name} has no default export: a module Worker must \`export default { fetch(request, env, ctx) { ... } }\`.`);
    }
    if (typeof handler.fetch !== "function") {
      throw new TypeError(`The default export of ${name} has no fetch() method: a module Worker must \`export default { fetch(request, env, ctx) { ... } }\`.`);
    }
    return new ModuleWorker(handler, env, files, mapper);
  }

  get kind() {
    return "modules";
  }

  /** Every project file (not node_modules) the Worker's bundle was made of. */
  async files() {
    return [...this.#files];
  }

  async dispatch(request) {
    const waitUntil = [];
    const mapper = this.#mapper;
    const ctx = {
      waitUntil(promise) {
        waitUntil.push(Promise.resolve(promise).catch((error) => Promise.reject(mapper.map(error))));
      },
      passThroughOnException() {}, // there is no origin to pass through to
    };
    let response;
    try {
      response = await this.#handler.fetch(request, this.#env, ctx);
    } catch (error) {
      throw mapper.map(error);
    }
    return checkResponse(response, "The fetch() handler", waitUntil);
  }

  dispose() {
    // Nothing to release: the bundle's code is garbage once this Worker is.
  }
}

class ServiceWorker {
  #listeners;
  #filename;
  #mapper;

  constructor(listeners, filename, mapper) {
    this.#listeners = listeners;
    this.#filename = filename;
    this.#mapper = mapper;
  }

  /** `script`: { code } or, from TypeScript, { code, map, outfile }. */
  static load(script, filename, env) {
    // Only transformed (TypeScript) code has positions to map back.
    const mapper = script.map ? new StackMapper(filename, script.map, script.outfile) : null;
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
    try {
      new vm.Script(script.code, { filename }).runInContext(context);
    } catch (error) {
      throw mapper?.map(error) ?? error;
    }
    if (listeners.length === 0) {
      throw new TypeError(
        `${filename} added no fetch listener: a service-worker script must call addEventListener("fetch", (event) => event.respondWith(...)).`,
      );
    }
    return new ServiceWorker(listeners, filename, mapper);
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
    } catch (error) {
      throw this.#mapper?.map(error) ?? error;
    } finally {
      dispatching = false;
    }
    if (!responded) {
      throw new Error(`No response: the fetch listener of ${this.#filename} did not call event.respondWith().`);
    }
    let settled;
    try {
      settled = await response;
    } catch (error) {
      throw this.#mapper?.map(error) ?? error;
    }
    return checkResponse(settled, "event.respondWith()", waitUntil);
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

"use strict";
// wrangler configuration (wrangler.toml, wrangler.json, wrangler.jsonc) →
// Miniflare options. Read: `main`, `kv_namespaces` (binding and
// `preview_id ?? id`, as `wrangler dev` does), `vars`, `[build.upload]
// format`, `[miniflare] kv_persist` and `kv_consistency`, and `[env.<name>]` sections. Options
// given explicitly to Miniflare override what the file says; `vars` and the
// `bindings` option are merged name by name, `bindings` winning (Miniflare 2's
// order). Bindings of kinds this package does not emulate (D1, R2, Durable
// Objects, …) are listed under UNSUPPORTED_BINDINGS for one warning.

const fs = require("node:fs");
const path = require("node:path");
const { resolvePersist } = require("./persist");

/** Looked for in this order, as wrangler does. */
const CONFIG_FILE_NAMES = ["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

class WranglerConfigError extends Error {
  constructor(message) {
    super(message);
    this.name = "WranglerConfigError";
  }
}

/** The wrangler config file in `dir`, or null. */
function findWranglerConfig(dir = process.cwd()) {
  for (const name of CONFIG_FILE_NAMES) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

function lineAndColumn(text, offset) {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return { line, column: offset - before.lastIndexOf("\n") };
}

/** Parses the file as TOML or JSONC (by extension); syntax errors name file, line and column. */
function parseWranglerConfig(file) {
  let text;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (error) {
    if (error.code === "ENOENT") throw new WranglerConfigError(`wrangler config not found: ${file}`);
    throw new WranglerConfigError(`cannot read wrangler config ${file}: ${error.message}`);
  }
  let config;
  if (file.endsWith(".toml")) {
    const { parse, TomlError } = require("smol-toml");
    try {
      config = parse(text);
    } catch (error) {
      if (!(error instanceof TomlError)) throw error;
      const [problem, ...excerpt] = error.message.replace(/^Invalid TOML document: /, "").split("\n");
      throw new WranglerConfigError(
        `${file}:${error.line}:${error.column}: ${problem}\n${excerpt.join("\n")}`.trimEnd(),
      );
    }
  } else {
    const { parse, printParseErrorCode } = require("jsonc-parser");
    const errors = [];
    config = parse(text, errors, { allowTrailingComma: true, disallowComments: false });
    if (errors.length > 0) {
      const { error, offset } = errors[0];
      const { line, column } = lineAndColumn(text, offset);
      throw new WranglerConfigError(`${file}:${line}:${column}: ${describeJsoncError(printParseErrorCode(error))}`);
    }
  }
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new WranglerConfigError(`${file}: the configuration must be a table/object at the top level.`);
  }
  return config;
}

/** jsonc-parser's error codes ("CommaExpected") → words ("comma expected"). */
function describeJsoncError(code) {
  return code.replace(/([a-z])([A-Z])/g, "$1 $2").toLowerCase();
}

function isTable(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** The top level, or the top level overlaid with `[env.<name>]` the way wrangler
 * inherits: `main`, `build` and `miniflare` are inherited; bindings
 * (`kv_namespaces`, `vars`, …) are not. */
function selectEnvironment(config, envName, file) {
  if (envName === undefined || envName === null || envName === "") return config;
  const envs = isTable(config.env) ? config.env : {};
  const env = envs[envName];
  if (!isTable(env)) {
    const known = Object.keys(envs);
    throw new WranglerConfigError(
      `${file}: there is no environment "${envName}" (an [env.${envName}] section)` +
        (known.length ? `; environments: ${known.join(", ")}.` : "; the file defines no environments."),
    );
  }
  const effective = {};
  for (const key of ["main", "build", "miniflare"]) {
    if (config[key] !== undefined) effective[key] = config[key];
  }
  return { ...effective, ...env };
}

/** The Miniflare options a wrangler config file gives. Paths are made absolute against the file's directory. */
function optionsFromWranglerConfig(file, envName) {
  const config = selectEnvironment(parseWranglerConfig(file), envName, file);
  const where = envName ? `${file} [env.${envName}]` : file;
  const dir = path.dirname(file);
  const options = {};

  if (config.main !== undefined) {
    if (typeof config.main !== "string" || config.main === "") {
      throw new WranglerConfigError(`${where}: main must be the path of the Worker's entry script.`);
    }
    options.scriptPath = path.resolve(dir, config.main);
  }

  const format = config.build?.upload?.format;
  if (format !== undefined) {
    if (format !== "modules" && format !== "service-worker") {
      throw new WranglerConfigError(`${where}: build.upload.format must be "modules" or "service-worker"; got ${JSON.stringify(format)}.`);
    }
    options.modules = format === "modules";
  }

  if (config.kv_namespaces !== undefined) {
    if (!Array.isArray(config.kv_namespaces)) {
      throw new WranglerConfigError(`${where}: kv_namespaces must be an array of { binding, id } tables.`);
    }
    const namespaces = {};
    config.kv_namespaces.forEach((entry, i) => {
      const at = `${where}: kv_namespaces[${i}]`;
      if (!isTable(entry)) throw new WranglerConfigError(`${at} must be a table { binding = "...", id = "..." }.`);
      if (typeof entry.binding !== "string" || entry.binding === "") {
        throw new WranglerConfigError(`${at}.binding must be a non-empty string.`);
      }
      for (const key of ["id", "preview_id"]) {
        if (entry[key] !== undefined && (typeof entry[key] !== "string" || entry[key] === "")) {
          throw new WranglerConfigError(`${at}.${key} must be a non-empty string.`);
        }
      }
      // Local development uses the preview namespace when there is one, like `wrangler dev`.
      namespaces[entry.binding] = entry.preview_id ?? entry.id ?? entry.binding;
    });
    options.kvNamespaces = namespaces;
  }

  if (config.vars !== undefined) {
    if (!isTable(config.vars)) {
      throw new WranglerConfigError(`${where}: vars must be a table of NAME = value (strings, or JSON values).`);
    }
    // Strings stay strings; other values are bound as JSON values, as wrangler
    // does (a TOML date becomes its ISO string, as JSON.stringify gives it).
    options.vars = JSON.parse(JSON.stringify(config.vars));
  }

  const unsupported = unsupportedBindings(config);
  if (unsupported.length > 0) options[UNSUPPORTED_BINDINGS] = unsupported;

  const persist = config.miniflare?.kv_persist;
  if (persist !== undefined) {
    if (persist === true) options.kvPersist = path.join(dir, ".mf", "kv");
    else if (persist === false) options.kvPersist = false;
    else if (typeof persist === "string" && persist !== "") {
      // The same rules as the kvPersist option (a bare "memory" or "ture" is
      // refused, not made a directory of that name), with paths relative to
      // the file; then handed on in a form that means the same from any cwd.
      let resolved;
      try {
        resolved = resolvePersist(persist, dir);
      } catch (error) {
        throw new WranglerConfigError(`${where}: miniflare.kv_persist: ${error.message}`);
      }
      options.kvPersist = resolved === "memory:" ? false : resolved.startsWith("dir:") ? resolved.slice(4) : resolved;
    } else {
      throw new WranglerConfigError(`${where}: miniflare.kv_persist must be true, false, a path or a URL.`);
    }
  }
  // kv_consistency = "eventual": per-location caches (lib/api/consistency.js).
  const consistency = config.miniflare?.kv_consistency;
  if (consistency !== undefined) {
    if (consistency !== "strong" && consistency !== "eventual") {
      throw new WranglerConfigError(`${where}: miniflare.kv_consistency must be "strong" or "eventual"; got ${JSON.stringify(consistency)}.`);
    }
    options.kvConsistency = consistency;
  }
  return options;
}

/** Options key (a symbol, so option validation never sees it): the binding
 * kinds of the config that are not bound, e.g. ["d1_databases (DB)"]. */
const UNSUPPORTED_BINDINGS = Symbol("miniflare-kv.unsupportedBindings");

/** wrangler binding kinds with no emulation here → where their names are. */
const BINDING_KINDS = {
  d1_databases: "binding",
  r2_buckets: "binding",
  durable_objects: "bindings.name",
  services: "binding",
  queues: "producers.binding",
  analytics_engine_datasets: "binding",
  hyperdrive: "binding",
  vectorize: "binding",
  mtls_certificates: "binding",
  send_email: "name",
  dispatch_namespaces: "binding",
  workflows: "binding",
  pipelines: "binding",
  secrets_store_secrets: "binding",
  ratelimits: "name",
  ai: "binding",
  browser: "binding",
  images: "binding",
  version_metadata: "binding",
  assets: "binding",
  wasm_modules: "*",
  text_blobs: "*",
  data_blobs: "*",
  unsafe: "bindings.name",
};

/** "d1_databases (DB, OTHER)" for each binding kind in `config` that is not emulated. */
function unsupportedBindings(config) {
  const found = [];
  for (const [kind, namePath] of Object.entries(BINDING_KINDS)) {
    const value = config[kind];
    if (value === undefined || value === null) continue;
    // `assets` without a binding serves files; it binds nothing.
    if (kind === "assets" && !(isTable(value) && typeof value.binding === "string")) continue;
    const names = bindingNames(value, namePath);
    found.push(names.length ? `${kind} (${names.join(", ")})` : kind);
  }
  return found;
}

function bindingNames(value, namePath) {
  if (namePath === "*") return isTable(value) ? Object.keys(value) : [];
  const [first, ...rest] = namePath.split(".");
  if (rest.length > 0) {
    // e.g. durable_objects.bindings[].name, queues.producers[].binding
    return isTable(value) ? bindingNames(value[first], rest.join(".")) : [];
  }
  const entries = Array.isArray(value) ? value : [value];
  return entries.map((entry) => (isTable(entry) ? entry[first] : undefined)).filter((name) => typeof name === "string");
}

const FILE_OPTIONS = ["scriptPath", "modules", "kvNamespaces", "kvPersist", "kvConsistency"];

/**
 * Options with the wrangler config applied underneath them. `wranglerConfigPath`:
 * true → wrangler.json / wrangler.jsonc / wrangler.toml in `cwd` if there is one;
 * a string → that file (which must exist). `wranglerConfigEnv` picks `[env.<name>]`.
 */
function withWranglerConfig(options, cwd = process.cwd()) {
  const { wranglerConfigPath, wranglerConfigEnv } = options;
  if (wranglerConfigPath === undefined || wranglerConfigPath === false || wranglerConfigPath === null) {
    if (wranglerConfigEnv !== undefined) {
      throw new TypeError("wranglerConfigEnv needs wranglerConfigPath (true or the path of wrangler.toml).");
    }
    return options;
  }
  if (wranglerConfigEnv !== undefined && typeof wranglerConfigEnv !== "string") {
    throw new TypeError("wranglerConfigEnv must be the name of an [env.<name>] section.");
  }
  let file;
  if (wranglerConfigPath === true) {
    file = findWranglerConfig(cwd);
    if (file === null) {
      if (wranglerConfigEnv) {
        throw new WranglerConfigError(`wranglerConfigEnv is "${wranglerConfigEnv}" but there is no ${CONFIG_FILE_NAMES.join(", ")} in ${cwd}.`);
      }
      return options;
    }
  } else if (typeof wranglerConfigPath === "string" && wranglerConfigPath !== "") {
    file = path.resolve(cwd, wranglerConfigPath);
  } else {
    throw new TypeError("wranglerConfigPath must be true (find wrangler.toml/.json/.jsonc) or a file path.");
  }
  const fromFile = optionsFromWranglerConfig(file, wranglerConfigEnv);
  const merged = { ...options };
  // An explicit script (inline or path) replaces the file's `main`.
  const explicitScript = options.script !== undefined || options.scriptPath !== undefined;
  for (const key of FILE_OPTIONS) {
    if (key === "scriptPath" && explicitScript) continue;
    if (merged[key] === undefined && fromFile[key] !== undefined) merged[key] = fromFile[key];
  }
  // vars under the explicit `bindings`, name by name (Miniflare 2: options win over the file).
  if (fromFile.vars !== undefined) {
    const explicit = isTable(options.bindings) ? options.bindings : undefined;
    merged.bindings = options.bindings === undefined || explicit ? { ...fromFile.vars, ...explicit } : options.bindings;
  }
  if (fromFile[UNSUPPORTED_BINDINGS]) merged[UNSUPPORTED_BINDINGS] = fromFile[UNSUPPORTED_BINDINGS];
  return merged;
}

module.exports = {
  CONFIG_FILE_NAMES,
  WranglerConfigError,
  findWranglerConfig,
  parseWranglerConfig,
  optionsFromWranglerConfig,
  withWranglerConfig,
  UNSUPPORTED_BINDINGS,
};

"use strict";
// `miniflare kv …`: wrangler's KV commands, run against the data this package
// persists (a directory, a sled database or Redis), so a project can seed and
// inspect the KV data its Worker reads locally.
//
//   kv namespace create|list|delete|rename
//   kv key put|get|delete|list
//   kv bulk put|get|delete
//
// `kv:namespace`, `kv:key` and `kv:bulk` (wrangler 1–3 spellings) are aliases.
// `--binding` resolves through the wrangler config exactly as `new Miniflare()`
// and the `miniflare` server do (lib/config.js: `preview_id ?? id ?? binding`,
// `[env.<name>]` with `--env`), so what these commands write is what
// `getKVNamespace()` and `dispatchFetch()` read. Output follows wrangler's
// wording. Every KV rule (validation, limits, bulk formats) is in the Rust
// core; this file parses flags, resolves the namespace and prints.

const fs = require("node:fs");
const path = require("node:path");
const { InvalidArgumentError } = require("commander");
const { NativeStore, splitBulkRequest } = require("../binding");
const { KVNamespace, CONSTRUCT } = require("./namespace");
const { resolvePersist } = require("./persist");
const { findWranglerConfig, parseWranglerConfig, optionsFromWranglerConfig } = require("./config");

/** A user error: printed as one line (`miniflare: …`), exit code 1. */
class KvCommandError extends Error {}

/** More than this many pairs in a bulk file: print progress lines. */
const PROGRESS_THRESHOLD = 1000;
/** Warnings about ignored properties shown before "… and N more". */
const MAX_WARNINGS_SHOWN = 12;
/** wrangler's rule for binding names (they become JavaScript identifiers). */
const BINDING_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseSeconds(value) {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError("must be a whole number of seconds.");
  return Number(value);
}

function relative(file) {
  return path.relative(process.cwd(), file) || file;
}

/** Native errors carry their class in `code`; the message is what users see. */
function messageOf(error) {
  return error instanceof Error ? error.message : String(error);
}

// ------------------------------------------------------------------ context

/** The wrangler config (if any), the Miniflare options it gives, and --env. */
function loadConfig(flags) {
  const env = flags.env;
  let file = null;
  if (flags.config !== undefined) file = path.resolve(flags.config);
  else file = findWranglerConfig(process.cwd());
  if (file === null) {
    if (env !== undefined) {
      throw new KvCommandError(
        `--env ${env} needs a wrangler config (wrangler.toml, wrangler.json or wrangler.jsonc) in ${process.cwd()}; pass -c <file>.`,
      );
    }
    return { file: null, raw: null, options: {}, env };
  }
  const raw = parseWranglerConfig(file);
  const options = optionsFromWranglerConfig(file, env);
  return { file, raw, options, env, where: env ? `${relative(file)} [env.${env}]` : relative(file) };
}

/** Where KV data lives when nothing says otherwise: `.mf/kv` next to the
 * wrangler config (as wrangler keeps its state next to the config, and as
 * `kv_persist = true` resolves), or in the current directory without one.
 * Also what the server's `--kv-persist` without a value means. */
function defaultPersistDir(configFile) {
  return path.join(configFile ? path.dirname(configFile) : process.cwd(), ".mf", "kv");
}

/** A normalised location (lib/persist.js) as a `--kv-persist` value to show
 * and paste: paths relative to the current directory when inside it, Redis
 * passwords hidden, shell-quoted when needed. */
function showLocation(location) {
  const shownPath = (file) => {
    const rel = path.relative(process.cwd(), file);
    return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? file : `.${path.sep}${rel}`;
  };
  let text;
  if (location.startsWith("dir:")) text = shownPath(location.slice(4));
  else if (location.startsWith("sled:")) text = `sled:${shownPath(location.slice(5))}`;
  else if (location.startsWith("wrangler:")) text = `wrangler:${shownPath(location.slice(9))}`;
  else if (/^rediss?:/i.test(location)) {
    const url = new URL(location);
    if (url.password) url.password = "***";
    text = url.href;
  } else text = location;
  return /^[\w@%+=:,./\\-]+$/.test(text) ? text : `'${text.replace(/'/g, "'\\''")}'`;
}

/** The file or directory a local location is stored in; null for Redis. */
function localPath(location) {
  if (location.startsWith("dir:")) return location.slice(4);
  if (location.startsWith("sled:")) return location.slice(5);
  if (location.startsWith("wrangler:")) return location.slice(9);
  return null;
}

/** After a write: where it went, and the server flag that serves it (on
 * stderr, so stdout stays the command's own output). */
function printWhere(location) {
  const shown = showLocation(location);
  console.error(`KV data: ${shown} (serve it with: miniflare --kv-persist ${shown})`);
}

/** The storage location: --persist-to / --kv-persist, else the config's
 * `[miniflare] kv_persist`, else `.mf/kv` (defaultPersistDir). */
function persistLocation(flags, config) {
  if (flags.persistTo !== undefined && flags.kvPersist !== undefined) {
    throw new KvCommandError("Conflicting options: --persist-to and --kv-persist cannot be used together. Please provide only one.");
  }
  const given = flags.persistTo ?? flags.kvPersist;
  let location;
  if (given !== undefined) location = resolvePersist(given);
  else if (config.options.kvPersist === false) {
    throw new KvCommandError(
      `${config.where} keeps KV in memory (miniflare.kv_persist = false), which no other process can see: pass --persist-to <dir | redis:// URL | sled:path>.`,
    );
  } else location = resolvePersist(config.options.kvPersist ?? defaultPersistDir(config.file));
  if (location === "memory:") {
    throw new KvCommandError(
      "in-memory KV lives only as long as one process: pass --persist-to <dir | redis:// URL | sled:path> (the server's --kv-persist).",
    );
  }
  return location;
}

async function openStore(location) {
  return /^rediss?:\/\//i.test(location) ? NativeStore.connect(location) : new NativeStore(location);
}

/** The config's `kv_namespaces` entries for the selected environment. */
function configEntries(config) {
  if (config.raw === null) return [];
  const section = config.env ? config.raw.env[config.env] : config.raw;
  return Array.isArray(section.kv_namespaces) ? section.kv_namespaces : [];
}

/** Every namespace id the config mentions, in any environment. */
function configIds(config) {
  const ids = new Set();
  if (config.raw === null) return ids;
  const sections = [config.raw, ...Object.values(config.raw.env ?? {})];
  for (const section of sections) {
    for (const entry of section?.kv_namespaces ?? []) {
      if (entry?.id) ids.add(entry.id);
      if (entry?.preview_id) ids.add(entry.preview_id);
      if (entry?.binding && !entry.id && !entry.preview_id) ids.add(entry.binding);
    }
  }
  return ids;
}

/** --binding or --namespace-id → namespace id (checked to exist). */
async function resolveNamespace(flags, config, store) {
  const { binding, namespaceId, preview } = flags;
  if (binding !== undefined && namespaceId !== undefined) {
    throw new KvCommandError("Conflicting options: --binding and --namespace-id cannot be used together. Please provide only one.");
  }
  if (binding === undefined && namespaceId === undefined) {
    throw new KvCommandError("Missing required option: exactly one of --binding and --namespace-id must be provided");
  }
  if (namespaceId !== undefined) {
    if (preview !== undefined) throw new KvCommandError("--preview only applies with --binding.");
    const known = configIds(config).has(namespaceId) || (await store.namespaceExists(namespaceId, Date.now()));
    if (!known) {
      throw new KvCommandError(
        `KV namespace "${namespaceId}" not found: it is not registered (miniflare kv namespace list), not bound in the wrangler config and holds no data. Create it with \`miniflare kv namespace create <name>\`.`,
      );
    }
    return namespaceId;
  }
  if (config.file === null) {
    throw new KvCommandError(
      `--binding ${binding} needs a wrangler config (wrangler.toml, wrangler.json or wrangler.jsonc) in ${process.cwd()}; pass -c <file>, or use --namespace-id.`,
    );
  }
  const entry = configEntries(config).find((e) => e?.binding === binding);
  if (entry === undefined) {
    const known = configEntries(config).map((e) => e?.binding).filter(Boolean);
    throw new KvCommandError(
      `no KV namespace with binding "${binding}" in ${config.where}` +
        (known.length ? ` (bindings: ${known.join(", ")}).` : " (it has no kv_namespaces)."),
    );
  }
  if (preview === true) {
    if (!entry.preview_id) throw new KvCommandError(`binding "${binding}" in ${config.where} has no preview_id.`);
    return entry.preview_id;
  }
  if (preview === false) {
    if (!entry.id) throw new KvCommandError(`binding "${binding}" in ${config.where} has no id.`);
    return entry.id;
  }
  // What the Worker reads: `preview_id ?? id ?? binding`, as lib/config.js resolves it.
  return config.options.kvNamespaces[binding];
}

/**
 * Runs a command body with the config and an open store; closes the store.
 * `readOnly` commands never create anything: where a directory or sled
 * database does not exist yet, they read an empty in-memory store instead
 * (`where.missing` is then the location, for messages).
 */
async function withStore(flags, body, { readOnly = false } = {}) {
  const config = loadConfig(flags);
  const location = persistLocation(flags, config);
  const file = localPath(location);
  const missing = readOnly && file !== null && !fs.existsSync(file) ? location : null;
  const store = missing ? new NativeStore("memory:") : await openStore(location);
  try {
    return await body(store, config, { location, missing });
  } finally {
    store.dispose();
  }
}

async function withNamespace(flags, body, options) {
  return withStore(
    flags,
    async (store, config, where) => {
      const id = await resolveNamespace(flags, config, store);
      const ns = new KVNamespace(CONSTRUCT, store.namespace(id));
      return body({ store, config, id, ns, ...where });
    },
    options,
  );
}

/** The bindings (Map<binding, namespace id>) whose namespace holds data at
 * `location`, an existing local store (for the server's banner). */
async function namespacesWithData(location, bindings) {
  const store = await openStore(location);
  try {
    const found = [];
    for (const [binding, id] of bindings) {
      if (await store.namespaceExists(id, Date.now())) found.push(binding);
    }
    return found;
  } finally {
    store.dispose();
  }
}

/** For reads of a location that does not exist yet: say so (stderr). */
function noteMissing(missing) {
  if (missing) console.error(`miniflare: no KV data at ${showLocation(missing)} yet (nothing was created).`);
}

function readFileOrFail(file, encoding) {
  try {
    return fs.readFileSync(file, encoding);
  } catch (error) {
    if (error.code === "ENOENT") throw new KvCommandError(`${file}: no such file.`);
    throw new KvCommandError(`cannot read ${file}: ${error.message}`);
  }
}

/** Asks on a terminal; elsewhere (scripts, CI) the answer is yes, as in wrangler. */
async function confirm(question) {
  if (!process.stdin.isTTY) return true;
  const readline = require("node:readline"); // here, not at the top: only prompts need it
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await new Promise((resolve) => rl.question(`${question} (y/N) `, resolve));
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

function parseMetadataFlag(text) {
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new KvCommandError(`--metadata must be valid JSON. Received: ${text}`);
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new KvCommandError(`--metadata must be a JSON object. Received: ${text}`);
  }
  return value;
}

/** Every key of the namespace (all pages). */
async function listAll(ns, prefix) {
  const keys = [];
  let cursor;
  do {
    const page = await ns.list({ prefix, cursor });
    for (const { name, expiration, metadata } of page.keys) {
      const key = { name };
      if (expiration !== undefined) key.expiration = expiration;
      if (metadata !== undefined) key.metadata = metadata;
      keys.push(key);
    }
    cursor = page.list_complete ? undefined : page.cursor;
  } while (cursor !== undefined);
  return keys;
}

// ----------------------------------------------------------------- commands

async function namespaceCreate(name, flags) {
  const binding = flags.binding ?? name;
  if (!BINDING_NAME.test(binding)) {
    throw new KvCommandError(
      `The namespace binding name "${binding}" is invalid. It can only have alphanumeric and _ characters, and cannot begin with a number.`,
    );
  }
  await withStore(flags, async (store, config, { location }) => {
    const worker = typeof config.raw?.name === "string" && config.raw.name !== "" ? config.raw.name : "worker";
    const title = `${worker}${config.env ? `-${config.env}` : ""}-${name}${flags.preview ? "_preview" : ""}`;
    console.log(`🌀 Creating namespace with title "${title}"`);
    const { id } = await store.createNamespace(title);
    const idField = flags.preview ? "preview_id" : "id";
    const json = config.file !== null && !config.file.endsWith(".toml");
    console.log("✨ Success!");
    console.log(
      `Add the following to your configuration file in your kv_namespaces array${config.env ? ` under [env.${config.env}]` : ""}:`,
    );
    console.log(json ? `{ "binding": "${binding}", "${idField}": "${id}" }` : `{ binding = "${binding}", ${idField} = "${id}" }`);
    printWhere(location);
  });
}

async function namespaceList(flags) {
  await withStore(
    flags,
    async (store, config, { location, missing }) => {
      const namespaces = await store.namespaces();
      // wrangler keeps titles in the account, not locally: on its store the
      // namespaces it wrote are listed too, titled by their id.
      if (location.startsWith("wrangler:")) {
        for (const id of await store.dataNamespaces(Date.now())) namespaces.push({ id, title: id });
      }
      namespaces.sort((a, b) => (a.title < b.title ? -1 : a.title > b.title ? 1 : 0));
      const shown = namespaces.map(({ id, title }) => ({ id, title, supports_url_encoding: true }));
      console.log(JSON.stringify(shown, null, 2));
      noteMissing(missing);
    },
    { readOnly: true },
  );
}

/** `[name]` (a title), --binding or --namespace-id → id. */
async function namespaceBySelector(name, flags, store, config) {
  const given = [name !== undefined, flags.binding !== undefined, flags.namespaceId !== undefined].filter(Boolean).length;
  if (given !== 1) {
    throw new KvCommandError(
      given === 0
        ? "Missing required option: exactly one of a namespace name, --binding and --namespace-id must be provided"
        : "Conflicting options: a namespace name, --binding and --namespace-id cannot be used together. Please provide only one.",
    );
  }
  if (name === undefined) return resolveNamespace(flags, config, store);
  const match = (await store.namespaces()).find((info) => info.title === name);
  if (match === undefined) throw new KvCommandError(`No KV namespace with the title "${name}" (miniflare kv namespace list).`);
  return match.id;
}

async function namespaceDelete(name, flags) {
  await withStore(flags, async (store, config, { location }) => {
    const id = await namespaceBySelector(name, flags, store, config);
    if (!flags.skipConfirmation && !(await confirm(`Are you sure you want to delete the KV namespace ${id} and all of its data?`))) {
      console.log("Not deleting.");
      return;
    }
    console.log(`Deleting KV namespace ${id}.`);
    await store.deleteNamespace(id, Date.now());
    console.log(`Deleted KV namespace ${id}.`);
    printWhere(location);
  });
}

async function namespaceRename(oldName, flags) {
  await withStore(flags, async (store, config, { location }) => {
    if (oldName !== undefined && flags.namespaceId !== undefined) {
      throw new KvCommandError("Conflicting options: a namespace name and --namespace-id cannot be used together. Please provide only one.");
    }
    let id = flags.namespaceId;
    if (id === undefined) {
      if (oldName === undefined) {
        throw new KvCommandError("Missing required option: exactly one of a namespace name and --namespace-id must be provided");
      }
      id = await namespaceBySelector(oldName, {}, store, config);
    }
    console.log(`Renaming KV namespace ${id} to "${flags.newName}".`);
    const info = await store.renameNamespace(id, flags.newName);
    console.log(`✨ Successfully renamed namespace to "${info.title}"`);
    printWhere(location);
  });
}

async function keyPut(key, value, flags) {
  if ((value === undefined) === (flags.path === undefined)) {
    throw new KvCommandError(
      value === undefined
        ? "Missing value: pass one after the key, or --path <file> to read it from a file."
        : "Conflicting arguments: a value and --path cannot be used together. Please provide only one.",
    );
  }
  const metadata = flags.metadata === undefined ? undefined : parseMetadataFlag(flags.metadata);
  const bytes = flags.path === undefined ? value : readFileOrFail(flags.path);
  await withNamespace(flags, async ({ id, ns, location }) => {
    await ns.put(key, bytes, { expiration: flags.expiration, expirationTtl: flags.ttl, metadata });
    const what = flags.path === undefined ? `the value "${value}" to key` : `the contents of ${flags.path} to the key`;
    const withMetadata = metadata === undefined ? "" : ` with metadata "${JSON.stringify(metadata)}"`;
    console.log(`Writing ${what} "${key}" on namespace ${id}${withMetadata}.`);
    printWhere(location);
  });
}

async function keyGet(key, flags) {
  await withNamespace(
    flags,
    async ({ id, ns, location, missing }) => {
      const value = await ns.get(key, "arrayBuffer");
      if (value === null) {
        const where = missing ? `There is no KV data at ${showLocation(missing)} yet.` : `(KV data: ${showLocation(location)})`;
        throw new KvCommandError(`Value not found: no key "${key}" in namespace ${id}. ${where}`);
      }
      if (flags.text) console.log(new TextDecoder().decode(value));
      else await new Promise((resolve, reject) => process.stdout.write(Buffer.from(value), (e) => (e ? reject(e) : resolve())));
    },
    { readOnly: true },
  );
}

async function keyDelete(key, flags) {
  await withNamespace(flags, async ({ id, ns, location }) => {
    await ns.delete(key);
    console.log(`Deleting the key "${key}" on namespace ${id}.`);
    printWhere(location);
  });
}

async function keyList(flags) {
  await withNamespace(
    flags,
    async ({ ns, missing }) => {
      console.log(JSON.stringify(await listAll(ns, flags.prefix), null, 2));
      noteMissing(missing);
    },
    { readOnly: true },
  );
}

/** A bulk file split into requests; syntax errors name the file. */
function readBulkFile(file) {
  const text = readFileOrFail(file, "utf8");
  try {
    return splitBulkRequest(text);
  } catch (error) {
    throw new KvCommandError(`${file}: ${messageOf(error)}`);
  }
}

function printWarnings(file, warnings) {
  if (warnings.length === 0) return;
  console.error(`Unexpected key-value properties in "${file}" (ignored):`);
  for (const line of warnings.slice(0, MAX_WARNINGS_SHOWN)) console.error(`  ${line}`);
  if (warnings.length > MAX_WARNINGS_SHOWN) console.error(`  … and ${warnings.length - MAX_WARNINGS_SHOWN} more`);
}

/**
 * Checks every batch, then applies them in order, each one a whole request
 * (see kv-core's NamespaceAdmin for what a crash leaves on each backend).
 * `apply(batch, checkOnly)` → { count, warnings }.
 */
async function runBulk(file, batches, { verb, done: doneWord }, apply) {
  const total = batches.reduce((sum, b) => sum + b.count, 0);
  const warnings = [];
  for (const batch of batches) {
    try {
      warnings.push(...(await apply(batch, true)).warnings);
    } catch (error) {
      throw new KvCommandError(`${file}: ${messageOf(error)} (nothing was ${doneWord})`);
    }
  }
  printWarnings(file, warnings);
  if (batches.length > 1) {
    console.log(
      `${file} holds ${total} entries: applying them as ${batches.length} batches (a request takes at most 10,000 pairs and 100 MB).`,
    );
  }
  let done = 0;
  for (const [i, batch] of batches.entries()) {
    try {
      await apply(batch, false);
    } catch (error) {
      const kept = done ? ` (batches 1–${i}, ${done} entries, were ${doneWord}; the rest was not)` : ` (nothing was ${doneWord})`;
      throw new KvCommandError(`batch ${i + 1} of ${batches.length} failed: ${messageOf(error)}${kept}`);
    }
    done += batch.count;
    if (total > PROGRESS_THRESHOLD) console.log(`${verb} ${Math.floor((done * 100) / total)}% (${done} out of ${total})`);
  }
  console.log("Success!");
}

async function bulkPut(file, flags) {
  const batches = readBulkFile(file);
  await withNamespace(flags, async ({ store, id, location }) => {
    // One clock for checking and writing: an expiration valid when checked stays valid.
    const now = Date.now();
    await runBulk(file, batches, { verb: "Uploaded", done: "written" }, (batch, checkOnly) => store.putBulk(id, batch.json, batch.first, now, checkOnly));
    printWhere(location);
  });
}

async function bulkDelete(file, flags) {
  const batches = readBulkFile(file);
  await withNamespace(flags, async ({ store, id, location }) => {
    for (const batch of batches) {
      try {
        await store.deleteBulk(id, batch.json, batch.first, true);
      } catch (error) {
        throw new KvCommandError(`${file}: ${messageOf(error)} (nothing was deleted)`);
      }
    }
    if (!flags.force && !(await confirm(`Are you sure you want to delete all the keys read from "${file}" from kv-namespace ${id}?`))) {
      console.log(`Not deleting keys read from "${file}".`);
      return;
    }
    await runBulk(file, batches, { verb: "Deleted", done: "deleted" }, (batch, checkOnly) => store.deleteBulk(id, batch.json, batch.first, checkOnly));
    printWhere(location);
  });
}

async function bulkGet(file, flags) {
  const batches = readBulkFile(file);
  await withNamespace(
    flags,
    async ({ store, id, ns, missing }) => {
      const result = {};
      for (const batch of batches) {
        try {
          // The delete format is the key-list format: this validates every key.
          await store.deleteBulk(id, batch.json, batch.first, true);
        } catch (error) {
          throw new KvCommandError(`${file}: ${messageOf(error)}`);
        }
        for (const item of JSON.parse(batch.json)) {
          const key = typeof item === "string" ? item : item.name;
          result[key] = { value: await ns.get(key) };
        }
      }
      console.log(JSON.stringify(result, null, 2));
      noteMissing(missing);
    },
    { readOnly: true },
  );
}

// ------------------------------------------------------------- registration

/** Options every kv command takes. */
function common(command) {
  return command
    .option("-c, --config <path>", "wrangler config file (default: wrangler.json, wrangler.jsonc or wrangler.toml if present)")
    .option("-e, --env <name>", "use the [env.<name>] section of the wrangler config")
    .option("--persist-to <location>", "KV data: a directory, redis:// URL or sled:<path> (default: the config's [miniflare] kv_persist, else ./.mf/kv)")
    .option("--kv-persist <location>", "same as --persist-to (the server's flag)")
    .option("--local", "accepted for wrangler compatibility (always local)")
    .option("--remote", "not supported: this is a local emulator");
}

function namespaceSelector(command) {
  return command
    .option("--binding <name>", "the namespace bound under this name in the wrangler config")
    .option("--namespace-id <id>", "the namespace with this id")
    .option("--preview", "with --binding: its preview_id")
    .option("--no-preview", "with --binding: its id (default: preview_id ?? id, as the Worker reads)");
}

function addNamespaceCommands(parent, run) {
  parent
    .command("create")
    .description("Create a namespace (title: <worker name>[-<env>]-<namespace>)")
    .argument("<namespace>", "the new namespace's name (and binding, unless --binding)")
    .option("--binding <name>", "binding name to print in the configuration snippet")
    .option("--preview", "a preview namespace (title suffix _preview, snippet with preview_id)")
    .action(run((name, flags) => namespaceCreate(name, flags)));
  parent.command("list").description("List the namespaces as JSON").action(run((flags) => namespaceList(flags)));
  parent
    .command("delete")
    .description("Delete a namespace and all of its data")
    .argument("[namespace]", "the namespace's title")
    .option("--binding <name>", "the namespace bound under this name in the wrangler config")
    .option("--namespace-id <id>", "the namespace with this id")
    .option("--preview", "with --binding: its preview_id")
    .option("--no-preview", "with --binding: its id")
    .option("-y, --skip-confirmation", "do not ask for confirmation")
    .action(run((name, flags) => namespaceDelete(name, flags)));
  parent
    .command("rename")
    .description("Rename a namespace")
    .argument("[old-name]", "the namespace's current title")
    .option("--namespace-id <id>", "the namespace with this id")
    .requiredOption("--new-name <title>", "the new title")
    .action(run((oldName, flags) => namespaceRename(oldName, flags)));
  for (const command of parent.commands) common(command);
}

function addKeyCommands(parent, run) {
  namespaceSelector(
    parent
      .command("put")
      .description("Write a single key/value pair")
      .argument("<key>", "the key")
      .argument("[value]", "the value (or --path)")
      .option("--path <file>", "read the value from this file (binary-safe)")
      .option("--ttl <seconds>", "expire this many seconds from now (at least 60)", parseSeconds)
      .option("--expiration <seconds>", "expire at this UNIX time in seconds", parseSeconds)
      .option("--metadata <json>", "metadata: a JSON object")
      .action(run((key, value, flags) => keyPut(key, value, flags))),
  );
  namespaceSelector(
    parent
      .command("get")
      .description("Print a key's value (raw bytes; --text for UTF-8 text and a newline)")
      .argument("<key>", "the key")
      .option("--text", "decode the value as UTF-8 text")
      .action(run((key, flags) => keyGet(key, flags))),
  );
  namespaceSelector(
    parent
      .command("delete")
      .description("Delete a key")
      .argument("<key>", "the key")
      .action(run((key, flags) => keyDelete(key, flags))),
  );
  namespaceSelector(
    parent
      .command("list")
      .description("List keys as JSON")
      .option("--prefix <prefix>", "only keys starting with this")
      .action(run((flags) => keyList(flags))),
  );
  for (const command of parent.commands) common(command);
}

function addBulkCommands(parent, run) {
  namespaceSelector(
    parent
      .command("put")
      .description("Write the pairs of a JSON file: [{key, value, expiration?, expiration_ttl?, metadata?, base64?}]")
      .argument("<filename>", "the JSON file")
      .action(run((file, flags) => bulkPut(file, flags))),
  );
  namespaceSelector(
    parent
      .command("get")
      .description("Print the values of the keys in a JSON file: [\"key\", …] or [{name}]")
      .argument("<filename>", "the JSON file")
      .action(run((file, flags) => bulkGet(file, flags))),
  );
  namespaceSelector(
    parent
      .command("delete")
      .description("Delete the keys in a JSON file: [\"key\", …], [{name}] or the bulk put format [{key, …}]")
      .argument("<filename>", "the JSON file")
      .option("-f, --force", "do not ask for confirmation")
      .action(run((file, flags) => bulkDelete(file, flags))),
  );
  for (const command of parent.commands) common(command);
}

/**
 * Adds `kv …` (and the `kv:…` aliases) to the `miniflare` program. Returns
 * `{ ran, exitCode }`, filled in when one of them ran.
 */
function addKvCommands(program) {
  const state = { ran: false, exitCode: 0 };
  // Options after `kv` belong to the kv command (`-c`, `-e` mean other things
  // to the server); the server's own flags still work after its script.
  program.enablePositionalOptions();

  /** Wraps an action: errors become one line and exit code 1. */
  const run = (body) =>
    async function (...args) {
      state.ran = true;
      const command = args[args.length - 1];
      const flags = command.opts();
      try {
        if (flags.remote) throw new KvCommandError("--remote is not supported: these commands work on local data only.");
        await body(...args.slice(0, -2), flags);
      } catch (error) {
        const text = messageOf(error).replace(/\s*\n\s*/g, " ");
        console.error(`miniflare: ${text}`);
        state.exitCode = 1;
      }
      // bin/miniflare.js exits right after: let a long listing reach the pipe first.
      await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((resolve) => stream.write("", resolve))));
    };

  const kv = program.command("kv").description("Manage local Workers KV data like `wrangler kv`: namespaces, keys, bulk files");
  addNamespaceCommands(kv.command("namespace").description("Create, list, rename and delete namespaces"), run);
  addKeyCommands(kv.command("key").description("Write, read, list and delete single keys"), run);
  addBulkCommands(kv.command("bulk").description("Write, read and delete many keys from a JSON file"), run);
  require("./kv-transfer").addTransferCommands(kv, run, { common, namespaceSelector }); // kv export / kv import

  // wrangler 1–3 spellings.
  addNamespaceCommands(program.command("kv:namespace", { hidden: true }), run);
  addKeyCommands(program.command("kv:key", { hidden: true }), run);
  addBulkCommands(program.command("kv:bulk", { hidden: true }), run);
  return state;
}

module.exports = {
  addKvCommands,
  KvCommandError,
  defaultPersistDir,
  showLocation,
  namespacesWithData,
  // for `kv explore` (lib/cli/explore.js)
  loadConfig,
  persistLocation,
  configEntries,
  // for `kv export` / `kv import` (lib/kv-transfer.js)
  openStore,
  resolveNamespace,
};

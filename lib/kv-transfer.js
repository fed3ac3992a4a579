"use strict";
// Moving KV data between stores, one JSON object per line:
//
//   {"namespace":"<id>","key":"k","value":"text"}
//   {"namespace":"<id>","key":"bin","value":"AP8=","base64":true,"expiration":1800000000,"metadata":{"a":1}}
//
// `value` is the UTF-8 text when the bytes are valid UTF-8 (so they round-trip
// exactly), else base64 with `base64: true`; `expiration` is UNIX seconds;
// `metadata` the parsed JSON. Each line is also a `kv bulk put` entry, so the
// same lines seed a namespace (lib/seed.js).
//
//   miniflare kv export (--binding B | --namespace-id ID | --all) [--output file] [--persist-to …]
//   miniflare kv import [file | -] [--binding B | --namespace-id ID] [--persist-to …]
//
// Both stream: export reads one list page (1000 keys) at a time and waits for
// the output to drain; import writes batches of 1000 lines. Progress goes to
// stderr, so stdout can be piped from one store into another:
//
//   miniflare kv export --all --persist-to ./.mf/kv | miniflare kv import --persist-to wrangler:.wrangler/state
//
// Import writes what the API can write: an entry that has expired, or that
// expires less than 60 s from now (the API's minimum), is skipped and counted.
// Batches are validated before they are written; an invalid line stops the
// import there (earlier batches stay written) with its line number.

const fs = require("node:fs");
const { once } = require("node:events");
const { KVNamespace, CONSTRUCT } = require("./namespace");

const BATCH = 1000;
const PROGRESS_EVERY = 10_000;
const MIN_EXPIRATION_AHEAD = 60;
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// kv-commands.js requires this file: take its helpers when a command runs.
const commands = () => require("./kv-commands");

/** One exported line for a listed key and its value bytes. */
function exportLine(namespace, name, bytes, expiration, metadata) {
  const entry = namespace === undefined ? { key: name } : { namespace, key: name };
  try {
    entry.value = utf8.decode(bytes);
  } catch {
    entry.value = Buffer.from(bytes).toString("base64");
    entry.base64 = true;
  }
  if (expiration !== undefined) entry.expiration = expiration;
  if (metadata !== undefined && metadata !== null) entry.metadata = metadata;
  return `${JSON.stringify(entry)}\n`;
}

/** Every namespace of a store worth exporting: registered, holding data, or named in the config. */
async function allNamespaces(store, config) {
  const ids = new Set((await store.namespaces()).map((info) => info.id));
  if (typeof store.dataNamespaces === "function") for (const id of await store.dataNamespaces(Date.now())) ids.add(id);
  for (const entry of commands().configEntries(config)) {
    const id = entry?.preview_id ?? entry?.id ?? entry?.binding;
    if (id && (await store.namespaceExists(id, Date.now()))) ids.add(id);
  }
  return [...ids].sort();
}

async function write(out, text) {
  if (!out.write(text)) await once(out, "drain");
}

async function exportCommand(flags) {
  const { loadConfig, persistLocation, openStore, resolveNamespace, KvCommandError } = commands();
  const config = loadConfig(flags);
  const store = await openStore(persistLocation(flags, config));
  const out = flags.output ? fs.createWriteStream(flags.output) : process.stdout;
  let count = 0;
  try {
    let ids;
    if (flags.all) {
      if (flags.binding !== undefined || flags.namespaceId !== undefined) {
        throw new KvCommandError("--all exports every namespace: do not combine it with --binding or --namespace-id.");
      }
      ids = await allNamespaces(store, config);
    } else {
      ids = [await resolveNamespace(flags, config, store)];
    }
    for (const id of ids) {
      const ns = new KVNamespace(CONSTRUCT, store.namespace(id));
      let cursor;
      do {
        const page = await ns.list({ cursor });
        for (const key of page.keys) {
          const got = await ns.getWithMetadata(key.name, "arrayBuffer");
          if (got.value === null) continue; // deleted since it was listed
          await write(out, exportLine(id, key.name, new Uint8Array(got.value), key.expiration, got.metadata));
          if (++count % PROGRESS_EVERY === 0) console.error(`Exported ${count} keys…`);
        }
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor !== undefined);
    }
    console.error(`Exported ${count} key${count === 1 ? "" : "s"} from ${ids.length} namespace${ids.length === 1 ? "" : "s"}.`);
  } finally {
    if (out !== process.stdout) {
      out.end();
      await once(out, "close");
    }
    store.dispose();
  }
}

/** Reads export lines (or any bulk-put entries, one per line) and writes them in batches. */
async function importLines(lines, { store, target, where, now = Date.now() }) {
  const { KvCommandError } = commands();
  let batch = [];
  let batchNamespace;
  let firstLine = 0;
  let written = 0;
  let skipped = 0;
  let lineNumber = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await store.putBulk(batchNamespace, JSON.stringify(batch), 0, now, false);
    } catch (error) {
      throw new KvCommandError(`${where}: lines ${firstLine}–${lineNumber} (entries numbered from 0 in this batch): ${error.message}`);
    }
    written += batch.length;
    if (Math.floor(written / PROGRESS_EVERY) !== Math.floor((written - batch.length) / PROGRESS_EVERY)) {
      console.error(`Imported ${written} keys…`);
    }
    batch = [];
  };
  for await (const line of lines) {
    lineNumber++;
    if (line.trim() === "") continue;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch (error) {
      throw new KvCommandError(`${where}:${lineNumber}: not a JSON line (${error.message}).`);
    }
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw new KvCommandError(`${where}:${lineNumber}: expected a {"key", "value"} object.`);
    }
    const namespace = target ?? entry.namespace;
    if (typeof namespace !== "string" || namespace === "") {
      throw new KvCommandError(`${where}:${lineNumber}: the line names no namespace: pass --binding or --namespace-id.`);
    }
    const { namespace: _dropped, ...rest } = entry;
    if (typeof rest.expiration === "number" && rest.expiration < Math.floor(now / 1000) + MIN_EXPIRATION_AHEAD) {
      skipped++;
      continue;
    }
    if (namespace !== batchNamespace || batch.length === BATCH) {
      await flush();
      batchNamespace = namespace;
      firstLine = lineNumber;
    }
    batch.push(rest);
  }
  await flush();
  return { written, skipped };
}

async function importCommand(file, flags) {
  const { loadConfig, persistLocation, openStore, resolveNamespace } = commands();
  const config = loadConfig(flags);
  const store = await openStore(persistLocation(flags, config));
  try {
    const selected = flags.binding !== undefined || flags.namespaceId !== undefined;
    const target = selected ? await resolveNamespaceForImport(resolveNamespace, flags, config, store) : undefined;
    const fromStdin = file === undefined || file === "-";
    const input = fromStdin ? process.stdin : fs.createReadStream(file);
    const where = fromStdin ? "stdin" : file;
    const readline = require("node:readline"); // here, not at the top: only import needs it
    const lines = readline.createInterface({ input, crlfDelay: Infinity });
    const { written, skipped } = await importLines(lines, { store, target, where });
    const note = skipped ? ` (${skipped} skipped: expired or expiring within ${MIN_EXPIRATION_AHEAD} s)` : "";
    console.error(`Imported ${written} key${written === 1 ? "" : "s"}${note}.`);
  } finally {
    store.dispose();
  }
}

/** --namespace-id may name a namespace that does not exist yet: an import creates it. */
async function resolveNamespaceForImport(resolveNamespace, flags, config, store) {
  if (flags.namespaceId !== undefined && flags.binding === undefined) return flags.namespaceId;
  return resolveNamespace(flags, config, store);
}

/** Adds `kv export` and `kv import` under `kv` (called from lib/kv-commands.js). */
function addTransferCommands(kv, run, { common, namespaceSelector }) {
  const exporter = namespaceSelector(
    kv
      .command("export")
      .description("Write a namespace (or --all) as JSON lines: {namespace, key, value, base64?, expiration?, metadata?}")
      .option("--all", "every namespace of the store")
      .option("-o, --output <file>", "write to this file instead of stdout")
      .action(run((flags) => exportCommand(flags))),
  );
  const importer = namespaceSelector(
    kv
      .command("import")
      .description("Write the JSON lines of `kv export` (or bulk-put entries, one per line) into the store")
      .argument("[file]", "the file (default: stdin)")
      .action(run((file, flags) => importCommand(file, flags))),
  );
  common(exporter);
  common(importer);
}

module.exports = { addTransferCommands, exportLine, importLines };

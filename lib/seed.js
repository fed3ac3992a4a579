"use strict";
// `new Miniflare({ kvSeed: { BINDING: "fixtures/ns.json" } })`: fills the
// namespace bound as BINDING from a file before the first KV call (the first
// getKVNamespace(), getBindings(), dispatchFetch(), pushStorage() waits for it).
//
// The file is either a `kv bulk put` file (a JSON array of {key, value,
// expiration?, expiration_ttl?, metadata?, base64?}) or the JSON lines of
// `miniflare kv export` (a line's `namespace` is ignored: the binding decides).
// Paths are relative to process.cwd(). Seeding writes the file's keys (over
// whatever those keys held) and leaves other keys alone; it runs once per
// instance, and again only if setOptions() changes kvSeed or kvPersist. A bad
// file rejects those calls with the file name and the entry at fault.

const fs = require("node:fs");
const path = require("node:path");
const readline = require("node:readline");
const { splitBulkRequest } = require("../binding");

/** Miniflare instance → { key, plan, promise, done }. */
const seeds = new WeakMap();

class SeedError extends Error {}

/** Called from Miniflare's option handling: checks kvSeed and remembers what to seed. */
function planSeed(mf, kvSeed, bindings, location) {
  if (kvSeed === undefined || kvSeed === null) {
    seeds.delete(mf);
    return;
  }
  if (typeof kvSeed !== "object" || Array.isArray(kvSeed)) {
    throw new TypeError('kvSeed must be an object of binding → file, e.g. { NS: "fixtures/ns.json" }.');
  }
  const plan = [];
  for (const [binding, file] of Object.entries(kvSeed)) {
    if (typeof file !== "string" || file === "") {
      throw new TypeError(`kvSeed.${binding} must be a file path (a bulk put JSON file or JSON lines).`);
    }
    const id = bindings.get(binding);
    if (id === undefined) {
      throw new TypeError(`kvSeed.${binding}: no such binding in kvNamespaces (configured: ${[...bindings.keys()].join(", ") || "none"}).`);
    }
    plan.push({ binding, id, file: path.resolve(file) });
  }
  const key = JSON.stringify([location, plan]);
  if (seeds.get(mf)?.key !== key) seeds.set(mf, { key, plan, promise: null, done: false });
}

/** Resolves `store` once this instance's seed files are in it (seeding on first call). */
function seeded(mf, store) {
  const seed = seeds.get(mf);
  if (seed === undefined) return store;
  seed.promise ??= seedAll(store, seed.plan).then(() => {
    seed.done = true;
  });
  return seed.promise.then(() => store);
}

/** Whether this instance's seed files are all written (or it has none), so a
 * caller may use the store without waiting for `seeded()`. */
function isSeeded(mf) {
  return seeds.get(mf)?.done ?? true;
}

async function seedAll(store, plan) {
  for (const { binding, id, file } of plan) {
    try {
      await seedNamespace(store, id, file);
    } catch (error) {
      throw new SeedError(`kvSeed.${binding}: ${file}: ${error.message}`);
    }
  }
}

async function seedNamespace(store, id, file) {
  const now = Date.now();
  if (firstCharacter(file) === "[") {
    // A bulk put file: validated and written in requests of at most 10,000 entries.
    for (const batch of splitBulkRequest(fs.readFileSync(file, "utf8"))) {
      await store.putBulk(id, batch.json, batch.first, now, false);
    }
    return;
  }
  const { importLines } = require("./kv-transfer");
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  await importLines(lines, { store, target: id, where: file, now });
}

/** The first non-blank character of a file (reads only its start). */
function firstCharacter(file) {
  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(4096);
    const n = fs.readSync(fd, buffer, 0, buffer.length, 0);
    return buffer.subarray(0, n).toString("utf8").replace(/^\uFEFF/, "").trimStart()[0];
  } finally {
    fs.closeSync(fd);
  }
}

module.exports = { planSeed, seeded, isSeeded, SeedError };

"use strict";
// `kvPersist` → a normalised storage location for the native store:
//   "memory:"            in memory, private to one Miniflare instance
//   "dir:<abs path>"     a directory (true → ./.mf/kv, a path, a file: URL)
//   "redis://…"          Redis (also rediss://)
//   "sled:<abs path>"    an embedded sled database
// Relative paths resolve against process.cwd().

const path = require("node:path");
const { fileURLToPath } = require("node:url");

const ACCEPTED =
  'kvPersist must be false or "memory:" (in memory), true (./.mf/kv), a directory path or file: URL, ' +
  'a redis:// or rediss:// URL, or "sled:<path>"';

function resolvePersist(kvPersist, cwd = process.cwd()) {
  if (kvPersist === undefined || kvPersist === null || kvPersist === false) return "memory:";
  if (kvPersist === true) return `dir:${path.resolve(cwd, ".mf", "kv")}`;
  if (typeof kvPersist !== "string" || kvPersist.length === 0) {
    throw new TypeError(`${ACCEPTED}; got ${describe(kvPersist)}.`);
  }
  if (kvPersist === "memory:" || /^memory:\/*$/i.test(kvPersist)) return "memory:";
  if (/^rediss?:\/\//i.test(kvPersist)) return kvPersist;
  if (/^sled:/i.test(kvPersist)) {
    const rest = kvPersist.slice(5);
    if (rest.length === 0) throw new TypeError(`${ACCEPTED}; "sled:" needs a path, e.g. "sled:./.mf/kv.sled".`);
    return `sled:${path.resolve(cwd, rest.startsWith("//") ? fileURLToPath(`file:${rest}`) : rest)}`;
  }
  if (/^file:/i.test(kvPersist)) {
    let dir;
    try {
      dir = fileURLToPath(kvPersist);
    } catch (error) {
      throw new TypeError(`${ACCEPTED}; ${JSON.stringify(kvPersist)} is not a valid file: URL (${error.message}).`);
    }
    return `dir:${dir}`;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(kvPersist)) {
    throw new TypeError(`${ACCEPTED}; the scheme of ${JSON.stringify(kvPersist)} is not supported.`);
  }
  return `dir:${path.resolve(cwd, kvPersist)}`;
}

function describe(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "symbol" || typeof value === "bigint") return typeof value;
  return `${typeof value} ${(() => { try { return JSON.stringify(value); } catch { return ""; } })()}`.trim();
}

module.exports = { resolvePersist, ACCEPTED };

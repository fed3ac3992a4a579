"use strict";
// `kvPersist` → a normalised storage location for the native store:
//   "memory:"            in memory, private to one Miniflare instance
//   "dir:<abs path>"     a directory (true → ./.mf/kv, a path, a file: URL)
//   "redis://…"          Redis (also rediss://)
//   "sled:<abs path>"    an embedded sled database
//   "wrangler:<abs path>" the store of wrangler 4 / Miniflare 4 (`.wrangler/state`, its v3 or v3/kv)
// Relative paths resolve against process.cwd().
//
// A string that looks like a mistyped form is rejected instead of becoming a
// directory of that name (before, "memory", "true" or "slde:./x" silently
// created one). Rejected, with the valid forms and a "did you mean":
//   keyword-like   the whole string is a single word (optionally ending in
//                  ":") equal or close to memory, true, false, sled, redis,
//                  rediss or file: "memory", "True", "ture", "sled", "reds:";
//   scheme-like    a `word:` prefix of two or more characters that is not
//                  memory:, sled:, file:, redis:// or rediss://: "slde:./x",
//                  "ftp://h", "redis:host" (no //), "data:v1";
//   missing colon  a word close to a scheme followed by "//": "rediss//host",
//                  "file///tmp/x".
// "Close" is at most one edit (insert, delete, change or swap two adjacent
// letters) per three letters, at least one ("file" only exactly: "files" is a
// common directory name). A single letter and ":" is a
// Windows drive ("C:\\data"), so it stays a path. A directory whose name is
// rejected is still reachable as "./<name>".

const path = require("node:path");
const { fileURLToPath } = require("node:url");
const { closest } = require("./suggest");

const ACCEPTED =
  'kvPersist must be false or "memory:" (in memory), true (./.mf/kv), a directory path or file: URL, ' +
  'a redis:// or rediss:// URL, "sled:<path>", or "wrangler:<path>" (wrangler dev\'s .wrangler/state)';

/** Bare words that mean (or were meant as) a storage form, and what to write instead. */
const KEYWORDS = {
  memory: '"memory:" (or false)',
  true: "the boolean true (./.mf/kv)",
  false: "the boolean false (in memory)",
  sled: '"sled:<path>", e.g. "sled:./.mf/kv.sled"',
  redis: '"redis://<host>:<port>"',
  rediss: '"rediss://<host>:<port>"',
  file: '"file:///<absolute path>"',
  wrangler: '"wrangler:<path>", e.g. "wrangler:.wrangler/state"',
};
const SCHEMES = ["memory", "sled", "file", "redis", "rediss", "wrangler"];

function resolvePersist(kvPersist, cwd = process.cwd()) {
  if (kvPersist === undefined || kvPersist === null || kvPersist === false) return "memory:";
  if (kvPersist === true) return `dir:${path.resolve(cwd, ".mf", "kv")}`;
  if (typeof kvPersist !== "string" || kvPersist.length === 0) {
    throw new TypeError(`${ACCEPTED}; got ${describe(kvPersist)}.`);
  }
  if (/^memory:\/*$/i.test(kvPersist)) return "memory:";
  if (/^rediss?:\/\//i.test(kvPersist)) return kvPersist;
  if (/^sled:/i.test(kvPersist)) {
    const rest = kvPersist.slice(5);
    if (rest.length === 0) throw new TypeError(`${ACCEPTED}; "sled:" needs a path, e.g. "sled:./.mf/kv.sled".`);
    return `sled:${path.resolve(cwd, rest.startsWith("//") ? fileURLToPath(`file:${rest}`) : rest)}`;
  }
  if (/^wrangler:/i.test(kvPersist)) {
    // wrangler dev's own default when no path is given.
    const rest = kvPersist.slice(9) || path.join(".wrangler", "state");
    return `wrangler:${path.resolve(cwd, rest.startsWith("//") ? fileURLToPath(`file:${rest}`) : rest)}`;
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
  const mistake = mistypedForm(kvPersist);
  if (mistake !== null) throw new TypeError(`${ACCEPTED}; got ${JSON.stringify(kvPersist)}: ${mistake}`);
  return `dir:${path.resolve(cwd, kvPersist)}`;
}

/** Why `text` (not an accepted form) looks like a mistyped one, or null for a plain path. */
function mistypedForm(text) {
  const asDirectory = text.includes("://") ? "" : ` For a directory of that name, write ${JSON.stringify(`./${text}`)}.`;
  const word = /^([a-z]+):?$/i.exec(text)?.[1];
  if (word !== undefined) {
    // "file" only as itself: "files" is a common directory name.
    const keyword = word.toLowerCase() === "file" ? "file" : closest(word, Object.keys(KEYWORDS).filter((k) => k !== "file"));
    if (keyword !== undefined) {
      const same = keyword === word.toLowerCase() ? "" : ` (did you mean "${keyword}"?)`;
      return `a bare word is not a storage form${same}: use ${KEYWORDS[keyword]}.${asDirectory}`;
    }
  }
  const scheme = /^([a-z][a-z0-9+.-]+):(.*)$/is.exec(text);
  if (scheme !== null) {
    const [, name, rest] = scheme;
    const meant = closest(name, SCHEMES);
    const suggestion = meant === undefined ? "" : ` Did you mean ${JSON.stringify(withScheme(meant, rest))}?`;
    const what = /^rediss?$/i.test(name)
      ? `a Redis URL starts with "${name.toLowerCase()}://".`
      : `"${name}:" is not a supported scheme.`;
    return `${what}${suggestion}${asDirectory}`;
  }
  const noColon = /^([a-z][a-z0-9+.-]*)(\/\/.*)$/is.exec(text);
  if (noColon !== null) {
    const meant = closest(noColon[1], SCHEMES);
    if (meant !== undefined) {
      return `this looks like a URL without its ":". Did you mean ${JSON.stringify(withScheme(meant, noColon[2]))}?${asDirectory}`;
    }
  }
  return null;
}

/** `rest` (what followed a mistyped scheme) under the scheme `scheme`. */
function withScheme(scheme, rest) {
  if (scheme === "redis" || scheme === "rediss") return `${scheme}://${rest.replace(/^\/+/, "")}`;
  if (scheme === "memory") return "memory:";
  return `${scheme}:${rest}`;
}

function describe(value) {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "symbol" || typeof value === "bigint") return typeof value;
  return `${typeof value} ${(() => { try { return JSON.stringify(value); } catch { return ""; } })()}`.trim();
}

module.exports = { resolvePersist, ACCEPTED };

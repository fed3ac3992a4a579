"use strict";
// The `miniflare` command: serves a Worker over HTTP with KV bindings.

const fs = require("node:fs");
const path = require("node:path");
const { Command, InvalidArgumentError, Option } = require("commander");
const { resolvePersist } = require("./persist");
const { withWranglerConfig, findWranglerConfig } = require("./config");
const { addKvCommands, defaultPersistDir, showLocation, namespacesWithData } = require("./kv-commands");
const { addExploreCommand } = require("./cli/explore");
// What only the server needs (node:http, the Miniflare class with the Worker
// loader, the REST API) is required where it is used: each `miniflare kv …`
// command is a fresh process, and loading those would cost it tens of
// milliseconds (issue 13: ≥ 10× faster than `wrangler kv`; bench/RESULTS.md).
const resolveNamespaces = (...args) => require("./miniflare").resolveNamespaces(...args);

const DEFAULT_PORT = 8787;
const DEFAULT_HOST = "127.0.0.1";

/** A user error: printed as one line, exit code 1. */
class CliError extends Error {}

function parsePort(value) {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError("must be a port number (0-65535).");
  return port;
}

function collect(value, previous = []) {
  return [...previous, value];
}

function buildProgram() {
  const { version } = require("../package.json");
  return new Command("miniflare")
    .description("Serve a Cloudflare Worker locally with Workers KV bindings (in memory, on disk or in Redis).")
    .argument("[script]", "the Worker's script (default: main from the wrangler config)")
    .option("-k, --kv <name>", "bind a KV namespace under this name (repeatable: -k A -k B)", collect)
    .option("--kv-persist [path]", "persist KV data: to .mf/kv (next to the wrangler config, else here) without a value, else to a directory, sled:<path> or redis:// URL")
    .option("--persist-to <location>", "same as --kv-persist <location> (the flag of wrangler and of `miniflare kv`)")
    .option("--local", "accepted for wrangler compatibility (everything is local)")
    .option("--kv-consistency <mode>", "strong (default) or eventual: per-location KV caches as in production (README: Eventual consistency)")
    .option("-m, --modules", "the script is an ES module Worker (default: detected from its syntax)")
    .option("-H, --host <host>", "address to listen on", DEFAULT_HOST)
    .option("-p, --port <port>", "port to listen on (0: any free port)", parsePort, DEFAULT_PORT)
    .option("-c, --wrangler-config <path>", "wrangler config file (default: wrangler.json, wrangler.jsonc or wrangler.toml if present)")
    .option("-e, --env <name>", "use the [env.<name>] section of the wrangler config")
    .option("-w, --watch", "reload the Worker when its files or the wrangler config change (KV data is kept)")
    .option("--api-port <port>", "also serve Cloudflare's KV REST API (/client/v4/accounts/:id/storage/kv/…) on this port", parsePort)
    .addOption(
      new Option(
        "--api-token <token>",
        "require `Authorization: Bearer <token>` on the KV REST API (default: none on 127.0.0.1; generated and printed on other --host addresses)",
      ).env("MINIFLARE_KV_API_TOKEN"),
    )
    .version(version, "-V, --version", "print the version")
    .helpOption("-h, --help", "show this help")
    .addHelpText(
      "after",
      `
Examples:
  $ miniflare worker.js --kv COUNTER                 in-memory KV, http://${DEFAULT_HOST}:${DEFAULT_PORT}
  $ miniflare worker.js -k COUNTER --kv-persist      data kept in ./.mf/kv across restarts
  $ miniflare worker.js -k COUNTER --kv-persist ./data
  $ miniflare worker.js -k COUNTER --kv-persist redis://127.0.0.1:6379
  $ miniflare -e staging --watch                     main and kv_namespaces from wrangler.toml
  $ miniflare worker.js -k COUNTER --api-port 8788   also Cloudflare's KV REST API on 127.0.0.1:8788

Put the script before --kv-persist when that flag has no value:
\`miniflare --kv-persist worker.js\` would persist to a directory named worker.js.
Options given on the command line override the wrangler config.`,
    )
    .showSuggestionAfterError(true)
    // Usage errors as one line: "miniflare: unknown option '--kvv' (Did you mean --kv?)".
    .configureOutput({
      outputError: (text, write) => write(`miniflare: ${text.replace(/^error: /, "").trim().replace(/\s*\n\s*/g, " ")}\n`),
    })
    .exitOverride();
}

/** The wrangler config file the server reads, or null. */
function configFileOf(flags) {
  return flags.wranglerConfig !== undefined ? path.resolve(flags.wranglerConfig) : findWranglerConfig();
}

/** Command-line flags → Miniflare options (before the wrangler config is applied). */
function toOptions(script, flags) {
  const options = {};
  if (script !== undefined) options.scriptPath = path.resolve(script);
  if (flags.kv !== undefined) options.kvNamespaces = flags.kv;
  if (flags.persistTo !== undefined && flags.kvPersist !== undefined) {
    throw new CliError("Conflicting options: --persist-to and --kv-persist cannot be used together. Please provide only one.");
  }
  const kvPersist = flags.persistTo ?? flags.kvPersist;
  // Without a value: the location `miniflare kv …` uses by default (.mf/kv next to the config).
  if (kvPersist === true) options.kvPersist = defaultPersistDir(configFileOf(flags));
  else if (kvPersist !== undefined) options.kvPersist = kvPersist;

  if (flags.kvConsistency !== undefined) options.kvConsistency = flags.kvConsistency;
  if (flags.modules) options.modules = true;
  options.wranglerConfigPath = flags.wranglerConfig === undefined ? true : flags.wranglerConfig;
  if (flags.env !== undefined) options.wranglerConfigEnv = flags.env;
  return options;
}

function describePersistence(kvPersist) {
  const location = resolvePersist(kvPersist);
  if (location === "memory:") return "in memory (kept across --watch reloads, lost on exit)";
  if (location.startsWith("dir:")) return location.slice(4);
  if (/^rediss?:/i.test(location)) {
    const url = new URL(location);
    if (url.password) url.password = "***";
    return url.href;
  }
  return location;
}

/**
 * A server in memory by default (neither --kv-persist nor the config's
 * kv_persist) while the default location holds data for its bindings — what
 * `miniflare kv …` wrote — reads none of it: the banner says so, with the flag
 * that serves it. Returns that line, or null. Opens nothing that is missing.
 */
async function unservedDataNote(options, flags) {
  const resolved = withWranglerConfig(options);
  if (resolved.kvPersist !== undefined) return null;
  const bindings = resolveNamespaces(resolved.kvNamespaces);
  const dir = defaultPersistDir(configFileOf(flags));
  if (bindings.size === 0 || !fs.existsSync(dir)) return null;
  const location = `dir:${dir}`;
  let withData;
  try {
    withData = await namespacesWithData(location, bindings);
  } catch {
    return null; // unreadable: nothing to point at
  }
  if (withData.length === 0) return null;
  const shown = showLocation(location);
  return (
    `Note: ${shown} holds KV data for ${withData.join(", ")} (written by \`miniflare kv\`), which this in-memory server ` +
    `does not read: restart with --kv-persist ${shown} to serve it.`
  );
}

/** What the server prints at startup, and the checks that make the one-line errors. */
function inspectOptions(options) {
  const resolved = withWranglerConfig(options);
  if (resolved.script === undefined && resolved.scriptPath === undefined) {
    throw new CliError("no Worker script: pass one (miniflare worker.js) or set main in wrangler.toml.");
  }
  if (resolved.scriptPath !== undefined && !fs.existsSync(resolved.scriptPath)) {
    throw new CliError(`script not found: ${path.relative(process.cwd(), resolved.scriptPath) || resolved.scriptPath}`);
  }
  const namespaces = [...resolveNamespaces(resolved.kvNamespaces).keys()];
  return {
    scriptPath: resolved.scriptPath,
    namespaces: namespaces.length ? namespaces.join(", ") : "(none)",
    persistence: describePersistence(resolved.kvPersist),
    eventual: resolved.kvConsistency === "eventual",
  };
}

/** Node's IncomingMessage → a fetch Request. */
function toRequest(req, origin) {
  const url = new URL(req.url, req.headers.host ? `http://${req.headers.host}` : origin);
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  return new Request(url, {
    method: req.method,
    headers,
    body: hasBody ? require("node:stream").Readable.toWeb(req) : undefined,
    duplex: hasBody ? "half" : undefined,
  });
}

/** A fetch Response → Node's ServerResponse. `closeAfter`: the server is
 * shutting down, so the connection is not kept alive for another request. */
async function writeResponse(res, response, method, closeAfter = false) {
  const headers = {};
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") headers[name] = value;
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
  if (closeAfter) headers.connection = "close";
  res.writeHead(response.status, response.statusText || undefined, headers);
  if (response.body === null || method === "HEAD") {
    res.end();
    return;
  }
  for await (const chunk of response.body) res.write(chunk);
  res.end();
}

function errorText(error) {
  return (error && error.stack) || String(error);
}

async function main(argv = process.argv) {
  const program = buildProgram();
  // `miniflare kv …` (lib/kv-commands.js) wins over a script named "kv".
  const kv = addKvCommands(program);
  addExploreCommand(program, kv);
  program.action(() => {});
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has printed the one-line message (or the help / version).
    return error.exitCode ?? 1;
  }
  if (kv.ran) return kv.exitCode;
  const flags = program.opts();

  let options;
  let info;
  let mf;
  try {
    // From the environment (MINIFLARE_KV_API_TOKEN) it is fine without --api-port.
    if (flags.apiPort === undefined && program.getOptionValueSource("apiToken") === "cli") {
      throw new CliError("--api-token needs --api-port (the token protects the KV REST API).");
    }
    // An empty MINIFLARE_KV_API_TOKEN is no token (an empty --api-token is an error, from startKvApi).
    if (flags.apiToken === "" && program.getOptionValueSource("apiToken") === "env") delete flags.apiToken;
    options = toOptions(program.args[0], flags);
    info = inspectOptions(options);
    const { Miniflare } = require("./miniflare");
    mf = new Miniflare(options);
  } catch (error) {
    console.error(`miniflare: ${error.message}`);
    return 1;
  }
  try {
    await mf.ready;
  } catch (error) {
    console.error(`miniflare: the Worker failed to load:\n${errorText(error)}`);
    if (!flags.watch) {
      await mf.dispose();
      return 1;
    }
  }

  const log = (line) => console.log(line);
  // Requests being answered, with their Workers' waitUntil() work: shutdown
  // waits for them before closing storage.
  const inFlight = new Set();
  let stopping = false;
  const server = require("node:http").createServer((req, res) => {
    const answered = answer(req, res);
    inFlight.add(answered);
    answered.finally(() => inFlight.delete(answered));
  });
  async function answer(req, res) {
    const started = process.hrtime.bigint();
    let status = 500;
    let background = null;
    try {
      const response = await mf.dispatchFetch(toRequest(req, `http://${flags.host}:${flags.port}`));
      status = response.status;
      await writeResponse(res, response, req.method, stopping);
      background = response.waitUntil().catch((error) => console.error(`waitUntil() rejected:\n${errorText(error)}`));
    } catch (error) {
      console.error(errorText(error));
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8", ...(stopping ? { connection: "close" } : {}) });
        res.end(errorText(error));
      } else {
        res.destroy();
      }
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log(`${req.method} ${req.url} ${status} (${ms.toFixed(1)}ms)`);
    await background;
  }

  try {
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(flags.port, flags.host, resolve);
    });
  } catch (error) {
    await mf.dispose();
    const where = `${flags.host}:${flags.port}`;
    if (error.code === "EADDRINUSE") console.error(`miniflare: ${where} is already in use: stop the other server or pass another --port.`);
    else if (error.code === "EACCES") console.error(`miniflare: not allowed to listen on ${where}: use a port above 1023.`);
    else if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") console.error(`miniflare: cannot listen on ${where}: no such local address (--host).`);
    else console.error(`miniflare: cannot listen on ${where}: ${error.message}`);
    return 1;
  }

  // Handle Ctrl-C before announcing anything: a signal sent as soon as the
  // address is printed must shut down cleanly, not kill the process.
  let watcher = null;
  let api = null; // the KV REST API (--api-port)
  let resolveExit;
  const exited = new Promise((resolve) => (resolveExit = resolve));
  const stop = async (signal) => {
    if (stopping) {
      // A second Ctrl-C: stop waiting for open requests (exit status 128 + signal number).
      console.error(`miniflare: ${signal} again: exiting now${inFlight.size ? `, cutting ${plural(inFlight.size, "request")} off` : ""}.`);
      process.exit(signal === "SIGTERM" ? 143 : 130);
    }
    stopping = true;
    const waiting = inFlight.size ? ` (letting ${plural(inFlight.size, "request")} in progress finish; ${signal === "SIGINT" ? "Ctrl-C" : signal} again to stop now)` : "";
    watcher?.close();
    // No new connections; idle keep-alive ones close now, busy ones once their
    // response is written (it says `connection: close`).
    const closed = new Promise((done) => server.close(done));
    server.closeIdleConnections();
    // Said once the port is closed: a client that reads it is refused, not reset.
    log(`\n${signal} received: shutting down${waiting}`);
    const apiClosed = api?.close();
    // A request on a kept-alive connection may still arrive while others finish.
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    server.closeAllConnections();
    await Promise.all([closed, apiClosed]);
    // Storage closes last, after every request that could use it.
    await mf.dispose();
    resolveExit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  // The KV REST API serves this instance's data (even in memory).
  if (flags.apiPort !== undefined) {
    try {
      api = await require("./rest-api").startKvApi(mf, { port: flags.apiPort, host: flags.host, apiToken: flags.apiToken });
    } catch (error) {
      console.error(`miniflare: cannot serve the KV API on ${flags.host}:${flags.apiPort}: ${error.message}`);
      server.close();
      await mf.dispose();
      return 1;
    }
  }

  const { port } = server.address();
  const shownHost = flags.host.includes(":") ? `[${flags.host}]` : flags.host;
  log(`KV Namespaces: ${info.namespaces}`);
  log(`KV Persistence: ${info.persistence}`);
  if (info.eventual) log(`KV Consistency: eventual (requests run in location "${require("./api/consistency").DEFAULT_LOCATION}"; writes from elsewhere show after a location's cacheTtl)`);
  const note = await unservedDataNote(options, flags);
  if (note) log(note);
  if (info.scriptPath) log(`Worker: ${path.relative(process.cwd(), info.scriptPath) || info.scriptPath}`);
  // Watch before announcing the address, so an edit made once it is printed is seen.
  watcher = flags.watch ? await startWatching(mf, options, log) : null;
  if (watcher) log("Watching the Worker's files for changes");
  if (api) {
    log(`KV API: ${api.url}/accounts/<any id>/storage/kv/namespaces`);
    // A token the user chose is not echoed: the page asks for it.
    log(`KV explorer: ${flags.apiToken === undefined ? api.explorerUrl : `${api.explorerUrl.replace(/#.*$/, "")} (asks for the token)`}`);
    // Printed once, as Jupyter does; a token the user chose is not echoed.
    if (api.token !== undefined && flags.apiToken === undefined) {
      log(`KV API token: ${api.token} (send Authorization: Bearer <token>; --host ${flags.host} is reachable from other machines)`);
    } else if (api.token !== undefined) {
      log("KV API token: the one given (--api-token or MINIFLARE_KV_API_TOKEN), as Authorization: Bearer <token>");
    }
  }
  log(`Listening on http://${shownHost}:${port}`);
  return exited;
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/** Watches the Worker's files and the wrangler config; reloads on change. */
async function startWatching(mf, options, log) {
  const watchers = new Map(); // directory → fs.FSWatcher
  let watched = new Set();
  let timer = null;

  async function filesToWatch() {
    const files = new Set();
    try {
      for (const file of await mf[require("./worker").WORKER_FILES]()) files.add(file);
    } catch {
      // The Worker failed to load: watch its entry so fixing it reloads.
      const entry = withWranglerConfig(options).scriptPath;
      if (entry) files.add(entry);
    }
    const config =
      typeof options.wranglerConfigPath === "string" ? path.resolve(options.wranglerConfigPath) : findWranglerConfig();
    if (config) files.add(config);
    return files;
  }

  async function sync() {
    watched = await filesToWatch();
    const dirs = new Set([...watched].map((file) => path.dirname(file)));
    for (const [dir, watcher] of watchers) {
      if (!dirs.has(dir)) {
        watcher.close();
        watchers.delete(dir);
      }
    }
    // Directories, not files: editors that save by renaming replace the file.
    for (const dir of dirs) {
      if (watchers.has(dir)) continue;
      try {
        const watcher = fs.watch(dir, (event, name) => {
          if (name && watched.has(path.join(dir, name.toString()))) schedule(path.join(dir, name.toString()));
        });
        watchers.set(dir, watcher);
      } catch (error) {
        console.error(`miniflare: cannot watch ${dir}: ${error.message}`);
      }
    }
  }

  function schedule(file) {
    clearTimeout(timer);
    // Saves arrive as bursts of events: reload once they settle.
    timer = setTimeout(() => reload(file), 100);
  }

  async function reload(file) {
    try {
      await mf.setOptions(options);
      await mf.ready;
      log(`Reloaded the Worker (${path.relative(process.cwd(), file) || file} changed)`);
    } catch (error) {
      console.error(`miniflare: reload failed (${path.relative(process.cwd(), file)} changed):\n${errorText(error)}`);
    }
    await sync();
  }

  await sync();
  return {
    close() {
      clearTimeout(timer);
      for (const watcher of watchers.values()) watcher.close();
    },
  };
}

module.exports = { main, buildProgram };

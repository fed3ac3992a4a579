"use strict";
// The `miniflare` command: serves a Worker over HTTP with KV bindings.

const fs = require("node:fs");
const http = require("node:http");
const path = require("node:path");
const { Readable } = require("node:stream");
const { Command, InvalidArgumentError } = require("commander");
const { Miniflare, resolveNamespaces } = require("./miniflare");
const { resolvePersist } = require("./persist");
const { withWranglerConfig } = require("./config");
const { WORKER_FILES } = require("./worker");
const { addKvCommands } = require("./kv-commands");
const { startKvApi } = require("./rest-api");

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
    .option("--kv-persist [path]", "persist KV data: to ./.mf/kv without a value, else to a directory or redis:// URL")
    .option("-m, --modules", "the script is an ES module Worker (default: detected from its syntax)")
    .option("-H, --host <host>", "address to listen on", DEFAULT_HOST)
    .option("-p, --port <port>", "port to listen on (0: any free port)", parsePort, DEFAULT_PORT)
    .option("-c, --wrangler-config <path>", "wrangler config file (default: wrangler.json, wrangler.jsonc or wrangler.toml if present)")
    .option("-e, --env <name>", "use the [env.<name>] section of the wrangler config")
    .option("-w, --watch", "reload the Worker when its files or the wrangler config change (KV data is kept)")
    .option("--api-port <port>", "also serve Cloudflare's KV REST API (/client/v4/accounts/:id/storage/kv/…) on this port", parsePort)
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

/** Command-line flags → Miniflare options (before the wrangler config is applied). */
function toOptions(script, flags) {
  const options = {};
  if (script !== undefined) options.scriptPath = path.resolve(script);
  if (flags.kv !== undefined) options.kvNamespaces = flags.kv;
  if (flags.kvPersist !== undefined) options.kvPersist = flags.kvPersist;
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
    body: hasBody ? Readable.toWeb(req) : undefined,
    duplex: hasBody ? "half" : undefined,
  });
}

/** A fetch Response → Node's ServerResponse. */
async function writeResponse(res, response, method) {
  const headers = {};
  for (const [name, value] of response.headers) {
    if (name !== "set-cookie") headers[name] = value;
  }
  const cookies = response.headers.getSetCookie();
  if (cookies.length) headers["set-cookie"] = cookies;
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
  program.action(() => {});
  try {
    await program.parseAsync(argv);
  } catch (error) {
    // commander has printed the one-line message (or the help / version).
    return error.exitCode ?? 1;
  }
  if (kv.ran) return kv.exitCode;
  const flags = program.opts();
  const options = toOptions(program.args[0], flags);

  let info;
  let mf;
  try {
    info = inspectOptions(options);
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
  const server = http.createServer(async (req, res) => {
    const started = process.hrtime.bigint();
    let status = 500;
    try {
      const response = await mf.dispatchFetch(toRequest(req, `http://${flags.host}:${flags.port}`));
      status = response.status;
      await writeResponse(res, response, req.method);
      response.waitUntil().catch((error) => console.error(`waitUntil() rejected:\n${errorText(error)}`));
    } catch (error) {
      console.error(errorText(error));
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
        res.end(errorText(error));
      } else {
        res.destroy();
      }
    }
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    log(`${req.method} ${req.url} ${status} (${ms.toFixed(1)}ms)`);
  });

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
  let stopping = false;
  let resolveExit;
  const exited = new Promise((resolve) => (resolveExit = resolve));
  const stop = async (signal) => {
    if (stopping) {
      // A second Ctrl-C: stop waiting for open requests.
      process.exit(130);
    }
    stopping = true;
    log(`\n${signal} received: shutting down`);
    watcher?.close();
    api?.close();
    server.close();
    server.closeIdleConnections();
    // Requests still running get a moment to finish, then their sockets close.
    const force = setTimeout(() => server.closeAllConnections(), 2000);
    force.unref();
    await new Promise((done) => server.once("close", done));
    await mf.dispose();
    resolveExit(0);
  };
  process.on("SIGINT", () => stop("SIGINT"));
  process.on("SIGTERM", () => stop("SIGTERM"));

  // The KV REST API serves this instance's data (even in memory).
  if (flags.apiPort !== undefined) {
    try {
      api = await startKvApi(mf, { port: flags.apiPort, host: flags.host });
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
  if (info.scriptPath) log(`Worker: ${path.relative(process.cwd(), info.scriptPath) || info.scriptPath}`);
  // Watch before announcing the address, so an edit made once it is printed is seen.
  watcher = flags.watch ? await startWatching(mf, options, log) : null;
  if (watcher) log("Watching the Worker's files for changes");
  if (api) log(`KV API: ${api.url}/accounts/<any id>/storage/kv/namespaces`);
  log(`Listening on http://${shownHost}:${port}`);
  return exited;
}

/** Watches the Worker's files and the wrangler config; reloads on change. */
async function startWatching(mf, options, log) {
  const watchers = new Map(); // directory → fs.FSWatcher
  let watched = new Set();
  let timer = null;

  async function filesToWatch() {
    const files = new Set();
    try {
      for (const file of await mf[WORKER_FILES]()) files.add(file);
    } catch {
      // The Worker failed to load: watch its entry so fixing it reloads.
      const entry = withWranglerConfig(options).scriptPath;
      if (entry) files.add(entry);
    }
    const { findWranglerConfig } = require("./config");
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

"use strict";
// `miniflare kv explore`: serves the KV explorer page (lib/http/explorer/) and
// the REST API it uses over a store, prints the URL and waits for Ctrl-C.
// Opens a browser only with --open.

const { spawn } = require("node:child_process");
const { InvalidArgumentError, Option } = require("commander");
const { loadConfig, persistLocation, configEntries, showLocation, KvCommandError } = require("../kv-commands");

const DEFAULT_PORT = 8788;

function parsePort(value) {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535) throw new InvalidArgumentError("must be a port number (0-65535).");
  return port;
}

/** binding → namespace id, as a Worker with this config reads (preview_id ?? id). */
function configBindings(config) {
  const bindings = new Map();
  for (const entry of configEntries(config)) {
    if (typeof entry?.binding !== "string") continue;
    bindings.set(entry.binding, entry.preview_id ?? entry.id ?? entry.binding);
  }
  return bindings;
}

/** The system's "open this URL" command; failures are reported, never fatal. */
function openInBrowser(url) {
  const [command, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["cmd", ["/c", "start", "", url]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    child.on("error", (error) => console.error(`miniflare: could not open a browser (${error.message}); open the URL above.`));
    child.unref();
  } catch (error) {
    console.error(`miniflare: could not open a browser (${error.message}); open the URL above.`);
  }
}

async function explore(flags, state) {
  const config = loadConfig(flags);
  const location = persistLocation(flags, config);
  let api;
  try {
    // startKvApi takes kvPersist values: a directory as its (absolute) path.
    // Required here, not at the top: no other command needs the HTTP server.
    const { startKvApi } = require("../rest-api");
    api = await startKvApi(location.startsWith("dir:") ? location.slice(4) : location, {
      port: flags.port,
      host: flags.host,
      apiToken: flags.apiToken || undefined,
      bindings: configBindings(config),
    });
  } catch (error) {
    const where = `${flags.host}:${flags.port}`;
    if (error.code === "EADDRINUSE") throw new KvCommandError(`${where} is already in use: pass another --port (0: any free port).`);
    if (error.code === "EADDRNOTAVAIL" || error.code === "ENOTFOUND") throw new KvCommandError(`cannot listen on ${where}: no such local address (--host).`);
    throw error;
  }
  console.log(`KV data: ${showLocation(location)}`);
  console.log(`KV API: ${api.url}/accounts/<any id>/storage/kv/namespaces`);
  if (api.token !== undefined && !flags.apiToken) {
    console.log(`KV API token: ${api.token} (the explorer URL carries it; other clients send Authorization: Bearer <token>)`);
  }
  // A token the user chose is not echoed: the page asks for it.
  console.log(`KV explorer: ${flags.apiToken ? `${api.explorerUrl.replace(/#.*$/, "")} (asks for the token)` : api.explorerUrl}`);
  console.log("Press Ctrl-C to stop.");
  if (flags.open) openInBrowser(api.explorerUrl);
  await new Promise((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await api.close();
  state.exitCode = 0;
}

/** Adds `explore` under the `kv` command; `state` is addKvCommands' result. */
function addExploreCommand(program, state) {
  const kv = program.commands.find((command) => command.name() === "kv");
  kv.command("explore")
    .description("Browse and edit the KV data in a web page (prints its URL; --open opens it)")
    .option("-c, --config <path>", "wrangler config file (default: wrangler.json, wrangler.jsonc or wrangler.toml if present)")
    .option("-e, --env <name>", "use the [env.<name>] section of the wrangler config (for binding names)")
    .option("--persist-to <location>", "KV data: a directory, redis:// URL or sled:<path> (default: the config's [miniflare] kv_persist, else ./.mf/kv)")
    .option("--kv-persist <location>", "same as --persist-to (the server's flag)")
    .option("--local", "accepted for wrangler compatibility (always local)")
    .option("-p, --port <port>", `port to listen on (0: any free port)`, parsePort, DEFAULT_PORT)
    .option("-H, --host <host>", "address to listen on (not loopback: a token is generated and required)", "127.0.0.1")
    .addOption(new Option("--api-token <token>", "require this token (default: none on 127.0.0.1)").env("MINIFLARE_KV_API_TOKEN"))
    .option("--open", "open the page in the default browser")
    .action(async (flags) => {
      state.ran = true;
      try {
        await explore(flags, state);
      } catch (error) {
        console.error(`miniflare: ${(error instanceof Error ? error.message : String(error)).replace(/\s*\n\s*/g, " ")}`);
        state.exitCode = 1;
      }
    });
}

module.exports = { addExploreCommand };

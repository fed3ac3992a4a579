// wrangler configuration (wrangler.toml / .json / .jsonc) applied to Miniflare
// options: main, kv_namespaces, vars, [env.<name>], [miniflare] kv_persist;
// Miniflare 2's `bindings` option; the warning for bindings not emulated.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Miniflare } from "../index.js";

const require = createRequire(import.meta.url);
const { withWranglerConfig, findWranglerConfig } = require("../lib/config.js");

const root = mkdtempSync(path.join(os.tmpdir(), "miniflare-kv-config-"));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
/** A fresh project directory holding `files` ({ "wrangler.toml": "..." }). */
function project(files) {
  const dir = path.join(root, `${++count}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

const instances = [];
function miniflare(options) {
  const mf = new Miniflare(options);
  instances.push(mf);
  return mf;
}
after(() => Promise.all(instances.map((mf) => mf.dispose())));

// Answers with the namespace id the binding's data lives under (written by the test).
const WHICH_WORKER = `export default {
  async fetch(request, env) {
    return new Response(await env.SESSIONS.get("which") ?? "empty");
  },
};
`;

const TWO_ENVIRONMENTS = `
name = "app"
main = "src/worker.mjs"

kv_namespaces = [
  { binding = "SESSIONS", id = "dev-sessions" },
]

[env.staging]
kv_namespaces = [
  { binding = "SESSIONS", id = "staging-sessions" },
]

[env.production]
kv_namespaces = [
  { binding = "SESSIONS", id = "production-sessions", preview_id = "production-preview" },
  { binding = "CACHE", id = "production-cache" },
]
`;

describe("wrangler.toml with two environments", () => {
  test("each environment selects its own namespace ids; main comes from the file", async () => {
    const dir = project({ "wrangler.toml": TWO_ENVIRONMENTS, "src/worker.mjs": WHICH_WORKER });
    const wranglerConfigPath = path.join(dir, "wrangler.toml");
    const mf = miniflare({ wranglerConfigPath, wranglerConfigEnv: "staging" });

    assert.deepEqual(Object.keys(await mf.getBindings()), ["SESSIONS"]);
    await (await mf.getKVNamespace("SESSIONS")).put("which", "written in staging");
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "written in staging");

    // The same in-memory store, another namespace id: staging's data is not there.
    await mf.setOptions({ wranglerConfigPath, wranglerConfigEnv: "production" });
    assert.deepEqual(Object.keys(await mf.getBindings()).sort(), ["CACHE", "SESSIONS"]);
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "empty");
    await (await mf.getKVNamespace("SESSIONS")).put("which", "written in production");

    await mf.setOptions({ wranglerConfigPath }); // top level: dev-sessions
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "empty");

    await mf.setOptions({ wranglerConfigPath, wranglerConfigEnv: "staging" });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "written in staging");
    await mf.setOptions({ wranglerConfigPath, wranglerConfigEnv: "production" });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "written in production");
  });

  test("namespace ids: preview_id when there is one (as wrangler dev), else id", () => {
    const dir = project({ "wrangler.toml": TWO_ENVIRONMENTS });
    const file = path.join(dir, "wrangler.toml");
    assert.deepEqual(withWranglerConfig({ wranglerConfigPath: file }).kvNamespaces, { SESSIONS: "dev-sessions" });
    assert.deepEqual(withWranglerConfig({ wranglerConfigPath: file, wranglerConfigEnv: "production" }).kvNamespaces, {
      SESSIONS: "production-preview",
      CACHE: "production-cache",
    });
  });

  test("two bindings naming the same id share data", async () => {
    const dir = project({
      "wrangler.toml": `kv_namespaces = [{ binding = "A", id = "shared" }, { binding = "B", id = "other", preview_id = "shared" }]\n`,
    });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml") });
    await (await mf.getKVNamespace("A")).put("k", "v");
    assert.equal(await (await mf.getKVNamespace("B")).get("k"), "v");
  });

  test("an unknown environment is an error listing the defined ones", () => {
    const dir = project({ "wrangler.toml": TWO_ENVIRONMENTS });
    const file = path.join(dir, "wrangler.toml");
    assert.throws(() => new Miniflare({ wranglerConfigPath: file, wranglerConfigEnv: "qa" }), {
      message: `${file}: there is no environment "qa" (an [env.qa] section); environments: staging, production.`,
    });
  });

  test("an environment without kv_namespaces binds none (wrangler does not inherit them); main is inherited", () => {
    const dir = project({ "wrangler.toml": `${TWO_ENVIRONMENTS}\n[env.bare]\nname = "bare"\n` });
    const options = withWranglerConfig({ wranglerConfigPath: path.join(dir, "wrangler.toml"), wranglerConfigEnv: "bare" });
    assert.equal(options.kvNamespaces, undefined);
    assert.equal(options.scriptPath, path.join(dir, "src", "worker.mjs"));
  });
});

describe("finding and reading the file", () => {
  test("wranglerConfigPath: true finds wrangler.toml in the working directory", async (t) => {
    const dir = project({ "wrangler.toml": TWO_ENVIRONMENTS, "src/worker.mjs": WHICH_WORKER });
    const cwd = process.cwd();
    process.chdir(dir);
    t.after(() => process.chdir(cwd));
    const mf = miniflare({ wranglerConfigPath: true, wranglerConfigEnv: "staging" });
    await (await mf.getKVNamespace("SESSIONS")).put("which", "found");
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "found");
  });

  test("wrangler.json and wrangler.jsonc (comments, trailing commas) are found and read", () => {
    const json = project({ "wrangler.json": JSON.stringify({ main: "w.mjs", kv_namespaces: [{ binding: "J", id: "j-id" }] }) });
    assert.equal(findWranglerConfig(json), path.join(json, "wrangler.json"));
    assert.deepEqual(withWranglerConfig({ wranglerConfigPath: true }, json).kvNamespaces, { J: "j-id" });

    const jsonc = project({
      "wrangler.jsonc": `{
        // the session store
        "main": "src/index.js",
        "kv_namespaces": [
          { "binding": "AUTH_TOKENS", "id": "prod", "preview_id": "preview" }, /* dev uses preview */
        ],
        "miniflare": { "kv_persist": "./data" },
      }`,
    });
    assert.deepEqual(withWranglerConfig({ wranglerConfigPath: true }, jsonc), {
      wranglerConfigPath: true,
      scriptPath: path.join(jsonc, "src", "index.js"),
      kvNamespaces: { AUTH_TOKENS: "preview" },
      kvPersist: path.join(jsonc, "data"),
    });
  });

  test("wranglerConfigPath: true without a config file changes nothing", () => {
    const dir = project({});
    assert.equal(findWranglerConfig(dir), null);
    assert.deepEqual(withWranglerConfig({ wranglerConfigPath: true, kvNamespaces: ["X"] }, dir), {
      wranglerConfigPath: true,
      kvNamespaces: ["X"],
    });
  });

  test("an explicit path that does not exist is an error naming it", () => {
    const missing = path.join(root, "missing", "wrangler.toml");
    assert.throws(() => new Miniflare({ wranglerConfigPath: missing }), { message: `wrangler config not found: ${missing}` });
  });
});

describe("[miniflare] kv_persist and build.upload.format", () => {
  test("kv_persist forms → kvPersist (paths relative to the file)", () => {
    const cases = [
      ["true", (dir) => path.join(dir, ".mf", "kv")],
      ["false", () => false],
      ['"./data/"', (dir) => path.join(dir, "data")],
      ['"redis://127.0.0.1:6390"', () => "redis://127.0.0.1:6390"],
      ['"sled:./kv.sled"', (dir) => `sled:${path.join(dir, "kv.sled")}`],
      ['"memory:"', () => false],
      ['"wrangler:"', (dir) => `wrangler:${path.join(dir, ".wrangler", "state")}`],
      ['"./memory"', (dir) => path.join(dir, "memory")],
    ];
    for (const [toml, expected] of cases) {
      const dir = project({ "wrangler.toml": `[miniflare]\nkv_persist = ${toml}\n` });
      assert.deepEqual(withWranglerConfig({ wranglerConfigPath: path.join(dir, "wrangler.toml") }).kvPersist, expected(dir), toml);
    }
  });

  test("a persisted namespace from kv_persist survives a new Miniflare instance", async (t) => {
    const dir = project({
      "wrangler.toml": `kv_namespaces = [{ binding = "NS", id = "ns" }]\n[miniflare]\nkv_persist = "./data"\n`,
    });
    const wranglerConfigPath = path.join(dir, "wrangler.toml");
    let first;
    try {
      first = new Miniflare({ wranglerConfigPath });
    } catch (error) {
      if (/not supported yet/.test(error.message)) return t.skip("directory backend not wired yet");
      throw error;
    }
    await (await first.getKVNamespace("NS")).put("k", "kept");
    await first.dispose();
    const second = miniflare({ wranglerConfigPath });
    assert.equal(await (await second.getKVNamespace("NS")).get("k"), "kept");
  });

  test('build.upload.format = "service-worker" loads a service-worker script', async () => {
    const dir = project({
      "wrangler.toml": `main = "sw.js"\nkv_namespaces = [{ binding = "NS", id = "x" }]\n[build.upload]\nformat = "service-worker"\n`,
      "sw.js": `addEventListener("fetch", (e) => e.respondWith(new Response(typeof NS.get)));`,
    });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml") });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "function");
  });
});

describe("explicit options override the file", () => {
  test("kvNamespaces, scriptPath / script, modules and kvPersist given explicitly win", async () => {
    const dir = project({
      "wrangler.toml": `${TWO_ENVIRONMENTS}\n[miniflare]\nkv_persist = "./data"\n`,
      "src/worker.mjs": WHICH_WORKER,
      "other.mjs": "export default { fetch: () => new Response('other') }",
    });
    const wranglerConfigPath = path.join(dir, "wrangler.toml");
    const merged = withWranglerConfig({
      wranglerConfigPath,
      kvNamespaces: ["MINE"],
      scriptPath: path.join(dir, "other.mjs"),
      kvPersist: false,
    });
    assert.deepEqual(merged.kvNamespaces, ["MINE"]);
    assert.equal(merged.scriptPath, path.join(dir, "other.mjs"));
    assert.equal(merged.kvPersist, false);

    const mf = miniflare({ wranglerConfigPath, kvPersist: false, script: "export default { fetch: () => new Response('inline') }" });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "inline");
    assert.deepEqual(Object.keys(await mf.getBindings()), ["SESSIONS"]);
  });
});

describe("malformed files name the file, the line and the problem", () => {
  test("TOML syntax error", () => {
    const dir = project({ "wrangler.toml": `name = "app"\nmain = "src/index.js"\nkv_namespaces = [\n  { binding = "A" id = "x" },\n]\n` });
    const file = path.join(dir, "wrangler.toml");
    assert.throws(() => new Miniflare({ wranglerConfigPath: file }), (error) => {
      assert.equal(error.name, "WranglerConfigError");
      assert.match(error.message.split("\n")[0], new RegExp(`^${escape(file)}:4:\\d+: \\S`));
      return true;
    });
  });

  test("JSONC syntax error", () => {
    const dir = project({ "wrangler.jsonc": `{\n  "main": "a.js",\n  "kv_namespaces": [\n    { "binding": "A" "id": "x" }\n  ]\n}\n` });
    const file = path.join(dir, "wrangler.jsonc");
    assert.throws(() => new Miniflare({ wranglerConfigPath: file }), {
      message: `${file}:4:22: comma expected`,
    });
  });

  test("wrong shapes name the field", () => {
    const shapes = [
      [`kv_namespaces = { binding = "A" }\n`, "kv_namespaces must be an array of { binding, id } tables."],
      [`kv_namespaces = [{ id = "x" }]\n`, "kv_namespaces[0].binding must be a non-empty string."],
      [`kv_namespaces = [{ binding = "A", id = 5 }]\n`, "kv_namespaces[0].id must be a non-empty string."],
      [`main = 3\n`, "main must be the path of the Worker's entry script."],
      [`[miniflare]\nkv_persist = 1\n`, "miniflare.kv_persist must be true, false, a path or a URL."],
      // The kvPersist option's own rules: a bare word is not made a directory of that name.
      [`[miniflare]\nkv_persist = "memory"\n`, 'miniflare.kv_persist: kvPersist must be false or "memory:" (in memory), true (./.mf/kv), a directory path or file: URL, a redis:// or rediss:// URL, "sled:<path>", or "wrangler:<path>" (wrangler dev\'s .wrangler/state); got "memory": a bare word is not a storage form: use "memory:" (or false). For a directory of that name, write "./memory".'],
      [`[miniflare]\nkv_persist = "slde:./kv"\n`, 'miniflare.kv_persist: kvPersist must be false or "memory:" (in memory), true (./.mf/kv), a directory path or file: URL, a redis:// or rediss:// URL, "sled:<path>", or "wrangler:<path>" (wrangler dev\'s .wrangler/state); got "slde:./kv": "slde:" is not a supported scheme. Did you mean "sled:./kv"? For a directory of that name, write "./slde:./kv".'],
      [`[build.upload]\nformat = "esm"\n`, 'build.upload.format must be "modules" or "service-worker"; got "esm".'],
      [`vars = ["A"]\n`, "vars must be a table of NAME = value (strings, or JSON values)."],
    ];
    for (const [toml, problem] of shapes) {
      const dir = project({ "wrangler.toml": toml });
      const file = path.join(dir, "wrangler.toml");
      assert.throws(() => new Miniflare({ wranglerConfigPath: file }), { message: `${file}: ${problem}` }, toml);
    }
  });

  test("wranglerConfigEnv without wranglerConfigPath is a TypeError", () => {
    assert.throws(() => new Miniflare({ wranglerConfigEnv: "staging" }), TypeError);
  });
});

// A Worker that answers with its whole env, KV namespaces shown by name.
const ENV_WORKER = `export default {
  async fetch(request, env) {
    const shown = {};
    for (const [name, value] of Object.entries(env)) {
      shown[name] = typeof value?.get === "function" && typeof value?.list === "function" ? "<KVNamespace>" : value;
    }
    return Response.json(shown);
  },
};
`;

const WITH_VARS = `
main = "src/worker.mjs"
kv_namespaces = [{ binding = "NS", id = "ns" }]

[vars]
GREETING = "Hello"
API_URL = "https://example.com/api"
LIMITS = { max = 10, names = ["a", "b"] }
DEBUG = true

[env.staging.vars]
GREETING = "Hi from staging"
`;

describe("vars and the bindings option", () => {
  test("[vars] are in env and getBindings(): strings as strings, TOML tables as JSON values", async () => {
    const dir = project({ "wrangler.toml": WITH_VARS, "src/worker.mjs": ENV_WORKER });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml") });
    const expected = {
      NS: "<KVNamespace>",
      GREETING: "Hello",
      API_URL: "https://example.com/api",
      LIMITS: { max: 10, names: ["a", "b"] },
      DEBUG: true,
    };
    assert.deepEqual(await (await mf.dispatchFetch("http://localhost/")).json(), expected);
    const bindings = await mf.getBindings();
    assert.deepEqual(Object.keys(bindings), ["NS", "GREETING", "API_URL", "LIMITS", "DEBUG"]);
    assert.equal(bindings.GREETING, "Hello");
    assert.deepEqual(bindings.LIMITS, { max: 10, names: ["a", "b"] });
  });

  test("[env.<name>].vars replace the top level's (vars are not inherited, as in wrangler)", async () => {
    const dir = project({ "wrangler.toml": WITH_VARS, "src/worker.mjs": ENV_WORKER });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml"), wranglerConfigEnv: "staging" });
    assert.deepEqual(await (await mf.dispatchFetch("http://localhost/")).json(), { GREETING: "Hi from staging" });
  });

  test("wrangler.json vars: numbers, objects and strings as written", async () => {
    const dir = project({
      "wrangler.json": JSON.stringify({ main: "worker.mjs", vars: { COUNT: 3, FLAGS: { beta: false }, NAME: "json", LIST: [1, "2"] } }),
      "worker.mjs": ENV_WORKER,
    });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.json") });
    assert.deepEqual(await (await mf.dispatchFetch("http://localhost/")).json(), {
      COUNT: 3,
      FLAGS: { beta: false },
      NAME: "json",
      LIST: [1, "2"],
    });
  });

  test("Miniflare 2's bindings option: values bound as given (objects, functions), in env and getBindings()", async () => {
    const helper = (name) => `helped ${name}`;
    const mf = miniflare({
      modules: true,
      script: "export default { fetch: (req, env) => new Response(`${env.SECRET} ${env.help('x')} ${env.CONFIG.n} ${typeof env.NS.get}`) };",
      kvNamespaces: ["NS"],
      bindings: { SECRET: "s3cr3t", help: helper, CONFIG: { n: 1 } },
    });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "s3cr3t helped x 1 function");
    const bindings = await mf.getBindings();
    assert.equal(bindings.help, helper);
    assert.deepEqual(Object.keys(bindings), ["NS", "SECRET", "help", "CONFIG"]);
  });

  test("bindings are globals of a service-worker script", async () => {
    const mf = miniflare({
      script: 'addEventListener("fetch", (e) => e.respondWith(new Response(GREETING)));',
      bindings: { GREETING: "hello, service worker" },
    });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "hello, service worker");
  });

  test("explicit bindings win over the file's vars, name by name", async () => {
    const dir = project({ "wrangler.toml": WITH_VARS, "src/worker.mjs": ENV_WORKER });
    const mf = miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml"), bindings: { GREETING: "Overridden", EXTRA: 1 } });
    const env = await (await mf.dispatchFetch("http://localhost/")).json();
    assert.equal(env.GREETING, "Overridden");
    assert.equal(env.API_URL, "https://example.com/api");
    assert.equal(env.EXTRA, 1);
  });

  test("setOptions replaces the bindings", async () => {
    const mf = miniflare({ bindings: { A: "1" } });
    assert.deepEqual(await mf.getBindings(), { A: "1" });
    await mf.setOptions({ bindings: { B: "2" } });
    assert.deepEqual(await mf.getBindings(), { B: "2" });
  });

  test("malformed bindings and a name bound twice are TypeErrors", () => {
    assert.throws(() => new Miniflare({ bindings: ["A"] }), { name: "TypeError", message: /bindings must be a record/ });
    assert.throws(() => new Miniflare({ bindings: "A=1" }), TypeError);
    assert.throws(() => new Miniflare({ kvNamespaces: ["NS"], bindings: { NS: "x" } }), {
      name: "TypeError",
      message: "NS is bound both as a KV namespace and in bindings/vars: binding names must be unique.",
    });
    const dir = project({ "wrangler.toml": 'kv_namespaces = [{ binding = "NS", id = "ns" }]\n[vars]\nNS = "x"\n' });
    assert.throws(() => new Miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml") }), /NS is bound both/);
  });
});

const UNSUPPORTED = `
main = "worker.mjs"
kv_namespaces = [{ binding = "NS", id = "ns" }]
d1_databases = [{ binding = "DB", database_name = "app", database_id = "1" }, { binding = "DB2", database_name = "b", database_id = "2" }]
r2_buckets = [{ binding = "BUCKET", bucket_name = "files" }]
services = [{ binding = "AUTH", service = "auth" }]

[durable_objects]
bindings = [{ name = "COUNTER", class_name = "Counter" }]

[[queues.producers]]
binding = "JOBS"
queue = "jobs"

[vars]
GREETING = "Hello"
`;

/** Runs `code` (an ES module body with Miniflare, path and dir in scope) in a
 * fresh Node process and returns its stderr and stdout. */
function runNode(code, dir) {
  const index = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "index.js");
  const result = spawnSync(process.execPath, ["--input-type=module", "-e", `import { Miniflare } from ${JSON.stringify(index)};\nconst dir = ${JSON.stringify(dir)};\n${code}`], {
    encoding: "utf8",
  });
  assert.equal(result.status, 0, result.stderr);
  return { stderr: result.stderr, stdout: result.stdout };
}

describe("bindings this package does not emulate", () => {
  test("one console.warn per instance names each of them; KV and vars are still bound", () => {
    const dir = project({ "wrangler.toml": UNSUPPORTED, "worker.mjs": ENV_WORKER });
    const { stderr, stdout } = runNode(
      `const file = dir + "/wrangler.toml";
      const mf = new Miniflare({ wranglerConfigPath: file });
      await mf.setOptions({ wranglerConfigPath: file });
      console.log(JSON.stringify(await (await mf.dispatchFetch("http://localhost/")).json()));
      await mf.dispose();
      const other = new Miniflare({ wranglerConfigPath: file });
      await other.dispose();`,
      dir,
    );
    const warning =
      "miniflare-kv: the wrangler config's d1_databases (DB, DB2), r2_buckets (BUCKET), durable_objects (COUNTER), " +
      "services (AUTH), queues (JOBS) are not emulated and not in env (only kv_namespaces and vars are bound).";
    // Two instances: two warnings, none for the setOptions() in between.
    assert.deepEqual(stderr.trim().split("\n"), [warning, warning]);
    assert.deepEqual(JSON.parse(stdout), { NS: "<KVNamespace>", GREETING: "Hello" });
  });

  test("a config with only KV and vars warns about nothing", () => {
    const dir = project({ "wrangler.toml": WITH_VARS, "src/worker.mjs": ENV_WORKER });
    const { stderr } = runNode(`const mf = new Miniflare({ wranglerConfigPath: dir + "/wrangler.toml" }); await mf.ready; await mf.dispose();`, dir);
    assert.equal(stderr, "");
  });
});

function escape(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

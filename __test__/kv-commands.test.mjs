// `miniflare kv …` as users run it: the real command in a child process,
// against a directory, a sled database and Redis (when KV_TEST_REDIS_URL is
// set), in a project with a wrangler.toml. What the commands write is read
// back through `getKVNamespace()` and `dispatchFetch()` with the same config.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { before, describe, test } from "node:test";
import { createRequire } from "node:module";
import { flushCluster, redisClusterUrl, redisCommand, redisUrl, tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare } = require("..");
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "miniflare.js");
const TIMEOUT = { timeout: 60_000 };

/** Runs `miniflare <args>` in `cwd`; resolves { code, stdout, stderr, bytes }. */
function miniflare(args, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    let stderr = "";
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      resolve({ code: code ?? signal, stdout: bytes.toString("utf8"), stderr, bytes });
    });
  });
}

/** Runs a command that must succeed. */
async function ok(args, cwd) {
  const r = await miniflare(args, cwd);
  assert.equal(r.code, 0, `miniflare ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Runs a command that must fail with one line on stderr matching `pattern`. */
async function fails(args, cwd, pattern) {
  const r = await miniflare(args, cwd);
  assert.notEqual(r.code, 0, `miniflare ${args.join(" ")} should fail:\n${r.stdout}`);
  const lines = r.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^miniflare: /);
  assert.match(lines[0], pattern);
  return r;
}

function project(files) {
  const dir = tmp("project");
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  return dir;
}

const WORKER = `export default {
  async fetch(request, env) {
    const key = new URL(request.url).searchParams.get("key");
    const { value, metadata } = await env.MY_KV.getWithMetadata(key);
    return Response.json({ value, metadata });
  },
};
`;

/** A wrangler.toml whose MY_KV has a production id and a preview id, plus an env. */
function wranglerToml(persist, { id = "prod", previewId = "prev" } = {}) {
  return `name = "shop"
main = "worker.mjs"
kv_namespaces = [
  { binding = "MY_KV", id = "${id}", preview_id = "${previewId}" },
  { binding = "PLAIN" },
]

[miniflare]
kv_persist = ${JSON.stringify(persist)}

[env.staging]
kv_namespaces = [ { binding = "MY_KV", id = "staging-id" } ]
`;
}

/** Reads through the Miniflare API with the project's config; always disposes
 * (sled lets one process at a time open the database). */
async function withMiniflare(dir, fn, options = {}) {
  const mf = new Miniflare({ wranglerConfigPath: path.join(dir, "wrangler.toml"), ...options });
  try {
    return await fn(mf);
  } finally {
    await mf.dispose();
  }
}

// Every command runs on every backend. Flag variants and error messages,
// which do not depend on the backend, are checked on the directory only
// (`thorough`); the file of more than 10,000 pairs on sled and Redis, whose
// batches are atomic. Each command is a process start, so this keeps the run short.
const backends = [
  { name: "directory", persist: () => "kv-data", thorough: true },
  { name: "sled", persist: () => "sled:./kv.sled", large: true },
];
if (redisUrl) {
  backends.push({ name: "redis", persist: () => redisUrl, reset: () => redisCommand(redisUrl, "FLUSHDB"), large: true });
}
if (redisClusterUrl) {
  backends.push({ name: "redis-cluster", persist: () => redisClusterUrl, reset: flushCluster, large: true });
}

// The backends are independent (own project directory, own Redis database):
// run them side by side.
describe("miniflare kv on every backend", { concurrency: true }, () => {
  for (const backend of backends) {
    // In order within a backend (concurrency is inherited otherwise).
    describe(`miniflare kv on ${backend.name}`, { concurrency: 1 }, () => {
      let dir;
      before(async () => {
        await backend.reset?.();
        dir = project({ "wrangler.toml": wranglerToml(backend.persist()), "worker.mjs": WORKER });
      });

      test("namespace create, list, rename and delete", TIMEOUT, async () => {
        const created = await ok(["kv", "namespace", "create", "SESSIONS"], dir);
        const lines = created.stdout.trimEnd().split("\n");
        assert.equal(lines[0], '🌀 Creating namespace with title "shop-SESSIONS"');
        assert.equal(lines[1], "✨ Success!");
        assert.equal(lines[2], "Add the following to your configuration file in your kv_namespaces array:");
        const [, id] = /^\{ binding = "SESSIONS", id = "([0-9a-f]{32})" \}$/.exec(lines[3]) ?? [];
        assert.ok(id, `no id in ${lines[3]}`);

        const preview = await ok(["kv", "namespace", "create", "SESSIONS", "--preview", "-e", "staging"], dir);
        assert.match(preview.stdout, /title "shop-staging-SESSIONS_preview"/);
        assert.match(preview.stdout, /array under \[env\.staging\]:\n\{ binding = "SESSIONS", preview_id = "[0-9a-f]{32}" \}/);

        await fails(["kv", "namespace", "create", "SESSIONS"], dir, /A KV namespace with the title "shop-SESSIONS" already exists\./);
        if (backend.thorough) await fails(["kv", "namespace", "create", "9bad"], dir, /binding name "9bad" is invalid/);

        const listed = JSON.parse((await ok(["kv", "namespace", "list"], dir)).stdout);
        assert.deepEqual(
          listed.map((ns) => ns.title),
          ["shop-SESSIONS", "shop-staging-SESSIONS_preview"],
        );
        assert.deepEqual(listed[0], { id, title: "shop-SESSIONS", supports_url_encoding: true });

        const renamed = await ok(["kv", "namespace", "rename", "--namespace-id", id, "--new-name", "shop-SESSIONS-v2"], dir);
        assert.equal(
          renamed.stdout,
          `Renaming KV namespace ${id} to "shop-SESSIONS-v2".\n✨ Successfully renamed namespace to "shop-SESSIONS-v2"\n`,
        );
        // By title, with the old spelling of the command.
        await ok(["kv:namespace", "rename", "shop-SESSIONS-v2", "--new-name", "shop-SESSIONS"], dir);

        await ok(["kv", "key", "put", "--namespace-id", id, "k", "v"], dir);
        const deleted = await ok(["kv", "namespace", "delete", "--namespace-id", id], dir);
        assert.equal(deleted.stdout, `Deleting KV namespace ${id}.\nDeleted KV namespace ${id}.\n`);
        await fails(["kv", "key", "get", "--namespace-id", id, "k"], dir, new RegExp(`KV namespace "${id}" not found`));
        if (backend.thorough) await fails(["kv", "namespace", "delete", "--namespace-id", id], dir, /not found/);
        await ok(["kv", "namespace", "delete", "shop-staging-SESSIONS_preview", "-y"], dir);
        assert.deepEqual(JSON.parse((await ok(["kv", "namespace", "list"], dir)).stdout), []);
      });

      test("key put/get/list/delete by binding: what the Worker reads", TIMEOUT, async () => {
        const putAt = Math.floor(Date.now() / 1000);
        const put = await ok(["kv", "key", "put", "--binding", "MY_KV", "greeting", "hello", "--metadata", '{"by":"cli"}', "--ttl", "3600"], dir);
        const putDone = Math.ceil(Date.now() / 1000);
        // Without --preview, --binding means what the Worker reads: preview_id ?? id.
        assert.equal(put.stdout, 'Writing the value "hello" to key "greeting" on namespace prev with metadata "{"by":"cli"}".\n');
        const binary = Buffer.from([0, 1, 2, 255, 254, 10, 13]);
        writeFileSync(path.join(dir, "blob.bin"), binary);
        const fromFile = await ok(["kv", "key", "put", "--binding=MY_KV", "blob", "--path", "blob.bin"], dir);
        assert.equal(fromFile.stdout, 'Writing the contents of blob.bin to the key "blob" on namespace prev.\n');
        assert.deepEqual((await ok(["kv", "key", "get", "--binding", "MY_KV", "blob"], dir)).bytes, binary);
        if (backend.thorough) {
          await ok(["kv", "key", "put", "--binding", "MY_KV", "--no-preview", "greeting", "production value"], dir);
          assert.equal((await ok(["kv", "key", "get", "--binding", "MY_KV", "greeting"], dir)).stdout, "hello");
          assert.equal((await ok(["kv", "key", "get", "--binding", "MY_KV", "greeting", "--text"], dir)).stdout, "hello\n");
          assert.equal((await ok(["kv", "key", "get", "--namespace-id", "prod", "greeting"], dir)).stdout, "production value");
          assert.equal((await ok(["kv", "key", "get", "--binding", "MY_KV", "--preview", "greeting"], dir)).stdout, "hello");
          const prefixed = JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV", "--prefix", "gr"], dir)).stdout);
          assert.deepEqual(prefixed.map((k) => k.name), ["greeting"]);
        }

        const keys = JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV"], dir)).stdout);
        assert.deepEqual(keys.map((k) => k.name), ["blob", "greeting"]);
        assert.deepEqual(keys[1].metadata, { by: "cli" });
        const { expiration } = keys[1];
        assert.ok(expiration >= putAt + 3600 && expiration <= putDone + 3600, `expiration ${expiration}`);

        await withMiniflare(dir, async (mf) => {
          const ns = await mf.getKVNamespace("MY_KV");
          const { value, metadata } = await ns.getWithMetadata("greeting");
          assert.equal(value, "hello");
          assert.deepEqual(metadata, { by: "cli" });
          assert.deepEqual(Buffer.from(await ns.get("blob", "arrayBuffer")), binary);
          const res = await mf.dispatchFetch("http://localhost/?key=greeting");
          assert.deepEqual(await res.json(), { value: "hello", metadata: { by: "cli" } });
          // And the other way round: the Worker's write is read by the command.
          await ns.put("from-worker", "written by getKVNamespace");
        });
        assert.equal(
          (await ok(["kv", "key", "get", "--binding", "MY_KV", "from-worker"], dir)).stdout,
          "written by getKVNamespace",
        );

        const deleted = await ok(["kv", "key", "delete", "--binding", "MY_KV", "greeting"], dir);
        assert.equal(deleted.stdout, 'Deleting the key "greeting" on namespace prev.\n');
        await fails(["kv", "key", "get", "--binding", "MY_KV", "greeting"], dir, /Value not found: no key "greeting" in namespace prev\./);
      });

      test("--env selects the environment's namespace; old spellings work", TIMEOUT, async () => {
        const put = await ok(["kv:key", "put", "--env", "staging", "--binding", "MY_KV", "stage", "yes"], dir);
        assert.match(put.stdout, /on namespace staging-id\.$/m);
        await withMiniflare(
          dir,
          async (mf) => {
            const ns = await mf.getKVNamespace("MY_KV");
            assert.equal(await ns.get("stage"), "yes");
            const res = await mf.dispatchFetch("http://localhost/?key=stage");
            assert.equal((await res.json()).value, "yes");
          },
          { wranglerConfigEnv: "staging" },
        );
        if (backend.thorough) {
          // Not in the top-level namespace.
          await fails(["kv", "key", "get", "--binding", "MY_KV", "stage"], dir, /Value not found/);
          // A binding without ids uses its name, as the Worker does.
          await ok(["kv", "key", "put", "--binding", "PLAIN", "k", "plain"], dir);
          assert.equal((await ok(["kv", "key", "get", "--namespace-id", "PLAIN", "k"], dir)).stdout, "plain");
        }
      });

      test("bulk put, get and delete; progress; large files in batches", TIMEOUT, async () => {
        const now = Math.floor(Date.now() / 1000);
        const entries = [
          { key: "a", value: "alpha" },
          { key: "b", value: Buffer.from([0, 255, 1]).toString("base64"), base64: true, metadata: { n: 1 } },
          { key: "c", value: "gamma", expiration_ttl: 600, expiration: 1 },
          { key: "d", value: "delta", expiration: now + 7200, extra: true },
        ];
        writeFileSync(path.join(dir, "small.json"), JSON.stringify(entries));
        const put = await ok(["kv", "bulk", "put", "--binding", "MY_KV", "small.json"], dir);
        const putDone = Math.ceil(Date.now() / 1000);
        assert.equal(put.stdout, "Success!\n");
        assert.match(put.stderr, /Unexpected key-value properties in "small\.json".*\n {2}entry \[3\]: unexpected property "extra" \(ignored\)/s);

        await withMiniflare(dir, async (mf) => {
          const ns = await mf.getKVNamespace("MY_KV");
          assert.equal(await ns.get("a"), "alpha");
          assert.deepEqual(Buffer.from(await ns.get("b", "arrayBuffer")), Buffer.from([0, 255, 1]));
          assert.deepEqual((await ns.getWithMetadata("b")).metadata, { n: 1 });
          const listed = (await ns.list({ prefix: "c" })).keys[0];
          assert.ok(listed.expiration >= now + 600 && listed.expiration <= putDone + 600, "expiration_ttl wins over expiration");
        });

        writeFileSync(path.join(dir, "keys.json"), JSON.stringify(["a", { name: "d" }, "missing"]));
        const got = JSON.parse((await ok(["kv", "bulk", "get", "--binding", "MY_KV", "keys.json"], dir)).stdout);
        assert.deepEqual(got, { a: { value: "alpha" }, d: { value: "delta" }, missing: { value: null } });

        const deleted = await ok(["kv:bulk", "delete", "--binding", "MY_KV", "keys.json", "--force"], dir);
        assert.equal(deleted.stdout, "Success!\n");
        const names = JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV", "--prefix", ""], dir)).stdout).map((k) => k.name);
        assert.ok(!names.includes("a") && !names.includes("d") && names.includes("b"), names.join());

        if (!backend.large) return;
        // More than 10,000 pairs: two requests, with progress lines.
        const many = Array.from({ length: 10_050 }, (_, i) => ({ key: `bulk:${String(i).padStart(5, "0")}`, value: `v${i}` }));
        writeFileSync(path.join(dir, "many.json"), JSON.stringify(many));
        const big = await ok(["kv", "bulk", "put", "--binding", "MY_KV", "many.json"], dir);
        assert.equal(
          big.stdout,
          "many.json holds 10050 entries: applying them as 2 batches (a request takes at most 10,000 pairs and 100 MB).\n" +
            "Uploaded 99% (10000 out of 10050)\nUploaded 100% (10050 out of 10050)\nSuccess!\n",
        );
        const listed = JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV", "--prefix", "bulk:"], dir)).stdout);
        assert.equal(listed.length, 10_050);
        assert.equal(listed[10_049].name, "bulk:10049");
        const removed = await ok(["kv", "bulk", "delete", "--binding", "MY_KV", "many.json", "-f"], dir);
        assert.match(removed.stdout, /Deleted 100% \(10050 out of 10050\)\nSuccess!\n$/);
        assert.deepEqual(JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV", "--prefix", "bulk:"], dir)).stdout), []);
      });

      test("bad input: one line, non-zero exit, nothing written", TIMEOUT, async () => {
        const entries = Array.from({ length: 12 }, (_, i) => ({ key: `bad-${i}`, value: "v" }));
        entries[7].expiration_ttl = 30;
        writeFileSync(path.join(dir, "bad.json"), JSON.stringify(entries));
        await fails(
          ["kv", "bulk", "put", "--binding", "MY_KV", "bad.json"],
          dir,
          /bad\.json: Invalid bulk entry \[7\], field "expiration_ttl": Invalid expiration_ttl of 30\. Expiration TTL must be at least 60\. \(nothing was written\)$/,
        );
        if (backend.thorough) await badInputMessages(dir);
        const keys = JSON.parse((await ok(["kv", "key", "list", "--binding", "MY_KV", "--prefix", "bad"], dir)).stdout);
        assert.deepEqual(keys, [], "nothing of a rejected command was written");
      });
    });
  }
});

/** The error messages of the commands (backend-independent). */
async function badInputMessages(dir) {
  writeFileSync(path.join(dir, "broken.json"), '[{"key": "x", "value": "y"},');
  await fails(["kv", "bulk", "put", "--binding", "MY_KV", "broken.json"], dir, /broken\.json: Invalid bulk request: not valid JSON/);
  writeFileSync(path.join(dir, "novalue.json"), '[{"key": "bad-x"}]');
  await fails(["kv", "bulk", "put", "--binding", "MY_KV", "novalue.json"], dir, /Invalid bulk entry \[0\], field "value": is missing/);
  await fails(["kv", "bulk", "put", "--binding", "MY_KV", "nope.json"], dir, /nope\.json: no such file\./);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "bad-m", "v", "--metadata", "{oops"], dir, /^miniflare: --metadata must be valid JSON\. Received: \{oops$/);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "bad-m", "v", "--metadata", "[1]"], dir, /--metadata must be a JSON object\. Received: \[1\]/);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "bad-t", "v", "--ttl", "10"], dir, /KV PUT failed: 400 Invalid expiration_ttl of 10\. Expiration TTL must be at least 60\./);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "bad-t", "v", "--ttl", "soon"], dir, /--ttl <seconds>.*must be a whole number of seconds/);
  writeFileSync(path.join(dir, "huge.bin"), Buffer.alloc(25 * 1024 * 1024 + 1, 7));
  await fails(
    ["kv", "key", "put", "--binding", "MY_KV", "bad-huge", "--path", "huge.bin"],
    dir,
    /KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400\./,
  );
  await fails(["kv", "key", "put", "--namespace-id", "no-such-namespace", "k", "v"], dir, /KV namespace "no-such-namespace" not found/);
  await fails(["kv", "key", "put", "--binding", "NOPE", "k", "v"], dir, /no KV namespace with binding "NOPE" in wrangler\.toml \(bindings: MY_KV, PLAIN\)\./);
  await fails(["kv", "key", "put", "k", "v"], dir, /exactly one of --binding and --namespace-id must be provided/);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "--namespace-id", "prev", "k", "v"], dir, /cannot be used together/);
  await fails(["kv", "key", "put", "--binding", "MY_KV", "k"], dir, /Missing value/);
  await fails(["kv", "key", "get", "--binding", "MY_KV", "--remote", "k"], dir, /--remote is not supported/);
  await fails(["kv", "key", "list", "--namespace-id", "no-such-namespace"], dir, /not found/);
}

describe("miniflare kv: choosing the storage", () => {
  test("without a config: ./.mf/kv, as `miniflare --kv-persist`", TIMEOUT, async () => {
    const dir = project({});
    const created = await ok(["kv", "namespace", "create", "NS"], dir);
    const id = /id = "([0-9a-f]{32})"/.exec(created.stdout)[1];
    assert.match(created.stdout, /title "worker-NS"/);
    await ok(["kv", "key", "put", "--namespace-id", id, "k", "v"], dir);
    assert.ok(existsSync(path.join(dir, ".mf", "kv", ".^kv-namespaces.json")));
    const mf = new Miniflare({ kvNamespaces: { NS: id }, kvPersist: path.join(dir, ".mf", "kv") });
    try {
      assert.equal(await (await mf.getKVNamespace("NS")).get("k"), "v");
    } finally {
      await mf.dispose();
    }
    await fails(["kv", "key", "list", "--binding", "NS"], dir, /--binding NS needs a wrangler config/);
  });

  test("--persist-to and --kv-persist pick a directory or sled database", TIMEOUT, async () => {
    const dir = project({ "wrangler.toml": 'kv_namespaces = [{ binding = "B", id = "the-id" }]\n' });
    const sledPath = path.join(dir, "other.sled");
    await ok(["kv", "key", "put", "--binding", "B", "--persist-to", "elsewhere", "k", "in a directory"], dir);
    await ok(["kv", "key", "put", "--binding", "B", "--kv-persist", `sled:${sledPath}`, "k", "in sled"], dir);
    await fails(["kv", "key", "get", "--binding", "B", "--persist-to", "memory:", "k"], dir, /in-memory KV lives only as long as one process/);
    for (const [kvPersist, expected] of [[path.join(dir, "elsewhere"), "in a directory"], [`sled:${sledPath}`, "in sled"]]) {
      const mf = new Miniflare({ kvNamespaces: { B: "the-id" }, kvPersist });
      try {
        assert.equal(await (await mf.getKVNamespace("B")).get("k"), expected);
      } finally {
        await mf.dispose();
      }
    }
  });

  test("`miniflare kv` is a command, not a script; the server still takes its script", TIMEOUT, async () => {
    const help = await miniflare(["kv", "--help"], project({}));
    assert.equal(help.code, 0);
    for (const word of ["namespace", "key", "bulk"]) assert.match(help.stdout, new RegExp(`\\b${word}\\b`));
    const put = await miniflare(["kv", "key", "put", "--help"], project({}));
    for (const flag of ["--binding", "--namespace-id", "--preview", "--env", "--config", "--ttl", "--expiration", "--metadata", "--path", "--persist-to", "--kv-persist"]) {
      assert.ok(put.stdout.includes(flag), `kv key put --help does not mention ${flag}`);
    }
    const serverHelp = await miniflare(["--help"], project({}));
    assert.match(serverHelp.stdout, /--api-port <port>/);
    assert.match(serverHelp.stdout, /\bkv\b/);
  });
});

describe("miniflare kv: where the data is", () => {
  test("writes say where they wrote and the server flag that serves it; that flag serves it", TIMEOUT, async () => {
    const dir = project({
      "wrangler.toml": 'main = "worker.mjs"\nkv_namespaces = [{ binding = "MY_KV", id = "my-id" }]\n',
      "worker.mjs": WORKER,
    });
    const put = await ok(["kv", "key", "put", "--binding", "MY_KV", "greeting", "hello"], dir);
    assert.equal(put.stdout, 'Writing the value "hello" to key "greeting" on namespace my-id.\n');
    assert.equal(put.stderr, "KV data: ./.mf/kv (serve it with: miniflare --kv-persist ./.mf/kv)\n");
    const elsewhere = await ok(["kv", "key", "put", "--binding", "MY_KV", "--persist-to", "other dir", "k", "v"], dir);
    assert.equal(elsewhere.stderr, "KV data: './other dir' (serve it with: miniflare --kv-persist './other dir')\n");
    const sled = await ok(["kv", "bulk", "put", "--binding", "MY_KV", "--persist-to", "sled:kv.sled", writeJson(dir, "pairs.json", [{ key: "a", value: "1" }])], dir);
    assert.equal(sled.stdout, "Success!\n");
    assert.equal(sled.stderr, "KV data: sled:./kv.sled (serve it with: miniflare --kv-persist sled:./kv.sled)\n");
    for (const args of [["kv", "key", "delete", "--binding", "MY_KV", "k", "--persist-to", "other dir"], ["kv", "namespace", "create", "X"]]) {
      assert.match((await ok(args, dir)).stderr, /^KV data: .* \(serve it with: miniflare --kv-persist .*\)\n$/);
    }
    // Reads print no such line.
    assert.equal((await ok(["kv", "key", "get", "--binding", "MY_KV", "greeting"], dir)).stderr, "");

    // The server, run with the flag named, reads what was written.
    const child = spawn(process.execPath, [BIN, "-p", "0", "--kv-persist", "./.mf/kv"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const exited = new Promise((resolve) => child.on("close", resolve));
    try {
      const listening = await new Promise((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (d) => {
          stdout += d;
          const match = /Listening on (http:\/\/\S+)/.exec(stdout);
          if (match) resolve(match[1]);
        });
        child.on("close", () => reject(new Error(`server exited early:\n${stdout}`)));
      });
      assert.deepEqual(await (await fetch(`${listening}/?key=greeting`)).json(), { value: "hello", metadata: null });
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0);
  });

  test("-c ../wrangler.toml: the default location and kv_persist are next to the file", TIMEOUT, async () => {
    const dir = project({
      "wrangler.toml": 'kv_namespaces = [{ binding = "B", id = "b-id" }]\n',
      "sub/.keep": "",
      "persisted/wrangler.toml": 'kv_namespaces = [{ binding = "B", id = "b-id" }]\n[miniflare]\nkv_persist = "data"\n',
    });
    const sub = path.join(dir, "sub");
    const put = await ok(["kv", "key", "put", "-c", "../wrangler.toml", "--binding", "B", "k", "v"], sub);
    assert.equal(put.stderr, `KV data: ${path.join(dir, ".mf", "kv")} (serve it with: miniflare --kv-persist ${path.join(dir, ".mf", "kv")})\n`);
    assert.ok(existsSync(path.join(dir, ".mf", "kv")));
    assert.ok(!existsSync(path.join(sub, ".mf")));
    assert.equal((await ok(["kv", "key", "get", "-c", "../wrangler.toml", "--binding", "B", "k"], sub)).stdout, "v");

    await ok(["kv", "key", "put", "-c", "../persisted/wrangler.toml", "--binding", "B", "k", "in data"], sub);
    assert.ok(existsSync(path.join(dir, "persisted", "data")));
    assert.ok(!existsSync(path.join(sub, "data")));
    const mf = new Miniflare({ kvNamespaces: { B: "b-id" }, kvPersist: path.join(dir, "persisted", "data") });
    try {
      assert.equal(await (await mf.getKVNamespace("B")).get("k"), "in data");
    } finally {
      await mf.dispose();
    }
  });

  test("read-only commands never create a directory or database", TIMEOUT, async () => {
    const dir = project({ "wrangler.toml": 'kv_namespaces = [{ binding = "B", id = "b-id" }, { binding = "C", id = "c-id" }]\n' });
    const keys = writeJson(dir, "keys.json", ["a", "b"]);
    const before = readdirSync(dir).sort();
    for (const persist of [[], ["--persist-to", "missing/kv"], ["--persist-to", "sled:missing.sled"]]) {
      const shown = persist.length === 0 ? "./.mf/kv" : persist[1].startsWith("sled:") ? "sled:./missing.sled" : "./missing/kv";
      const note = `miniflare: no KV data at ${shown} yet (nothing was created).\n`;
      const got = await fails(["kv", "key", "get", "--binding", "B", "k", ...persist], dir, /Value not found: no key "k" in namespace b-id\. There is no KV data at .* yet\./);
      assert.ok(got.stderr.includes(shown), got.stderr);
      const namespaces = await ok(["kv", "namespace", "list", ...persist], dir);
      assert.deepEqual(JSON.parse(namespaces.stdout), []);
      assert.equal(namespaces.stderr, note);
      const listed = await ok(["kv", "key", "list", "--binding", "B", ...persist], dir);
      assert.deepEqual(JSON.parse(listed.stdout), []);
      assert.equal(listed.stderr, note);
      const bulk = await ok(["kv", "bulk", "get", "--binding", "B", keys, ...persist], dir);
      assert.deepEqual(JSON.parse(bulk.stdout), { a: { value: null }, b: { value: null } });
      await fails(["kv", "key", "get", "--namespace-id", "unknown", "k", ...persist], dir, /KV namespace "unknown" not found/);
      assert.deepEqual(readdirSync(dir).sort(), before, `created by a read with ${persist.join(" ") || "the default location"}`);
    }
    // An existing store: a read of a namespace that holds nothing creates nothing inside it either.
    await ok(["kv", "key", "put", "--namespace-id", "b-id", "k", "v"], dir);
    const inside = readdirSync(path.join(dir, ".mf", "kv")).sort();
    await fails(["kv", "key", "get", "--binding", "C", "nope"], dir, /Value not found: no key "nope" in namespace c-id\. \(KV data: \.\/\.mf\/kv\)$/);
    assert.deepEqual(JSON.parse((await ok(["kv", "key", "list", "--binding", "C"], dir)).stdout), []);
    assert.deepEqual(JSON.parse((await ok(["kv", "bulk", "get", "--binding", "C", keys], dir)).stdout), { a: { value: null }, b: { value: null } });
    assert.deepEqual(readdirSync(path.join(dir, ".mf", "kv")).sort(), inside);
  });
});

function writeJson(dir, name, value) {
  writeFileSync(path.join(dir, name), JSON.stringify(value));
  return name;
}

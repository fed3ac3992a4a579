// The real wrangler CLI (devDependency) against the local REST API, with only
// CLOUDFLARE_API_BASE_URL and CLOUDFLARE_API_TOKEN set: no account id, so
// wrangler first asks /memberships (and whoami /user/tokens/verify, /user,
// /accounts). Every `wrangler kv … --remote` command, then the data read back
// through the Node API.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare, startKvApi } = require("..");
const WRANGLER = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "node_modules", "wrangler", "bin", "wrangler.js");
const TIMEOUT = { timeout: 240_000 };

/** Runs wrangler asynchronously (the API answers in this same process). */
function wrangler(api, cwd, args, { token = "any-token-at-all" } = {}) {
  const env = { ...process.env, CLOUDFLARE_API_BASE_URL: api.url, CLOUDFLARE_API_TOKEN: token, CI: "true" };
  // Nothing may say which account: wrangler must find it itself.
  for (const name of ["CLOUDFLARE_ACCOUNT_ID", "CF_ACCOUNT_ID", "CLOUDFLARE_API_KEY", "CLOUDFLARE_EMAIL"]) delete env[name];
  Object.assign(env, {
    WRANGLER_SEND_METRICS: "false",
    HOME: cwd, // wrangler's own config and logs stay in the test's folder
    XDG_CONFIG_HOME: path.join(cwd, ".config"),
    NO_COLOR: "1",
    FORCE_COLOR: "0",
  });
  return new Promise((resolve) => {
    execFile(process.execPath, [WRANGLER, ...args], { cwd, env, encoding: "utf8", maxBuffer: 1 << 26 }, (error, stdout, stderr) =>
      resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(api, cwd, args, options) {
  const result = await wrangler(api, cwd, args, options);
  assert.equal(result.code, 0, `wrangler ${args.join(" ")}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

describe("wrangler 4 --remote against the local API", () => {
  test("whoami names the local account; kv namespace, key and bulk commands work with no account id", TIMEOUT, async () => {
    const dir = tmp("wrangler");
    const persist = path.join(dir, "kv");
    const api = await startKvApi(persist);
    try {
      const who = await ok(api, dir, ["whoami"]);
      assert.match(who, /You are logged in with an User API Token, associated with the email local-user@miniflare-kv\.invalid/);
      assert.match(who, /Local KV \(miniflare-kv\)\s*│\s*00000000000000000000000000000000/);

      const created = await ok(api, dir, ["kv", "namespace", "create", "SESSIONS"]);
      const id = /"?id"?\s*[:=]\s*"([0-9a-f]{32})"/.exec(created)?.[1];
      assert.ok(id, created);
      const listed = JSON.parse(await ok(api, dir, ["kv", "namespace", "list"]));
      assert.deepEqual(listed.map((ns) => [ns.id, ns.title]), [[id, "SESSIONS"]]);

      await ok(api, dir, ["kv", "key", "put", "--remote", "--namespace-id", id, "user:1", "hello", "--metadata", '{"plan":"pro"}', "--ttl", "3600"]);
      assert.equal((await ok(api, dir, ["kv", "key", "get", "--remote", "--namespace-id", id, "user:1", "--text"])).trimEnd(), "hello");
      const file = path.join(dir, "blob.bin");
      writeFileSync(file, Buffer.from([0, 1, 2, 250, 255]));
      await ok(api, dir, ["kv", "key", "put", "--remote", "--namespace-id", id, "blob", "--path", file]);

      const bulkFile = path.join(dir, "bulk.json");
      const entries = Array.from({ length: 30 }, (_, i) => ({ key: `item:${String(i).padStart(2, "0")}`, value: `v${i}` }));
      writeFileSync(bulkFile, JSON.stringify(entries));
      await ok(api, dir, ["kv", "bulk", "put", "--remote", "--namespace-id", id, bulkFile]);
      const keys = JSON.parse(await ok(api, dir, ["kv", "key", "list", "--remote", "--namespace-id", id, "--prefix", "item:"]));
      assert.equal(keys.length, 30);
      const all = JSON.parse(await ok(api, dir, ["kv", "key", "list", "--remote", "--namespace-id", id]));
      const user = all.find((k) => k.name === "user:1");
      assert.deepEqual(user.metadata, { plan: "pro" });
      assert.ok(Math.abs(user.expiration - (Date.now() / 1000 + 3600)) < 120, JSON.stringify(user));

      const keyList = path.join(dir, "delete.json");
      writeFileSync(keyList, JSON.stringify(entries.slice(0, 10).map((e) => e.key)));
      await ok(api, dir, ["kv", "bulk", "delete", "--remote", "--namespace-id", id, keyList, "--force"]);
      await ok(api, dir, ["kv", "key", "delete", "--remote", "--namespace-id", id, "user:1"]);

      await ok(api, dir, ["kv", "namespace", "rename", "--namespace-id", id, "--new-name", "SESSIONS-v2"]);

      // What wrangler wrote, a Worker reads.
      const mf = new Miniflare({ kvNamespaces: { KV: id }, kvPersist: persist });
      try {
        const kv = await mf.getKVNamespace("KV");
        assert.equal(await kv.get("user:1"), null);
        assert.deepEqual(new Uint8Array(await kv.get("blob", "arrayBuffer")), new Uint8Array([0, 1, 2, 250, 255]));
        const left = await kv.list({ prefix: "item:" });
        assert.deepEqual(left.keys.map((k) => k.name), entries.slice(10).map((e) => e.key));
      } finally {
        await mf.dispose();
      }
      const renamed = JSON.parse(await ok(api, dir, ["kv", "namespace", "list"]));
      assert.deepEqual(renamed.map((ns) => ns.title), ["SESSIONS-v2"]);
      await ok(api, dir, ["kv", "namespace", "delete", "--namespace-id", id, "--skip-confirmation"]);
      assert.deepEqual(JSON.parse(await ok(api, dir, ["kv", "namespace", "list"])), []);
    } finally {
      await api.close();
    }
  });

  test("with a required token: the right one works, another is refused with the API's message", TIMEOUT, async () => {
    const dir = tmp("wrangler-token");
    mkdirSync(path.join(dir, "w"));
    const api = await startKvApi(path.join(dir, "kv"), { apiToken: "local-secret" });
    try {
      const who = await ok(api, dir, ["whoami"], { token: "local-secret" });
      assert.match(who, /Local KV \(miniflare-kv\)/);
      const refused = await wrangler(api, dir, ["kv", "namespace", "list"], { token: "wrong" });
      assert.notEqual(refused.code, 0);
      assert.match(refused.stdout + refused.stderr, /Authentication error/);
    } finally {
      await api.close();
    }
  });
});

// Not a test: a guard that the file keeps the CLI it claims to run.
assert.match(JSON.parse(readFileSync(path.join(path.dirname(WRANGLER), "..", "package.json"), "utf8")).version, /^4\./);

// `kvPersist: "wrangler:<path>"` against the real tools on one store: the
// wrangler 4 CLI (`wrangler kv key … --local --persist-to <state>`) and
// Miniflare 4 (`new Miniflare({ kvPersist: "<state>/v3/kv" })` and its
// getKVNamespace), in both directions, with text and binary values,
// metadata, expirations and deletes, and writes side by side while
// Miniflare 4 (workerd) has the databases open.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { createRequire } from "node:module";
import { tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare, startKvApi } = require("..");
const { Miniflare: Miniflare4 } = require("miniflare");
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), "..");
const BIN = path.join(ROOT, "bin", "miniflare.js");
const WRANGLER = path.join(ROOT, "node_modules", "wrangler", "bin", "wrangler.js");
const NS = "e29b263ab50e42ce9b637fa8370175e8";
const TIMEOUT = { timeout: 180_000 };
const BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

/** Runs `node <script> <args>` in `cwd`; resolves { code, stdout (Buffer), stderr }. */
function run(script, args, cwd) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" };
    const child = spawn(process.execPath, [script, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const out = [];
    let stderr = "";
    child.stdout.on("data", (d) => out.push(d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout: Buffer.concat(out), stderr });
    });
  });
}

/** A wrangler project (name, main, one KV binding) with its state folder. */
function project() {
  const dir = tmp("wrangler-project");
  writeFileSync(
    path.join(dir, "wrangler.toml"),
    `name = "probe"\nmain = "index.js"\ncompatibility_date = "2025-01-01"\n\n[[kv_namespaces]]\nbinding = "KV"\nid = "${NS}"\n`,
  );
  writeFileSync(path.join(dir, "index.js"), "export default { fetch() { return new Response('ok'); } };\n");
  return { dir, state: path.join(dir, ".wrangler", "state") };
}

/** `wrangler kv key <args> --binding KV --local --persist-to <state>`, which must succeed. */
async function wrangler({ dir, state }, ...args) {
  const r = await run(WRANGLER, ["kv", "key", ...args, "--binding", "KV", "--local", "--persist-to", state], dir);
  assert.equal(r.code, 0, `wrangler kv key ${args.join(" ")} failed:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The JSON array `wrangler kv key list` prints (after its banner lines). */
async function wranglerList(p) {
  const out = (await wrangler(p, "list")).toString("utf8");
  return JSON.parse(out.slice(out.indexOf("[")));
}

const ours = (state) => new Miniflare({ kvNamespaces: { KV: NS }, kvPersist: `wrangler:${state}` });
const theirs = (state) =>
  new Miniflare4({
    modules: true,
    script: "export default { fetch() { return new Response('ok'); } }",
    kvNamespaces: { KV: NS },
    kvPersist: path.join(state, "v3", "kv"),
  });

describe("wrangler 4 CLI and miniflare-kv on one .wrangler store", () => {
  test("what wrangler writes, we read: text, binary, metadata, TTL; its deletes", TIMEOUT, async () => {
    const p = project();
    const binFile = path.join(p.dir, "bytes.bin");
    writeFileSync(binFile, BYTES);
    await wrangler(p, "put", "text", "hello from wrangler");
    await wrangler(p, "put", "binary", "--path", binFile);
    const before = Math.floor(Date.now() / 1000);
    await wrangler(p, "put", "meta", "m", "--metadata", '{"by":"wrangler","n":[1,2]}', "--ttl", "3600");
    await wrangler(p, "put", "doomed", "x");

    const mf = ours(p.state);
    try {
      const ns = await mf.getKVNamespace("KV");
      assert.equal(await ns.get("text"), "hello from wrangler");
      assert.deepEqual(Buffer.from(await ns.get("binary", "arrayBuffer")), BYTES);
      const meta = await ns.getWithMetadata("meta");
      assert.deepEqual([meta.value, meta.metadata], ["m", { by: "wrangler", n: [1, 2] }]);
      const { keys, list_complete } = await ns.list();
      assert.equal(list_complete, true);
      assert.deepEqual(keys.map((k) => k.name), ["binary", "doomed", "meta", "text"]);
      const expiration = keys.find((k) => k.name === "meta").expiration;
      assert.ok(expiration >= before + 3600 && expiration <= before + 3700, `expiration ${expiration}`);
      assert.equal(await ns.get("doomed"), "x");

      await wrangler(p, "delete", "doomed");
      assert.equal(await ns.get("doomed"), null, "the open store sees wrangler's delete");
      assert.deepEqual((await ns.list()).keys.map((k) => k.name), ["binary", "meta", "text"]);
    } finally {
      await mf.dispose();
    }
  });

  test("what we write, wrangler reads: text, binary, metadata, expiration; our deletes", TIMEOUT, async () => {
    const p = project();
    const mf = ours(p.state);
    const expiration = Math.floor(Date.now() / 1000) + 7200;
    try {
      const ns = await mf.getKVNamespace("KV");
      await ns.put("text", "hello from miniflare-kv");
      await ns.put("binary", BYTES);
      await ns.put("meta", "m", { metadata: { by: "us" }, expiration });
      await ns.put("doomed", "x");
      await ns.delete("doomed");
    } finally {
      await mf.dispose();
    }
    assert.equal((await wrangler(p, "get", "text", "--text")).toString("utf8").trimEnd(), "hello from miniflare-kv");
    assert.deepEqual(await wrangler(p, "get", "binary"), BYTES);
    const listed = await wranglerList(p);
    assert.deepEqual(listed, [
      { name: "binary" },
      { name: "meta", expiration, metadata: { by: "us" } },
      { name: "text" },
    ]);
    const missing = await run(WRANGLER, ["kv", "key", "get", "doomed", "--binding", "KV", "--local", "--persist-to", p.state], p.dir);
    assert.match(missing.stdout.toString("utf8") + missing.stderr, /Value not found/);
    // Only the three live values have blobs: the deleted key's went with it.
    assert.equal(readdirSync(path.join(p.state, "v3", "kv", NS, "blobs")).length, 3);
  });

  test("miniflare kv --persist-to wrangler:<state> reads and writes the same store", TIMEOUT, async () => {
    const p = project();
    await wrangler(p, "put", "greeting", "hi");
    const got = await run(BIN, ["kv", "key", "get", "--binding", "KV", "greeting", "--persist-to", `wrangler:${p.state}`], p.dir);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.toString("utf8"), "hi");
    const put = await run(BIN, ["kv", "key", "put", "--binding", "KV", "from-cli", "v", "--persist-to", "wrangler:.wrangler/state"], p.dir);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((await wrangler(p, "get", "from-cli", "--text")).toString("utf8").trimEnd(), "v");
    const list = await run(BIN, ["kv", "namespace", "list", "--persist-to", `wrangler:${p.state}`], p.dir);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), [{ id: NS, title: NS, supports_url_encoding: true }]);
  });
});

/** Starts `miniflare <args>` in `cwd`; resolves { url, child } once it listens. */
function serve(args, cwd) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${output}`)), 30_000);
    const look = (d) => {
      output += d;
      const match = /Listening on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ url: match[1], child });
      }
    };
    child.stdout.setEncoding("utf8").on("data", look);
    child.stderr.setEncoding("utf8").on("data", look);
    child.on("exit", (code) => reject(new Error(`the server exited (${code}):\n${output}`)));
  });
}

test("the miniflare server serves a Worker over the wrangler store", TIMEOUT, async () => {
  const p = project();
  writeFileSync(
    path.join(p.dir, "index.js"),
    'export default { async fetch(req, env) { return new Response(await env.KV.get("greeting")); } };\n',
  );
  await wrangler(p, "put", "greeting", "served from .wrangler");
  const { url, child } = await serve(["--kv-persist", "wrangler:.wrangler/state", "--port", "0"], p.dir);
  try {
    const res = await fetch(url);
    assert.equal(await res.text(), "served from .wrangler");
  } finally {
    child.kill("SIGINT");
  }
});

describe("Miniflare 4 and miniflare-kv side by side on one store", () => {
  let p;
  let mf4;
  let theirNs;
  let mf;
  let ns;
  before(async () => {
    p = project();
    mf4 = theirs(p.state);
    theirNs = await mf4.getKVNamespace("KV");
    await theirNs.put("seed", "from Miniflare 4"); // workerd creates the database
    mf = ours(p.state);
    ns = await mf.getKVNamespace("KV");
  });
  after(async () => {
    await mf?.dispose();
    await mf4?.dispose();
  });

  test("each sees the other's text, binary, metadata and expiration at once", TIMEOUT, async () => {
    assert.equal(await ns.get("seed"), "from Miniflare 4");
    const expiration = Math.floor(Date.now() / 1000) + 600;
    // Miniflare 4's proxy takes a whole ArrayBuffer (not a view on Node's pool).
    await theirNs.put("their-bin", new Uint8Array(BYTES).buffer, { metadata: { side: "mf4" }, expiration });
    const got = await ns.getWithMetadata("their-bin", "arrayBuffer");
    assert.deepEqual(Buffer.from(got.value), BYTES);
    assert.deepEqual(got.metadata, { side: "mf4" });
    assert.equal((await ns.list({ prefix: "their-" })).keys[0].expiration, expiration);

    await ns.put("our-bin", BYTES.subarray(100), { metadata: { side: "ours" }, expirationTtl: 600 });
    const back = await theirNs.getWithMetadata("our-bin", "arrayBuffer");
    assert.deepEqual(Buffer.from(back.value), BYTES.subarray(100));
    assert.deepEqual(back.metadata, { side: "ours" });
    const theirList = await theirNs.list();
    const ourList = await ns.list();
    assert.deepEqual(
      theirList.keys.map((k) => [k.name, k.expiration, k.metadata]),
      ourList.keys.map((k) => [k.name, k.expiration, k.metadata]),
    );
  });

  test("alternating writes to one key, deletes both ways", TIMEOUT, async () => {
    for (let i = 0; i < 20; i++) {
      const [writer, reader] = i % 2 === 0 ? [ns, theirNs] : [theirNs, ns];
      await writer.put("turns", `value ${i}`);
      assert.equal(await reader.get("turns"), `value ${i}`, `turn ${i}`);
    }
    await ns.delete("turns");
    assert.equal(await theirNs.get("turns"), null);
    await theirNs.put("turns", "again");
    assert.equal(await ns.get("turns"), "again");
    await theirNs.delete("turns");
    assert.equal(await ns.get("turns"), null);
    // Every replaced or deleted value's blob is gone: one blob per live row.
    const rows = (await ns.list()).keys.length;
    assert.equal(readdirSync(path.join(p.state, "v3", "kv", NS, "blobs")).length, rows);
  });

  test("concurrent writers on both sides lose nothing", TIMEOUT, async () => {
    const writes = [];
    for (let i = 0; i < 50; i++) {
      writes.push(ns.put(`ours-${String(i).padStart(2, "0")}`, `o${i}`));
      writes.push(theirNs.put(`theirs-${String(i).padStart(2, "0")}`, `t${i}`));
    }
    await Promise.all(writes);
    const ourNames = (await ns.list({ prefix: "ours-" })).keys.length;
    const theirNames = (await ns.list({ prefix: "theirs-" })).keys.length;
    assert.deepEqual([ourNames, theirNames], [50, 50]);
    assert.equal((await theirNs.list({ prefix: "ours-" })).keys.length, 50);
    assert.equal(await theirNs.get("ours-49"), "o49");
    assert.equal(await ns.get("theirs-49"), "t49");
  });

  test("expiry: a key past its expiration is gone for both", TIMEOUT, async () => {
    await theirNs.put("short", "s", { expirationTtl: 60 });
    await ns.put("short-ours", "s", { expirationTtl: 60 });
    assert.equal(await ns.get("short"), "s");
    // KV time here is Date.now(): move it past the expiration.
    const realNow = Date.now;
    Date.now = () => realNow() + 61_000;
    try {
      assert.equal(await ns.get("short"), null);
      assert.equal(await ns.get("short-ours"), null);
      assert.ok(!(await ns.list()).keys.some((k) => k.name.startsWith("short")));
    } finally {
      Date.now = realNow;
    }
    // Reclaimed from the database, so Miniflare 4 (on the real clock) no longer has them either.
    assert.equal(await theirNs.get("short"), null);
    assert.equal(await theirNs.get("short-ours"), null);
  });

  test("pushStorage/popStorage on the wrangler store, seen by Miniflare 4", TIMEOUT, async () => {
    await ns.put("stable", "1");
    await mf.pushStorage();
    await ns.put("stable", "changed");
    await ns.put("temporary", "t");
    assert.equal(await theirNs.get("temporary"), "t");
    await mf.popStorage();
    assert.equal(await theirNs.get("stable"), "1");
    assert.equal(await theirNs.get("temporary"), null);
  });

  test("dispatchFetch and the REST API over the same store", TIMEOUT, async () => {
    await theirNs.put("count", "41");
    const worker = new Miniflare({
      modules: true,
      script: `export default { async fetch(req, env) {
        const n = parseInt(await env.KV.get("count")) + 1;
        await env.KV.put("count", String(n));
        return new Response(String(n));
      } }`,
      kvNamespaces: { KV: NS },
      kvPersist: `wrangler:${path.join(p.state, "v3")}`,
    });
    try {
      const res = await worker.dispatchFetch("http://localhost/");
      assert.equal(await res.text(), "42");
    } finally {
      await worker.dispose();
    }
    assert.equal(await theirNs.get("count"), "42");
    const api = await startKvApi(`wrangler:${path.join(p.state, "v3", "kv")}`, { port: 0 });
    try {
      const res = await fetch(`${api.url}/accounts/local/storage/kv/namespaces/${NS}/values/count`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), "42");
    } finally {
      await api.close();
    }
  });
});

describe("wrangler: paths that hold no store", () => {
  test("a folder of other files is refused, naming it, and left alone", () => {
    const dir = tmp("not-a-store");
    writeFileSync(path.join(dir, "notes.txt"), "mine");
    assert.throws(
      () => new Miniflare({ kvNamespaces: ["KV"], kvPersist: `wrangler:${dir}` }),
      (error) => error.message.includes(dir) && error.message.includes("holds no wrangler KV store"),
    );
    assert.deepEqual(readdirSync(dir), ["notes.txt"]);
  });

  test("a fresh path becomes a store that wrangler reads", TIMEOUT, async () => {
    const p = project();
    mkdirSync(path.dirname(p.state), { recursive: true });
    const mf = ours(p.state);
    try {
      await (await mf.getKVNamespace("KV")).put("first", "written before wrangler ever ran");
    } finally {
      await mf.dispose();
    }
    assert.equal((await wrangler(p, "get", "first", "--text")).toString("utf8").trimEnd(), "written before wrangler ever ran");
  });
});

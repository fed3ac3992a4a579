// `miniflare kv export` | `miniflare kv import` between every pair of
// persistent stores (directory — Miniflare 2's layout —, sled, wrangler's
// .wrangler store, and Redis when KV_TEST_REDIS_URL is set), as real
// commands in a shell pipe; and `kvSeed` for new Miniflare().
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";
import { createRequire } from "node:module";
import { redisCommand, redisUrl, tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare } = require("..");
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "miniflare.js");
const TIMEOUT = { timeout: 300_000 };

/** Runs a shell command line; resolves { code, stdout, stderr }. */
function sh(line, cwd) {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", line], { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const q = (s) => `'${s.replace(/'/g, "'\\''")}'`;
const mf = (args) => `${q(process.execPath)} ${q(BIN)} ${args}`;

const stores = [
  { name: "directory", fresh: () => path.join(tmp("dir"), "kv") },
  { name: "sled", fresh: () => `sled:${path.join(tmp("sled"), "db")}` },
  { name: "wrangler", fresh: () => `wrangler:${path.join(tmp("wrangler"), ".wrangler", "state")}` },
];
if (redisUrl) {
  // One Redis database: emptied before it is written to.
  stores.push({ name: "redis", fresh: async () => (await redisCommand(redisUrl, "FLUSHDB"), redisUrl) });
}

/** The test data: two namespaces, text, invalid UTF-8, empty and BOM values, metadata, expirations, 1,200 keys (more than a page and a batch). */
function exportLines() {
  const expiration = Math.floor(Date.now() / 1000) + 86_400;
  const lines = [
    { namespace: "NS_A", key: "bin", value: Buffer.from([0, 0xff, 0xfe, 0x80]).toString("base64"), base64: true, metadata: { kind: "bytes" } },
    { namespace: "NS_A", key: "bom", value: "\uFEFFkept" },
    { namespace: "NS_A", key: "empty", value: "" },
    { namespace: "NS_A", key: "expiring", value: "x", expiration, metadata: ["m", 1, null] },
    { namespace: "NS_A", key: "é 😀 /key", value: "unicode ✓" },
  ];
  for (let i = 0; i < 1200; i++) lines.push({ namespace: "NS_B", key: `k${String(i).padStart(4, "0")}`, value: `value ${i}` });
  return lines.map((line) => JSON.stringify(line)).join("\n") + "\n";
}

const sorted = (text) => text.trimEnd().split("\n").sort().join("\n");

describe("miniflare kv export | miniflare kv import", () => {
  test("round-trips byte-exactly between every pair of stores", TIMEOUT, async () => {
    const cwd = tmp("transfer");
    const expected = exportLines();
    writeFileSync(path.join(cwd, "data.jsonl"), expected);
    // Redis as a source is run last, below: its one database is also a target here.
    for (const from of stores.filter((s) => s.name !== "redis")) {
      const source = await from.fresh();
      const seeded = await sh(mf(`kv import data.jsonl --persist-to ${q(source)}`), cwd);
      assert.equal(seeded.code, 0, seeded.stderr);
      assert.match(seeded.stderr, /Imported 1205 keys\./);
      const exported = await sh(mf(`kv export --all --persist-to ${q(source)}`), cwd);
      assert.equal(exported.code, 0, exported.stderr);
      assert.equal(sorted(exported.stdout), sorted(expected), `${from.name} exports what was imported`);
      assert.match(exported.stderr, /Exported 1205 keys from 2 namespaces\./);
      for (const to of stores) {
        if (to === from) continue;
        const target = await to.fresh();
        const piped = await sh(
          `${mf(`kv export --all --persist-to ${q(source)}`)} | ${mf(`kv import --persist-to ${q(target)}`)}`,
          cwd,
        );
        assert.equal(piped.code, 0, piped.stderr);
        const back = await sh(mf(`kv export --all --persist-to ${q(target)}`), cwd);
        assert.equal(sorted(back.stdout), sorted(expected), `${from.name} → ${to.name}`);
      }
    }
    if (redisUrl) {
      const redis = stores.find((s) => s.name === "redis");
      for (const to of stores.filter((s) => s !== redis)) {
        const source = await redis.fresh();
        await sh(mf(`kv import data.jsonl --persist-to ${q(source)}`), cwd);
        const target = await to.fresh();
        const piped = await sh(`${mf(`kv export --all --persist-to ${q(source)}`)} | ${mf(`kv import --persist-to ${q(target)}`)}`, cwd);
        assert.equal(piped.code, 0, piped.stderr);
        const back = await sh(mf(`kv export --all --persist-to ${q(target)}`), cwd);
        assert.equal(sorted(back.stdout), sorted(expected), `redis → ${to.name}`);
      }
    }
  });

  test("one namespace into another id; expired lines are skipped; a bad line names its number", TIMEOUT, async () => {
    const cwd = tmp("transfer-one");
    const past = Math.floor(Date.now() / 1000) - 10;
    writeFileSync(
      path.join(cwd, "in.jsonl"),
      [
        JSON.stringify({ key: "a", value: "1" }),
        "",
        JSON.stringify({ key: "old", value: "x", expiration: past }),
        JSON.stringify({ key: "b", value: "2", metadata: { m: true } }),
      ].join("\n"),
    );
    const target = `wrangler:${path.join(cwd, "state")}`;
    const r = await sh(mf(`kv import in.jsonl --namespace-id COPY --persist-to ${q(target)}`), cwd);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Imported 2 keys \(1 skipped: expired or expiring within 60 s\)\./);
    const out = await sh(mf(`kv export --namespace-id COPY --persist-to ${q(target)}`), cwd);
    assert.deepEqual(out.stdout.trimEnd().split("\n").map((l) => JSON.parse(l)), [
      { namespace: "COPY", key: "a", value: "1" },
      { namespace: "COPY", key: "b", value: "2", metadata: { m: true } },
    ]);
    writeFileSync(path.join(cwd, "bad.jsonl"), `${JSON.stringify({ key: "c", value: "3" })}\n{not json\n`);
    const bad = await sh(mf(`kv import bad.jsonl --namespace-id COPY --persist-to ${q(target)}`), cwd);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^miniflare: bad\.jsonl:2: not a JSON line/);
    const noNamespace = await sh(mf(`kv import in.jsonl --persist-to ${q(target)}`), cwd);
    assert.equal(noNamespace.code, 1);
    assert.match(noNamespace.stderr, /in\.jsonl:1: the line names no namespace/);
  });
});

describe("kvSeed", () => {
  test("fills namespaces from a bulk put file and from export lines before the first call", TIMEOUT, async () => {
    const dir = tmp("seed");
    const bulk = path.join(dir, "ns.json");
    writeFileSync(bulk, JSON.stringify([{ key: "a", value: "1" }, { key: "b", value: "AP8=", base64: true, metadata: { m: 1 } }]));
    const lines = path.join(dir, "ns.jsonl");
    writeFileSync(lines, `${JSON.stringify({ namespace: "ignored", key: "x", value: "from lines", expiration_ttl: 3600 })}\n`);
    for (const kvPersist of [false, `wrangler:${path.join(dir, "state")}`, `sled:${path.join(dir, "sled")}`]) {
      const instance = new Miniflare({ kvNamespaces: { A: "ns-a", B: "ns-b" }, kvSeed: { A: bulk, B: lines }, kvPersist });
      try {
        const a = await instance.getKVNamespace("A");
        const b = await instance.getKVNamespace("B");
        assert.equal(await a.get("a"), "1");
        const got = await a.getWithMetadata("b", "arrayBuffer");
        assert.deepEqual([Buffer.from(got.value), got.metadata], [Buffer.from([0, 255]), { m: 1 }]);
        assert.equal(await b.get("x"), "from lines");
        assert.ok((await b.list()).keys[0].expiration > Date.now() / 1000 + 3000);
        assert.equal(await (await instance.getKVNamespace("A")).get("ignored"), null);
        // Seeded once: a test's writes are not overwritten by a second call.
        await a.put("a", "changed");
        await instance.getBindings();
        assert.equal(await a.get("a"), "changed");
      } finally {
        await instance.dispose();
      }
    }
  });

  test("a bad seed rejects with the file and entry; an unknown binding throws", async () => {
    const dir = tmp("seed-bad");
    const bulk = path.join(dir, "bad.json");
    writeFileSync(bulk, JSON.stringify([{ key: "a", value: "1" }, { key: "b", value: "2", expiration_ttl: 5 }]));
    const instance = new Miniflare({ kvNamespaces: ["A"], kvSeed: { A: bulk } });
    await assert.rejects(instance.getKVNamespace("A"), (error) => error.message.includes(bulk) && /\[1\]/.test(error.message) && /expiration_ttl/.test(error.message));
    await instance.dispose();
    assert.throws(() => new Miniflare({ kvNamespaces: ["A"], kvSeed: { B: bulk } }), /kvSeed\.B: no such binding/);
  });
});

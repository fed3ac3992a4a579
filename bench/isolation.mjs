#!/usr/bin/env node
// Cost of Miniflare#pushStorage()/popStorage() by backend and data size.
//
//   node bench/isolation.mjs [memory:10000,memory:100000,directory:10000,sled:10000,redis:10000]
//
// For each backend:size, seeds one namespace with `size` keys (~100-byte
// values, every tenth with metadata and an expiration), then times:
//   push         pushStorage() alone
//   pop (clean)  popStorage() when the test changed nothing
//   pop (dirty)  popStorage() after a "test" that added 10 keys, deleted 10
//                and overwrote 10 (the test's own writes are not timed)
// Prints the median and the slowest of the repetitions (memory: 200,
// others: 5), in milliseconds, as a Markdown table.
//
// Environment: KV_PACKAGE (the package directory to load; default the
// repository root: build it with --release first, a debug addon is several
// times slower), REDIS_URL (redis backend; one is started with
// scripts/redis-server.mjs when unset).
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const packageDir = path.resolve(process.env.KV_PACKAGE ?? repoRoot);
const { Miniflare } = createRequire(path.join(packageDir, "index.js"))(path.join(packageDir, "index.js"));

const cases = (process.argv[2] ?? "memory:10000,memory:100000,directory:10000,sled:10000,redis:10000")
  .split(",")
  .map((c) => {
    const [backend, size] = c.split(":");
    return { backend, size: Number(size) };
  });

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "kv-isolation-bench-"));
let redis = null;

async function persistFor(backend, label) {
  switch (backend) {
    case "memory":
      return false;
    case "directory":
      return path.join(scratch, `dir-${label}`);
    case "sled":
      return `sled:${path.join(scratch, `sled-${label}`)}`;
    case "redis":
      if (process.env.REDIS_URL) return process.env.REDIS_URL;
      if (redis === null) {
        const { startRedis } = await import(path.join(repoRoot, "scripts/redis-server.mjs"));
        redis = await startRedis();
      }
      return redis.url;
    default:
      throw new Error(`unknown backend ${backend}`);
  }
}

const value = (i) => `value-${i}-`.padEnd(100, "x");
const key = (i) => `key-${String(i).padStart(7, "0")}`;

async function seed(ns, size) {
  const expiration = Math.floor(Date.now() / 1000) + 86_400;
  const batch = [];
  for (let i = 0; i < size; i++) {
    const options = i % 10 === 0 ? { metadata: { i }, expiration } : undefined;
    batch.push(ns.put(key(i), value(i), options));
    if (batch.length === 500) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
}

async function scribble(ns, round) {
  for (let i = 0; i < 10; i++) {
    await ns.put(`added-${round}-${i}`, "new");
    await ns.delete(key(i * 7 + 1));
    await ns.put(key(i * 7 + 3), `overwritten ${round}`);
  }
}

async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

const summary = (samples) => {
  const sorted = [...samples].sort((a, b) => a - b);
  const fmt = (ms) => (ms < 0.1 ? ms.toFixed(4) : ms < 10 ? ms.toFixed(3) : ms.toFixed(1));
  return `${fmt(sorted[Math.floor(sorted.length / 2)])} (max ${fmt(sorted.at(-1))})`;
};

const rows = [];
try {
  for (const { backend, size } of cases) {
    // A namespace id of its own, so a reused Redis server starts it empty.
    const id = `isolation-bench-${process.pid}-${backend}-${size}`;
    const mf = new Miniflare({ kvNamespaces: { NS: id }, kvPersist: await persistFor(backend, size) });
    try {
      const ns = await mf.getKVNamespace("NS");
      const seedMs = await time(() => seed(ns, size));
      const reps = backend === "memory" ? 200 : 5;
      const push = [];
      const popClean = [];
      const popDirty = [];
      for (let r = 0; r < reps; r++) {
        push.push(await time(() => mf.pushStorage()));
        popClean.push(await time(() => mf.popStorage()));
        await mf.pushStorage();
        await scribble(ns, r);
        popDirty.push(await time(() => mf.popStorage()));
      }
      const listed = (await ns.list({ prefix: "added-" })).keys.length;
      if (listed !== 0 || (await ns.get(key(1))) !== value(1)) throw new Error(`${backend}: pop did not restore`);
      rows.push([backend, size, (seedMs / 1000).toFixed(1), summary(push), summary(popClean), summary(popDirty)]);
      console.error(`done ${backend}:${size}`);
      if (backend === "redis") {
        // Leave a reused server as found.
        for (let i = 0; i < size; i += 500) {
          await Promise.all(Array.from({ length: Math.min(500, size - i) }, (_, j) => ns.delete(key(i + j))));
        }
      }
    } finally {
      await mf.dispose();
    }
  }
} finally {
  await redis?.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
}

console.log("| backend | keys | seed (s) | push, ms: median (max) | pop, test changed nothing | pop, test changed 30 keys |");
console.log("|---|---:|---:|---:|---:|---:|");
for (const row of rows) console.log(`| ${row.join(" | ")} |`);

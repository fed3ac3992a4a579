#!/usr/bin/env node
// Memory soak: put/get/delete cycles on fresh keys (plus a list now and
// then), sampling resident memory after a full GC. After a warm-up, resident
// memory must stay flat: (max − min) / min of the samples ≤ 10%.
//
//   node scripts/soak.mjs [--cycles N] [--backend memory|directory|sled|redis]
// Redis needs KV_TEST_REDIS_URL (scripts/reliability.mjs starts a server).
// Re-runs itself with --expose-gc and a fixed young generation. Prints one line starting
// with "SOAK:"; exits 1 when memory is not flat.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

// V8 grows its young generation with the allocation rate (heapTotal goes
// from ~13 to ~37 MB over the first few hundred thousand cycles while
// heapUsed stays flat); fixing it at its usual maximum from the start keeps
// that sizing out of the measurement, which is about what the product keeps.
const NODE_FLAGS = ["--expose-gc", "--min-semi-space-size=16", "--max-semi-space-size=16"];
if (process.env.KV_SOAK_CHILD !== "1") {
  const r = spawnSync(process.execPath, [...NODE_FLAGS, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
    env: { ...process.env, KV_SOAK_CHILD: "1" },
  });
  process.exit(r.status ?? 1);
}

const require = createRequire(import.meta.url);
const { Miniflare } = require("../index.js");

const { values: cli } = parseArgs({
  options: {
    cycles: { type: "string", default: "1000000" },
    backend: { type: "string", default: "memory" },
    samples: { type: "string", default: "40" },
  },
});
const CYCLES = Number(cli.cycles);
const SAMPLES = Number(cli.samples);
const WARM_UP_SAMPLES = Math.max(2, Math.ceil(SAMPLES / 10));
const TOLERANCE = 0.1;

const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-soak-"));
const PERSIST = {
  memory: () => false,
  directory: () => path.join(scratch, "dir"),
  sled: () => `sled:${path.join(scratch, "sled")}`,
  redis: () => {
    if (!process.env.KV_TEST_REDIS_URL) throw new Error("the redis soak needs KV_TEST_REDIS_URL");
    return process.env.KV_TEST_REDIS_URL;
  },
};

/** Resident memory after a full GC; also keeps the JS heap in use, for the report. */
const heapUsed = [];
function rss() {
  globalThis.gc();
  globalThis.gc();
  const usage = process.memoryUsage();
  heapUsed.push(usage.heapUsed);
  return usage.rss;
}

const mb = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MB`;

async function main() {
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: PERSIST[cli.backend]() });
  const ns = await mf.getKVNamespace("NS");
  const payload = "v".repeat(100);
  const every = Math.max(1, Math.floor(CYCLES / SAMPLES));
  const samples = [];
  const started = Date.now();
  try {
    for (let i = 0; i < CYCLES; i++) {
      const key = `soak/${i}`;
      await ns.put(key, `${payload}${i}`, { metadata: { i }, ...(i % 3 === 0 && { expirationTtl: 3600 }) });
      if (i % 2 === 0) {
        const { value, metadata } = await ns.getWithMetadata(key);
        if (value !== `${payload}${i}` || metadata.i !== i) throw new Error(`cycle ${i}: read back ${value} ${JSON.stringify(metadata)}`);
      } else {
        const bytes = await ns.get(key, "arrayBuffer");
        if (bytes.byteLength !== payload.length + String(i).length) throw new Error(`cycle ${i}: read back ${bytes.byteLength} bytes`);
      }
      await ns.delete(key);
      if (i % 100 === 99) {
        const page = await ns.list({ prefix: "soak/", limit: 10 });
        if (page.keys.length !== 0) throw new Error(`cycle ${i}: deleted keys still listed`);
      }
      if ((i + 1) % every === 0) samples.push(rss());
    }
  } finally {
    await mf.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
  const afterWarmUp = samples.slice(WARM_UP_SAMPLES);
  const min = Math.min(...afterWarmUp);
  const max = Math.max(...afterWarmUp);
  const spread = (max - min) / min;
  const flat = spread <= TOLERANCE;
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `SOAK: ${cli.backend}: ${CYCLES} put/get/delete cycles in ${seconds} s; resident memory after warm-up ` +
      `(${WARM_UP_SAMPLES} of ${samples.length} samples) ${mb(min)}–${mb(max)}, spread ${(spread * 100).toFixed(1)}% ` +
      `(limit ${TOLERANCE * 100}%): ${flat ? "flat" : "NOT FLAT"}; first sample ${mb(samples[0])}; ` +
      `JS heap in use ${mb(Math.min(...heapUsed))}–${mb(Math.max(...heapUsed))}`,
  );
  if (!flat) {
    console.error(`samples: ${samples.map(mb).join(", ")}`);
    process.exitCode = 1;
  }
}

await main();

#!/usr/bin/env node
// The Redis comparison of issue 15 in one run: Miniflare 2 + ioredis and this
// package on one private redis-server, next to the physical limit that
// `redis-benchmark -c 1 -P 1` measures on the same server, repetition by
// repetition (so that machine noise hits every column alike); with --cluster,
// also this package on a private Redis Cluster (3 masters, 3 replicas).
//
//   node bench/redis.mjs [--reps 3] [--n 5000] [--cluster]
//
// Needs the anchors install (ANCHORS_DIR, bench/README.md §2) and
// redis-server/redis-benchmark (installed from Debian's packages when
// missing, as for the tests). The servers run on free loopback ports and are
// stopped at the end. The table goes to stdout and bench/results/redis-<time>.md.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRedisCluster } from "../scripts/redis-cluster.mjs";
import { startRedis } from "../scripts/redis-server.mjs";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(name);
  return at === -1 ? fallback : Number(args[at + 1]);
};
const reps = option("--reps", 3);
const n = option("--n", 5000);
const withCluster = args.includes("--cluster");
for (const arg of args) {
  if (arg.startsWith("--") && !["--reps", "--n", "--cluster"].includes(arg)) {
    console.error(`bench/redis.mjs: unknown option ${arg} (known: --reps N, --n N, --cluster)`);
    process.exit(2);
  }
}
const anchors = process.env.ANCHORS_DIR ?? path.join(os.homedir(), "kv-anchors");
if (!fs.existsSync(path.join(anchors, "node_modules", "miniflare"))) {
  console.error(`bench/redis.mjs: no Miniflare 2 under ${anchors}: install the anchors first (bench/README.md §2)`);
  process.exit(2);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)];
};

/** `redis-benchmark -c 1 -P 1` GET and SET on `port`: requests per second. */
function redisBenchmark(port) {
  const run = spawnSync("redis-benchmark", ["-p", String(port), "-c", "1", "-P", "1", "-t", "get,set", "-n", "20000", "--csv"], {
    encoding: "utf8",
  });
  if (run.status !== 0) throw new Error(`redis-benchmark failed: ${run.stderr}`);
  const rps = {};
  for (const line of run.stdout.split("\n")) {
    const [test, value] = line.split(",").map((cell) => cell.replaceAll('"', ""));
    if (test === "GET" || test === "SET") rps[test] = Number(value);
  }
  return rps;
}

/** One repetition of kvbench's `small` workload (bench/run.mjs); resolves its rows. */
function kvbench(env, ours) {
  const out = path.join(os.tmpdir(), `kv-redis-bench-${process.pid}-${Date.now()}.json`);
  const argv = [path.join(benchDir, "run.mjs"), "--anchors", "mf2-redis", "--ours", ours, "--workload", "small",
    "--reps", "1", "--n-max", String(n), "--out", out];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { env: { ...process.env, ANCHORS_DIR: anchors, ...env }, stdio: ["ignore", "ignore", "inherit"] });
    child.on("exit", (code) => {
      if (code !== 0) return reject(new Error(`bench/run.mjs exited with ${code}`));
      const { rows } = JSON.parse(fs.readFileSync(out, "utf8"));
      fs.rmSync(out, { force: true });
      resolve(rows);
    });
  });
}

const redis = await startRedis();
const cluster = withCluster ? await startRedisCluster() : null;
const samples = {}; // column → metric → [ops/s per rep]
const add = (column, metric, value) => ((samples[column] ??= {})[metric] ??= []).push(value);
try {
  const env = { REDIS_URL: `${redis.url}/0` };
  if (cluster) Object.assign(env, { REDIS_CLUSTER_URL: cluster.url, REDIS_CLUSTER_NODES: cluster.ports.join(",") });
  const ours = cluster ? "redis,redis-cluster" : "redis";
  for (let rep = 1; rep <= reps; rep++) {
    const before = redisBenchmark(redis.port);
    const rows = await kvbench(env, ours);
    const after = redisBenchmark(redis.port);
    // The limit on either side of the run, averaged: noise drifts.
    add("redis-benchmark", "get", (before.GET + after.GET) / 2);
    add("redis-benchmark", "put", (before.SET + after.SET) / 2);
    for (const row of rows) for (const [column, cell] of Object.entries(row.cells)) add(column, row.metric, cell.value);
    console.error(`[rep ${rep}/${reps}] done`);
  }
} finally {
  await redis.cleanup();
  await cluster?.cleanup();
}

const value = (column, metric) => (samples[column]?.[metric] ? median(samples[column][metric]) : undefined);
const ops = (v) => (v === undefined ? "–" : v >= 10_000 ? `${(v / 1000).toFixed(1)}k` : String(Math.round(v)));
const ratio = (a, b) => (a === undefined || b === undefined ? "–" : `${(a / b).toFixed(2)}×`);
const goals = { get: "≥ 1.2× MF2, ≥ 0.7× redis-benchmark", put: "≥ 1.2× MF2", "get x64 in flight": "≥ 1.5× MF2" };
const mf2 = "mf2-redis", us = "miniflare-kv-redis", ourCluster = "miniflare-kv-redis-cluster";
const lines = [
  `# Redis, one run (${new Date().toISOString()}): node bench/redis.mjs ${args.join(" ")}`.trimEnd(),
  "",
  `medians of ${reps} repetitions, kvbench \`small\`, N = ${n}; ops/s; redis-benchmark -c 1 -P 1 (GET, SET) before and after each repetition`,
  "",
  `| | Miniflare 2 + ioredis | this package | vs MF2 | redis-benchmark | vs redis-benchmark | goal |${cluster ? " this package, cluster | cluster vs MF2 |" : ""}`,
  `|---|---:|---:|---:|---:|---:|---|${cluster ? "---:|---:|" : ""}`,
];
for (const metric of Object.keys(samples[us] ?? {})) {
  const limit = metric === "get" || metric === "put" ? value("redis-benchmark", metric) : undefined;
  lines.push(
    `| ${metric} | ${ops(value(mf2, metric))} | ${ops(value(us, metric))} | ${ratio(value(us, metric), value(mf2, metric))} | ` +
      `${ops(limit)} | ${limit ? ratio(value(us, metric), limit) : "–"} | ${goals[metric] ?? ""} |` +
      (cluster ? ` ${ops(value(ourCluster, metric))} | ${ratio(value(ourCluster, metric), value(mf2, metric))} |` : ""),
  );
}
const table = lines.join("\n") + "\n";
process.stdout.write(table);
fs.mkdirSync(path.join(benchDir, "results"), { recursive: true });
const file = path.join(benchDir, "results", `redis-${new Date().toISOString().replaceAll(":", "-").replace(/\..*/, "")}.md`);
fs.writeFileSync(file, table);
console.error(`table: ${path.relative(process.cwd(), file)}`);

#!/usr/bin/env node
// The reliability figures in one command: model-based sequences (Rust over
// every backend, JavaScript through the public API), concurrent batches and
// Redis restarted under load, hostile-input calls, the memory soak and the
// SIGKILL crash trials. Prints each step's own figure line, then a summary.
//
//   node scripts/reliability.mjs            short versions (minutes)
//   node scripts/reliability.mjs --long     the long run (see docs/reliability.md)
//   node scripts/reliability.mjs --only hostile,soak   some steps (npm test runs these two;
//                                           the others already run in its Rust and JS steps)
// Steps: model, js-model, load, hostile, soak, crash. Starts a private
// redis-server unless KV_TEST_REDIS_URL is set. Exits non-zero if any step fails.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startRedis } from "./redis-server.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { values: cli } = parseArgs({ options: { long: { type: "boolean", default: false }, only: { type: "string" } } });
const LONG = cli.long;

/** Counts for the short (CI) and long runs. */
const COUNTS = LONG
  ? { modelCases: "100000", jsModelRuns: "5000", loadRuns: "100", hostileCalls: "1000000", crashTrials: "100",
      soak: [["memory", 1_000_000], ["directory", 100_000], ["sled", 100_000], ["redis", 50_000]] }
  : { modelCases: undefined, jsModelRuns: "200", loadRuns: "6", hostileCalls: "100000", crashTrials: "10",
      soak: [["memory", 200_000]] };

/** Runs a command, echoing its output; resolves { ok, output }. */
function run(cmd, args, env = {}) {
  console.log(`\n# ${cmd === process.execPath ? "node" : cmd} ${args.join(" ")}`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: root, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
      process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      output += d;
      process.stderr.write(d);
    });
    child.on("close", (code) => resolve({ ok: code === 0, output }));
  });
}

/** The figure lines a step printed (`# ` prefixes from node:test diagnostics removed). */
const figures = (output, pattern) =>
  output.split("\n").map((line) => line.replace(/^\s*# /, "")).filter((line) => pattern.test(line));

const node = process.execPath;
const STEPS = {
  model: async () => {
    const env = COUNTS.modelCases ? { KV_MODEL_CASES: COUNTS.modelCases } : {};
    const r = await run("cargo", ["test", "--release", "-p", "kv-core", "--test", "model", "--", "--nocapture"], env);
    return { ...r, lines: figures(r.output, /^MODEL /) };
  },
  "js-model": async (redisUrl) => {
    const r = await run(node, ["--test", "__test__/model.test.mjs"], { KV_JS_MODEL_RUNS: COUNTS.jsModelRuns, KV_TEST_REDIS_URL: redisUrl });
    return { ...r, lines: figures(r.output, /^JS MODEL /) };
  },
  load: async (redisUrl) => {
    const r = await run(node, ["--test", "__test__/load.test.mjs"], { KV_LOAD_RUNS: COUNTS.loadRuns, KV_TEST_REDIS_URL: redisUrl });
    return { ...r, lines: figures(r.output, /^(LOAD|REDIS RESTART)/) };
  },
  hostile: async (redisUrl) => {
    const r = await run(node, ["scripts/hostile.mjs", "--calls", COUNTS.hostileCalls], { KV_TEST_REDIS_URL: redisUrl });
    return { ...r, lines: figures(r.output, /^HOSTILE:/) };
  },
  soak: async (redisUrl) => {
    let ok = true;
    const lines = [];
    for (const [backend, cycles] of COUNTS.soak) {
      const r = await run(node, ["scripts/soak.mjs", "--backend", backend, "--cycles", String(cycles)], { KV_TEST_REDIS_URL: redisUrl });
      ok &&= r.ok;
      lines.push(...figures(r.output, /^SOAK:/));
    }
    return { ok, lines };
  },
  crash: async (redisUrl) => {
    const r = await run(node, ["--test", "__test__/crash.test.mjs"], { KV_CRASH_TRIALS: COUNTS.crashTrials, KV_TEST_REDIS_URL: redisUrl });
    return { ...r, lines: figures(r.output, /trials, \d+ acknowledged writes/) };
  },
};

const wanted = cli.only ? cli.only.split(",") : Object.keys(STEPS);
for (const name of wanted) if (!STEPS[name]) throw new Error(`unknown step ${name}; steps: ${Object.keys(STEPS).join(", ")}`);

const redis = process.env.KV_TEST_REDIS_URL ? null : await startRedis();
const redisUrl = process.env.KV_TEST_REDIS_URL ?? redis.url;
const summary = [];
let failed = false;
try {
  for (const name of wanted) {
    const started = Date.now();
    const result = await STEPS[name](redisUrl);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    failed ||= !result.ok;
    summary.push(`${result.ok ? "ok  " : "FAIL"} ${name} (${seconds} s)`, ...result.lines.map((line) => `       ${line}`));
  }
} finally {
  await redis?.cleanup();
}
console.log(`\n# Reliability (${LONG ? "long" : "short"} run)\n${summary.join("\n")}`);
process.exitCode = failed ? 1 : 0;

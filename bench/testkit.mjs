#!/usr/bin/env node
// The test kit's cost (issue 16). Two measurements:
//
// 1. Per-test isolation overhead, in memory, one namespace seeded with 10,000
//    keys: each "test" writes 3 keys and reads 1; timed with and without a
//    storage frame around it (the TestKit's push/pop, what every adapter
//    calls). Overhead = median(with) − median(without), over 20 rounds of
//    1,000 tests each.
// 2. A 500-test Jest file (each test: one put, one get, on 10,000 seeded
//    keys), run by real Jest 30 from __test__/consumers/jest-env:
//      isolated  testEnvironment "miniflare-kv/jest-environment" + kvSeed
//      plain     testEnvironment "node", the same instance and seed made in
//                beforeAll, no isolation
//    Wall time of `jest` for the file (process start to exit), median of
//    RUNS runs each, interleaved; and Jest's own duration of the file.
//
//   node bench/testkit.mjs            # both (needs `node scripts/consumers.mjs` once, for node_modules)
//   node bench/testkit.mjs --frames   # only 1
//   RUNS=7 node bench/testkit.mjs --jest
import { createRequire } from "node:module";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const require = createRequire(import.meta.url);
const { Miniflare } = require("../index.js");
const { TestKit } = require("../lib/testing/kit.js");

const SEED_KEYS = 10_000;
const only = process.argv[2];

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function seedFile(dir) {
  const file = path.join(dir, "seed.json");
  const entries = Array.from({ length: SEED_KEYS }, (_, i) => ({
    key: `seed-${String(i).padStart(5, "0")}`,
    value: "x".repeat(100),
    ...(i % 10 === 0 ? { metadata: { i } } : {}),
  }));
  fs.writeFileSync(file, JSON.stringify(entries));
  return file;
}

async function frames(dir) {
  const kit = await new TestKit(Miniflare, { kvNamespaces: ["NS"], kvSeed: { NS: seedFile(dir) } }).open();
  const { NS } = kit.bindings;
  assertEqual((await NS.list({ limit: 1 })).keys[0].name, "seed-00000");
  let n = 0;
  const body = async () => {
    n++;
    await NS.put(`t-${n % 7}`, "v");
    await NS.put("seed-00001", `changed ${n}`);
    await NS.delete("seed-00002");
    await NS.get("seed-00003");
  };
  const TESTS = 1_000;
  const round = async (isolated) => {
    const start = performance.now();
    for (let i = 0; i < TESTS; i++) {
      if (isolated) await kit.frame(body);
      else await body();
    }
    return ((performance.now() - start) * 1000) / TESTS; // µs per test
  };
  for (let i = 0; i < 3; i++) await round(true), await round(false); // warm-up
  const withFrame = [];
  const without = [];
  for (let i = 0; i < 20; i++) {
    withFrame.push(await round(true));
    without.push(await round(false));
  }
  // The frames really undid the writes.
  await kit.frame(async () => {});
  await kit.close();
  const w = median(withFrame);
  const wo = median(without);
  console.log(`\n### Per-test isolation overhead, memory, ${SEED_KEYS.toLocaleString("en")} seeded keys\n`);
  console.log("| | µs per test (median of 20 × 1,000) |\n|---|---|");
  console.log(`| test body alone (3 writes, 1 read) | ${wo.toFixed(2)} |`);
  console.log(`| test body in a frame (push + pop) | ${w.toFixed(2)} |`);
  console.log(`| **overhead per test** | **${(w - wo).toFixed(2)}** (target ≤ 50) |`);
}

function assertEqual(a, b) {
  if (a !== b) throw new Error(`bench self-check failed: ${a} !== ${b}`);
}

const TESTS_PER_FILE = 500;

function jestFiles(dir, seed) {
  const tests = Array.from(
    { length: TESTS_PER_FILE },
    (_, i) => `test("t${i}", async () => {
  await NS.put("written", "${i}");
  if ((await NS.get("written")) !== "${i}") throw new Error("read back");
});`,
  ).join("\n");
  fs.writeFileSync(
    path.join(dir, "isolated.bench.js"),
    `const { NS } = getMiniflareBindings();\n${tests}\n`,
  );
  fs.writeFileSync(
    path.join(dir, "plain.bench.js"),
    `const { Miniflare } = require("miniflare-kv");
let mf, NS;
beforeAll(async () => {
  mf = new Miniflare({ kvNamespaces: ["NS"], kvSeed: { NS: ${JSON.stringify(seed)} } });
  NS = await mf.getKVNamespace("NS");
});
afterAll(() => mf.dispose());
${tests}\n`,
  );
  const config = (environment, options) => ({
    rootDir: dir,
    testMatch: [`**/${environment === "node" ? "plain" : "isolated"}.bench.js`],
    testEnvironment: environment,
    testEnvironmentOptions: options,
  });
  fs.writeFileSync(path.join(dir, "isolated.config.json"), JSON.stringify(config("miniflare-kv/jest-environment", { kvNamespaces: ["NS"], kvSeed: { NS: seed } })));
  fs.writeFileSync(path.join(dir, "plain.config.json"), JSON.stringify(config("node", {})));
}

function runJest(project, dir, name) {
  const start = performance.now();
  const result = spawnSync("npx", ["--no", "--", "jest", "--ci", "--runInBand", "--json", "--config", path.join(dir, `${name}.config.json`)], {
    cwd: project,
    encoding: "utf8",
  });
  const wall = performance.now() - start;
  if (result.status !== 0) throw new Error(`jest (${name}) failed:\n${result.stderr}`);
  const report = JSON.parse(result.stdout);
  if (report.numPassedTests !== TESTS_PER_FILE) throw new Error(`jest (${name}): ${report.numPassedTests} passed`);
  const file = report.testResults[0];
  return { wall, inFile: file.endTime - file.startTime };
}

function jest(dir) {
  const project = path.join(root, "__test__", "consumers", "jest-env");
  if (!fs.existsSync(path.join(project, "node_modules", "miniflare-kv"))) {
    throw new Error("__test__/consumers/jest-env has no node_modules: run `node scripts/consumers.mjs` once first.");
  }
  const work = fs.mkdtempSync(path.join(project, ".bench-"));
  try {
    jestFiles(work, seedFile(work));
    const runs = Number(process.env.RUNS ?? 5);
    const results = { isolated: [], plain: [] };
    runJest(project, work, "isolated"); // warm-up (Jest's cache)
    runJest(project, work, "plain");
    for (let i = 0; i < runs; i++) {
      for (const name of ["isolated", "plain"]) results[name].push(runJest(project, work, name));
    }
    const row = (name) => {
      const wall = median(results[name].map((r) => r.wall));
      const inFile = median(results[name].map((r) => r.inFile));
      return { wall, inFile };
    };
    const iso = row("isolated");
    const plain = row("plain");
    console.log(`\n### A ${TESTS_PER_FILE}-test Jest file, ${SEED_KEYS.toLocaleString("en")} seeded keys (median of ${runs} runs)\n`);
    console.log("| | jest wall time | the file (Jest's own start → end) |\n|---|---|---|");
    console.log(`| plain: testEnvironment "node", no isolation | ${plain.wall.toFixed(0)} ms | ${plain.inFile.toFixed(0)} ms |`);
    console.log(`| isolated: "miniflare-kv/jest-environment" | ${iso.wall.toFixed(0)} ms | ${iso.inFile.toFixed(0)} ms |`);
    console.log(`| **isolated / plain** | **${((iso.wall / plain.wall - 1) * 100).toFixed(1)}%** | ${((iso.inFile / plain.inFile - 1) * 100).toFixed(1)}% |`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const scratch = fs.mkdtempSync(path.join(root, "bench", ".testkit-"));
try {
  if (only !== "--jest") await frames(scratch);
  if (only !== "--frames") jest(scratch);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

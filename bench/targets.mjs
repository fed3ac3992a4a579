#!/usr/bin/env node
// Checks the in-memory backend's performance targets against kvbench results.
//
//   node bench/targets.mjs bench/results/run.json [more.json ...] [--ours miniflare-kv-memory]
//
// Every target is a ratio against an anchor measured in the SAME file (the
// harness interleaves adapters, so machine noise cancels within one run), or
// an absolute bound. A target whose metric or anchor is missing from a file is
// skipped; give the files that hold the needed workloads (small, startup,
// list10k, list100k, rss). Prints a markdown table; exits 1 if a target fails.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";

const TARGETS = [
  { name: "put ≥ 2× Miniflare 2 in-memory put", metric: "put", anchor: "mf2-memory", kind: "faster", factor: 2 },
  { name: "get ≥ 0.8× plain Map (sequential awaits)", metric: "get", anchor: "map", kind: "faster", factor: 0.8 },
  { name: "page through all 10,000 keys ≤ Map", metric: "[10k] page all keys (limit 1000)", anchor: "map", kind: "cheaper", factor: 1 },
  { name: "one 1000-key page from 100,000 keys ≤ 1 ms", metric: "[100k] list(prefix, limit 1000)", bound: 1 },
  { name: "new Miniflare → first get (cold) ≤ 2 ms", metric: "startup: open->first get (cold)", bound: 2 },
  { name: "memory for 10,000 keys ≤ Map", metric: "[10k] +MiB resident after 10000 keys (all procs)", anchor: "map", kind: "cheaper", factor: 1 },
  { name: "memory for 100,000 keys ≤ Map", metric: "rss: +MiB resident after 100000 keys (all procs)", anchor: "map", kind: "cheaper", factor: 1 },
  { name: "memory for 100,000 keys (list100k fill) ≤ Map", metric: "[100k] +MiB resident after 100000 keys (all procs)", anchor: "map", kind: "cheaper", factor: 1 },
];

function fmt(x) {
  if (!Number.isFinite(x)) return "n/a";
  const a = Math.abs(x);
  if (a >= 1e5) return `${(x / 1e3).toFixed(0)}k`;
  if (a >= 1e4) return `${(x / 1e3).toFixed(1)}k`;
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toPrecision(2);
}

function check(target, cells, ours, unit) {
  const mine = cells[ours]?.value;
  if (!Number.isFinite(mine)) return null;
  if (target.bound !== undefined) {
    return { figure: `${fmt(mine)} ${unit}`, ratio: `${fmt(mine / target.bound)} of the bound`, pass: mine <= target.bound };
  }
  const theirs = cells[target.anchor]?.value;
  if (!Number.isFinite(theirs)) return null;
  // "faster": higher is better (ops/s); "cheaper": lower is better (s, MiB)
  const ratio = target.kind === "faster" ? mine / theirs : theirs / mine;
  return {
    figure: `${fmt(mine)} vs ${target.anchor} ${fmt(theirs)} ${unit}`,
    ratio: target.kind === "faster" ? `${ratio.toFixed(2)}× ${target.anchor}` : `${(mine / theirs).toFixed(2)}× ${target.anchor}'s cost`,
    pass: ratio >= target.factor,
  };
}

function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { ours: { type: "string", default: "miniflare-kv-memory" } },
  });
  if (positionals.length === 0) {
    console.error("usage: node bench/targets.mjs results/run.json [more.json ...] [--ours adapter-name]");
    process.exit(2);
  }
  const lines = ["| target | figure | ratio | result | source |", "|---|---|---|---|---|"];
  let failed = false;
  for (const target of TARGETS) {
    for (const file of positionals) {
      const run = JSON.parse(fs.readFileSync(file, "utf8"));
      const row = run.rows.find((r) => r.metric === target.metric);
      if (!row) continue;
      const unit = Object.values(row.cells)[0]?.unit ?? "";
      const verdict = check(target, row.cells, values.ours, unit);
      if (!verdict) continue;
      failed ||= !verdict.pass;
      lines.push(`| ${target.name} | ${verdict.figure} | ${verdict.ratio} | ${verdict.pass ? "pass" : "**FAIL**"} | ${path.basename(file)} |`);
    }
  }
  console.log(lines.join("\n"));
  process.exit(failed ? 1 : 0);
}

main();

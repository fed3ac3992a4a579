#!/usr/bin/env node
// Runs the shared kvbench harness with this repository's adapters next to the
// anchor adapters (plain Map, Miniflare 2, Miniflare 4), and keeps the output
// in bench/results/. See bench/README.md.
//
//   node bench/run.mjs [--ours memory,file,sled,redis] [--anchors map,mf2-memory,mf4-memory]
//                      [--no-snapshot] [any kvbench option: --workload small,list10k --reps 3 ...]
//
// --ours      our adapters, by backend (bench/adapters/miniflare-kv-<backend>.mjs); default "memory"
// --anchors   anchor adapters shipped with kvbench (<kvbench dir>/adapters/<name>.mjs);
//             default "map,mf2-memory"; "none" for neither
// --no-snapshot  load the package straight from the working tree. By default the
//             package (index.js, lib/, binding.js, the .node addon) is copied first, so a
//             rebuild in the shared tree during the run cannot change what is measured.
// --baseline DIR  also run every --ours adapter against an older copy of the package in DIR
//             (index.js, package.json, binding.js, lib/ and the .node addon, e.g. copied from a
//             checkout before a change); those adapters are named "<adapter>-baseline", so a
//             before/after comparison comes from one run with the same noise on both.
// Everything else goes to kvbench unchanged. Without --out, the JSON goes to
// bench/results/<timestamp>.json, next to <timestamp>.md (the table) and .log (progress).
//
// Environment: KVBENCH (path of kvbench.mjs; default ../shared/bench/kvbench.mjs from the
// repository root), ANCHORS_DIR (default ~/kv-anchors when that exists), REDIS_URL.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);
const resultsDir = path.join(benchDir, "results");
const ADDON = "miniflare-kv.linux-x64-gnu.node";

function fail(message) {
  console.error(`bench/run.mjs: ${message}`);
  process.exit(2);
}

function splitArgs(argv) {
  const own = { ours: "memory", anchors: "map,mf2-memory", snapshot: true, baseline: null };
  const passthrough = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s, 2) : [arg, undefined];
    if (flag === "--ours" || flag === "--anchors" || flag === "--baseline") {
      const value = inline ?? argv[++i];
      if (value === undefined) fail(`${flag} needs a value`);
      own[flag.slice(2)] = value;
    } else if (flag === "--no-snapshot") {
      own.snapshot = false;
    } else if (flag === "--help" || flag === "-h") {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n").slice(1, 23).join("\n").replace(/^\/\/ ?/gm, ""));
      process.exit(0);
    } else {
      passthrough.push(arg);
    }
  }
  return { own, passthrough };
}

const list = (s) => (s === "none" ? [] : s.split(",").map((x) => x.trim()).filter(Boolean));

function resolveKvbench() {
  const file = process.env.KVBENCH
    ? path.resolve(process.env.KVBENCH)
    : path.resolve(repoRoot, "..", "shared", "bench", "kvbench.mjs");
  if (!fs.existsSync(file)) fail(`kvbench not found at ${file}: set KVBENCH to the path of kvbench.mjs`);
  return file;
}

function resolveAnchorsDir() {
  if (process.env.ANCHORS_DIR) return path.resolve(process.env.ANCHORS_DIR);
  const fallback = path.join(os.homedir(), "kv-anchors");
  return fs.existsSync(path.join(fallback, "node_modules")) ? fallback : undefined;
}

// The debug addon is ~20× larger and several times slower; catching it here
// saves a run that would only measure the wrong build.
function describeAddon(file) {
  if (!fs.existsSync(file)) fail(`${file} is missing: build it with npx napi build --platform --release --js binding.js --dts binding.d.ts`);
  const bytes = fs.readFileSync(file);
  return {
    file,
    bytes: bytes.length,
    sha256: crypto.createHash("sha256").update(bytes).digest("hex").slice(0, 16),
    modified: fs.statSync(file).mtime.toISOString(),
    debugBuild: elfSectionNames(bytes).includes(".debug_info"),
  };
}

// Section names of a 64-bit little-endian ELF file (the Linux addon). The
// string ".debug_info" also occurs inside release builds (the backtrace code
// looks for such sections), so only a real section header counts.
function elfSectionNames(bytes) {
  if (bytes.readUInt32BE(0) !== 0x7f454c46 || bytes[4] !== 2 || bytes[5] !== 1) return [];
  const sectionsAt = Number(bytes.readBigUInt64LE(0x28));
  const entrySize = bytes.readUInt16LE(0x3a);
  const count = bytes.readUInt16LE(0x3c);
  const namesIndex = bytes.readUInt16LE(0x3e);
  const header = (i) => sectionsAt + i * entrySize;
  const namesAt = Number(bytes.readBigUInt64LE(header(namesIndex) + 0x18));
  const names = [];
  for (let i = 0; i < count; i++) {
    const start = namesAt + bytes.readUInt32LE(header(i));
    names.push(bytes.toString("latin1", start, bytes.indexOf(0, start)));
  }
  return names;
}

function snapshotPackage(stamp) {
  const dir = path.join(resultsDir, `.package-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ["index.js", "package.json", "binding.js", ADDON]) {
    fs.copyFileSync(path.join(repoRoot, name), path.join(dir, name));
  }
  fs.cpSync(path.join(repoRoot, "lib"), path.join(dir, "lib"), { recursive: true });
  return dir;
}

// Copies of our adapters that load the package in `baselineDir` instead: each
// copy gets its own `_ours.mjs` (a separate module instance, so both packages
// load side by side) told where the baseline is by a small JSON file next to it.
function baselineAdapters(baselineDir, backends, stamp) {
  const entry = path.resolve(baselineDir, "index.js");
  if (!fs.existsSync(entry)) fail(`--baseline ${baselineDir}: no index.js there`);
  const dir = path.join(resultsDir, `.baseline-${stamp}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(benchDir, "adapters", "_ours.mjs"), path.join(dir, "_ours.mjs"));
  fs.writeFileSync(path.join(dir, "package-entry.json"), JSON.stringify({ entry }));
  return {
    dir,
    files: backends.map((backend) => {
      const name = `miniflare-kv-${backend}.mjs`;
      const source = fs.readFileSync(path.join(benchDir, "adapters", name), "utf8");
      const renamed = source.replace(/export const name = "([^"]+)";/, 'export const name = "$1-baseline";');
      if (renamed === source) fail(`adapter ${name} has no \`export const name = "..."\` line to rename`);
      fs.writeFileSync(path.join(dir, name), renamed);
      return path.join(dir, name);
    }),
  };
}

function gitDescribe() {
  try {
    const head = fs.readFileSync(path.join(repoRoot, ".git", "HEAD"), "utf8").trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = fs.readFileSync(path.join(repoRoot, ".git", head.slice(5)), "utf8").trim();
    return ref.slice(0, 12);
  } catch {
    return "unknown";
  }
}

async function main() {
  const { own, passthrough } = splitArgs(process.argv.slice(2));
  const kvbench = resolveKvbench();
  const anchorsAdapters = path.join(path.dirname(kvbench), "adapters");

  const adapters = [];
  for (const anchor of list(own.anchors)) {
    const file = path.join(anchorsAdapters, `${anchor}.mjs`);
    if (!fs.existsSync(file)) fail(`no anchor adapter ${file}`);
    adapters.push(file);
  }
  for (const backend of list(own.ours)) {
    const file = path.join(benchDir, "adapters", `miniflare-kv-${backend}.mjs`);
    if (!fs.existsSync(file)) fail(`no adapter ${file}`);
    adapters.push(file);
  }
  if (adapters.length === 0) fail("no adapters: give --ours and/or --anchors");

  const env = { ...process.env };
  const anchorsDir = resolveAnchorsDir();
  if (anchorsDir) env.ANCHORS_DIR = anchorsDir;
  else if (list(own.anchors).some((a) => a !== "map")) fail("ANCHORS_DIR is not set and ~/kv-anchors does not exist (see bench/README.md)");

  fs.mkdirSync(resultsDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const addon = describeAddon(path.join(repoRoot, ADDON));
  if (addon.debugBuild) console.error(`bench/run.mjs: WARNING: ${ADDON} is a debug build; figures will not mean much`);

  let baseline;
  if (own.baseline) {
    baseline = baselineAdapters(own.baseline, list(own.ours), stamp);
    adapters.push(...baseline.files);
  }

  let snapshot;
  if (own.snapshot && list(own.ours).length > 0) {
    snapshot = snapshotPackage(stamp);
    env.MINIFLARE_KV_PACKAGE = path.join(snapshot, "index.js");
  }

  const args = [...passthrough];
  let out = null;
  const outAt = args.findIndex((a) => a === "--out" || a.startsWith("--out="));
  if (outAt === -1) {
    out = path.join(resultsDir, `${stamp}.json`);
    args.push("--out", out);
  } else {
    out = args[outAt].includes("=") ? args[outAt].slice(6) : args[outAt + 1];
  }
  const base = out.replace(/\.json$/, "");
  const childArgs = [kvbench, ...adapters.flatMap((a) => ["--adapter", a]), ...args];

  const header = [
    `# kvbench run ${stamp}`,
    "",
    `- command: \`node bench/run.mjs ${process.argv.slice(2).join(" ")}\``,
    `- harness: \`node ${childArgs.map((a) => path.relative(repoRoot, a) || a).join(" ")}\``,
    `- repository HEAD ${gitDescribe()}; addon ${addon.sha256} (${addon.bytes} bytes, built ${addon.modified}${addon.debugBuild ? ", DEBUG" : ", release"})`,
    `- ANCHORS_DIR=${anchorsDir ?? "(unset)"}`,
    ...(own.baseline ? [`- baseline (adapters named *-baseline): ${path.resolve(own.baseline)}`] : []),
    "",
  ].join("\n");
  console.error(header);

  const mdStream = fs.createWriteStream(`${base}.md`);
  const logStream = fs.createWriteStream(`${base}.log`);
  mdStream.write(header + "\n");
  logStream.write(header + "\n");

  const child = spawn(process.execPath, childArgs, { cwd: repoRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.on("data", (d) => { process.stdout.write(d); mdStream.write(d); });
  child.stderr.on("data", (d) => { process.stderr.write(d); logStream.write(d); });
  const code = await new Promise((resolve) => child.on("close", (c, signal) => resolve(c ?? (signal ? 1 : 0))));
  await Promise.all([mdStream, logStream].map((s) => new Promise((r) => s.end(r))));
  if (snapshot) fs.rmSync(snapshot, { recursive: true, force: true });
  if (baseline) fs.rmSync(baseline.dir, { recursive: true, force: true });
  console.error(`\nresults: ${path.relative(process.cwd(), base)}.{md,json,log}`);
  process.exit(code);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

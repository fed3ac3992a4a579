#!/usr/bin/env node
"use strict";
// The package's `install` script: makes sure a native addon for this machine
// is there, building one only when it must.
//
//   1. In a git clone (a `.git` next to package.json): the developer flow,
//      `napi build --platform --release` from source, as `npm install` always
//      did (it also regenerates binding.js / binding.d.ts, which CI checks).
//   2. Installed as a dependency, with a prebuilt binary for this platform in
//      the package (or an installed miniflare-kv-<platform> package) that
//      loads: nothing to do. This is the usual case, and it needs no script at
//      all: npm, which blocks dependencies' install scripts unless approved,
//      may never run this file.
//   3. No binary that loads, and `cargo` on PATH: `cargo build --release` of
//      the Rust sources shipped in the package, copied to
//      miniflare-kv.<platform>.node, where binding.js looks.
//   4. Neither: exit 1 after one line naming the platform and what to
//      install.
//
// Run it by hand (`node node_modules/miniflare-kv/scripts/install.js`) to
// build after an install that skipped it.

const { spawnSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const { platformName } = require("../lib/platform");

const root = path.resolve(__dirname, "..");
const binaryName = `miniflare-kv.${platformName()}.node`;

function say(line) {
  console.error(`miniflare-kv: ${line}`);
}

/** Whether binding.js finds and loads an addon here (prebuilt or built). */
function addonLoads() {
  const result = spawnSync(process.execPath, ["-e", `require(${JSON.stringify(path.join(root, "binding.js"))})`], {
    cwd: root,
    stdio: "ignore",
  });
  return result.status === 0;
}

function hasCargo() {
  const result = spawnSync("cargo", ["--version"], { stdio: "ignore", shell: process.platform === "win32" });
  return result.status === 0;
}

function developerBuild() {
  const napi = path.join(root, "node_modules", "@napi-rs", "cli", "dist", "cli.js");
  if (!fs.existsSync(napi)) {
    say("a git clone without its devDependencies: run `npm install` (not --omit=dev) to build the addon.");
    return 1;
  }
  const args = [napi, "build", "--platform", "--release", "--js", "binding.js", "--dts", "binding.d.ts"];
  return spawnSync(process.execPath, args, { cwd: root, stdio: "inherit" }).status ?? 1;
}

/** `cargo build --release`, then the cdylib copied to where binding.js looks. */
function sourceBuild() {
  say(`no prebuilt binary for ${platformName()}: building it from source with cargo (a few minutes)…`);
  const result = spawnSync(
    "cargo",
    ["build", "--release", "--lib", "--manifest-path", path.join(root, "Cargo.toml"), "--message-format=json-render-diagnostics"],
    { cwd: root, stdio: ["ignore", "pipe", "inherit"], encoding: "utf8", maxBuffer: 64 * 1024 * 1024, shell: process.platform === "win32" },
  );
  if (result.status !== 0) {
    say(`cargo build failed (exit ${result.status ?? result.signal}); see its output above.`);
    return 1;
  }
  // cargo names the file per platform (lib*.so, lib*.dylib, *.dll) and per
  // CARGO_TARGET_DIR: take the path from its own report.
  let library;
  for (const line of result.stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const message = JSON.parse(line);
    if (message.reason === "compiler-artifact" && message.target?.kind?.includes("cdylib")) {
      library = message.filenames.find((file) => /\.(so|dylib|dll)$/.test(file));
    }
  }
  if (library === undefined) {
    say("cargo build reported no cdylib for the addon.");
    return 1;
  }
  fs.copyFileSync(library, path.join(root, binaryName));
  if (!addonLoads()) {
    say(`built ${binaryName}, but it does not load in this Node.js.`);
    return 1;
  }
  say(`built ${binaryName}.`);
  return 0;
}

function main() {
  if (fs.existsSync(path.join(root, ".git"))) return developerBuild();
  if (addonLoads()) return 0;
  if (hasCargo()) return sourceBuild();
  say(
    `no prebuilt binary for ${platformName()} and no \`cargo\` to build one: install Rust (https://rustup.rs), ` +
      "then reinstall miniflare-kv.",
  );
  return 1;
}

process.exitCode = main();

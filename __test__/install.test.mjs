// Installing the package as a user does: `npm pack`, then `npm install` of the
// tarball into a new project (scripts allowed), then require/import it. And
// the install script's decision (scripts/install.js), run for real on an
// unpacked copy: prebuilt binary present → nothing to do; absent with cargo
// on PATH → a build from the shipped sources; absent without cargo → one
// clear line and exit 1.
//
// The from-source build shares this repository's cargo target directory
// (CARGO_TARGET_DIR, host target as `napi build`), so the dependencies
// `npm install` compiled are reused and only the two workspace crates are
// compiled again (a minute or two, not ten).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const { platformName } = await import(path.join(root, "lib", "platform.js")).then((m) => m.default);
const binaryName = `miniflare-kv.${platformName()}.node`;
const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-install-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));

function run(cmd, args, options = {}) {
  const result = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024, ...options });
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "", error: result.error };
}

/** `npm pack` of the working tree into a fresh folder → the tarball's path. */
function pack() {
  const dest = mkdtempSync(path.join(scratch, "pack-"));
  const result = run("npm", ["pack", "--pack-destination", dest, "--json"], { cwd: root });
  assert.equal(result.status, 0, result.stderr);
  return path.join(dest, JSON.parse(result.stdout)[0].filename);
}

/** The tarball unpacked into a new folder → its `package/` directory. */
function unpack(tarball) {
  const dir = mkdtempSync(path.join(scratch, "unpacked-"));
  const result = run("tar", ["xzf", tarball, "-C", dir]);
  assert.equal(result.status, 0, result.stderr);
  return path.join(dir, "package");
}

/** A KV round trip through the package at `dir` (by path), in a new process. */
function roundTrip(dir, env = process.env) {
  const code = `
    const { Miniflare } = require(${JSON.stringify(dir)});
    (async () => {
      const mf = new Miniflare({ kvNamespaces: ["NS"] });
      const ns = await mf.getKVNamespace("NS");
      await ns.put("k", "installed");
      console.log(await ns.get("k"));
      await mf.dispose();
    })();`;
  return run(process.execPath, ["-e", code], { env });
}

test("npm pack → npm install in a new project (scripts on) → require, import and the CLI work, nothing is built", { timeout: 300_000 }, () => {
  const tarball = pack();
  const project = mkdtempSync(path.join(scratch, "project-"));
  // Scripts explicitly on, and this package's install script approved (npm 11
  // blocks dependencies' install scripts unless package.json allows them; a
  // tarball's entry is its file: spec, as `npm install-scripts approve` writes).
  const manifestOfProject = { name: "kv-user-project", private: true, version: "1.0.0", allowScripts: { [`file:${tarball}`]: true } };
  writeFileSync(path.join(project, "package.json"), JSON.stringify(manifestOfProject));
  const install = run(
    "npm",
    ["install", tarball, "--no-audit", "--no-fund", "--ignore-scripts=false", "--foreground-scripts"],
    { cwd: project },
  );
  assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
  // It ran (npm lists skipped scripts), and chose the prebuilt binary.
  assert.doesNotMatch(install.stderr, /install-scripts\s+miniflare-kv/, install.stderr);
  assert.match(`${install.stdout}${install.stderr}`, /miniflare-kv@[^\n]* install\n> node scripts\/install\.js/);
  assert.doesNotMatch(`${install.stdout}${install.stderr}`, /building it from source|Compiling/);
  const installed = path.join(project, "node_modules", "miniflare-kv");
  assert.ok(existsSync(path.join(installed, binaryName)), "the prebuilt binary is shipped");
  assert.ok(!existsSync(path.join(installed, "target")), "no cargo build ran in the package folder");
  assert.deepEqual(readFileSync(path.join(installed, binaryName)), readFileSync(path.join(root, binaryName)), "the shipped binary, not a rebuilt one");
  // The docs the README links to are shipped.
  for (const doc of readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md"))) {
    assert.ok(existsSync(path.join(installed, "docs", doc)), `docs/${doc} is in the package`);
  }
  const manifest = JSON.parse(readFileSync(path.join(installed, "package.json"), "utf8"));
  assert.equal(manifest.scripts.prepare, undefined, "no prepare script rebuilds anything");
  assert.equal(typeof manifest.repository?.url, "string");

  const cjs = run(process.execPath, ["-e", `
    const { Miniflare } = require("miniflare-kv");
    const { testWorkerScope } = require("miniflare-kv/testing");
    (async () => {
      const mf = new Miniflare({ kvNamespaces: ["NS"] });
      const ns = await mf.getKVNamespace("NS");
      await ns.put("k", "from require");
      console.log(await ns.get("k"), typeof testWorkerScope());
      await mf.dispose();
    })();`], { cwd: project });
  assert.equal(cjs.stdout.trim(), "from require string", cjs.stderr);
  const esm = run(process.execPath, ["--input-type=module", "-e", `
    import { Miniflare } from "miniflare-kv";
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    const ns = await mf.getKVNamespace("NS");
    await ns.put("k", "from import");
    console.log(await ns.get("k"));
    await mf.dispose();`], { cwd: project });
  assert.equal(esm.stdout.trim(), "from import", esm.stderr);
  const cli = run(path.join(project, "node_modules", ".bin", "miniflare"), ["--version"], { cwd: project });
  assert.equal(cli.status, 0, cli.stderr);
  assert.equal(cli.stdout.trim(), manifest.version);
});

test("install script: a prebuilt binary that loads → nothing to do", { timeout: 120_000 }, () => {
  const pkg = unpack(pack());
  const result = run(process.execPath, [path.join(pkg, "scripts", "install.js")], { cwd: pkg });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr, "");
  assert.ok(!existsSync(path.join(pkg, "target")), "nothing was built");
  assert.equal(roundTrip(pkg).stdout.trim(), "installed");
});

test("install script: no binary and no cargo on PATH → one line naming the platform and Rust, exit 1", { timeout: 120_000 }, () => {
  const pkg = unpack(pack());
  rmSync(path.join(pkg, binaryName));
  // A PATH holding only node: no cargo.
  const bin = mkdtempSync(path.join(scratch, "bin-"));
  symlinkSync(process.execPath, path.join(bin, "node"));
  const env = { ...process.env, PATH: bin };
  assert.notEqual(run("cargo", ["--version"], { env }).status, 0, "cargo must not be reachable");
  const result = run(process.execPath, [path.join(pkg, "scripts", "install.js")], { cwd: pkg, env });
  assert.equal(result.status, 1);
  const lines = result.stderr.trimEnd().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], new RegExp(`^miniflare-kv: no prebuilt binary for ${platformName()} and no \`cargo\` to build one: install Rust \\(https://rustup\\.rs\\)`));
  assert.doesNotMatch(result.stderr, /optional dependencies/);
  // Loading the package anyway says the same, not napi's generic message.
  const load = roundTrip(pkg, env);
  assert.notEqual(load.status, 0);
  assert.match(load.stderr, new RegExp(`miniflare-kv: no native addon for ${platformName()} could be loaded`));
  assert.doesNotMatch(load.stderr.split("\n").find((l) => l.includes("Error")) ?? "", /optional dependencies/);
});

test("install script: no binary, cargo present → built from the shipped sources and it works", { timeout: 900_000 }, () => {
  const pkg = unpack(pack());
  rmSync(path.join(pkg, binaryName));
  assert.ok(!existsSync(path.join(pkg, ".git")) && existsSync(path.join(pkg, "Cargo.toml")));
  const host = /^host: (\S+)$/m.exec(run("rustc", ["-vV"]).stdout)?.[1];
  const env = { ...process.env, CARGO_TARGET_DIR: path.join(root, "target"), CARGO_BUILD_TARGET: host };
  const result = run(process.execPath, [path.join(pkg, "scripts", "install.js")], { cwd: pkg, env });
  assert.equal(result.status, 0, result.stderr.slice(-4000));
  assert.match(result.stderr, new RegExp(`no prebuilt binary for ${platformName()}: building it from source with cargo`));
  assert.match(result.stderr, new RegExp(`built ${binaryName.replace(/\./g, "\\.")}\\.`));
  assert.ok(existsSync(path.join(pkg, binaryName)));
  assert.equal(roundTrip(pkg).stdout.trim(), "installed");
});

test("install script in a git clone: the developer build (napi), which needs the devDependencies", () => {
  // A clone without node_modules: the script must choose napi (and say what
  // is missing), never the prebuilt or plain-cargo paths.
  const pkg = unpack(pack());
  mkdirSync(path.join(pkg, ".git"));
  const result = run(process.execPath, [path.join(pkg, "scripts", "install.js")], { cwd: pkg });
  assert.equal(result.status, 1);
  assert.match(result.stderr, /a git clone without its devDependencies: run `npm install`/);
});

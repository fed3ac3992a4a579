// Debian's Chromium for the browser tests (__test__/explorer.test.mjs). Nothing
// downloads a browser of its own: playwright-core drives this executable.
// Installed with apt-get when missing and we are root (CI machines start bare),
// as scripts/redis-server.mjs installs redis-server.
import { spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser"];

function found() {
  for (const file of CANDIDATES) {
    if (spawnSync(file, ["--version"], { encoding: "utf8" }).status === 0) return file;
  }
  return null;
}

/** The Chromium executable, installing Debian's `chromium` package if needed. */
export function ensureChromiumInstalled() {
  let bin = found();
  if (bin) return bin;
  if (process.getuid?.() !== 0) {
    throw new Error("Chromium is not installed: run `sudo apt-get install chromium` (the browser tests use Debian's).");
  }
  console.log("# installing chromium (apt-get)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "--no-install-recommends", "chromium"]]) {
    const r = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
  bin = found();
  if (!bin) throw new Error("chromium still missing after apt-get install");
  return bin;
}

/** For playwright-core's chromium.launchPersistentContext(profile, options):
 * headless, no network of its own (no updates, sync, QUIC), a fresh profile
 * (Playwright passes it as --user-data-dir). */
export function chromiumLaunchOptions() {
  const profile = mkdtempSync(path.join(os.tmpdir(), "mfkv-chromium-"));
  const options = {
    executablePath: ensureChromiumInstalled(),
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  };
  return { profile, options };
}

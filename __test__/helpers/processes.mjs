// Child `node` processes for multi-process tests.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";

const helpers = path.dirname(fileURLToPath(import.meta.url));
export const KV_CHILD = path.join(helpers, "kv-child.mjs");
export const CRASH_WRITER = path.join(helpers, "crash-writer.mjs");

/**
 * Runs `node <script> <JSON spec>` to completion, killing it after
 * `timeoutMs` (then `timedOut` is true: a hang is a failure, not a wait).
 * Resolves { code, signal, stdout, stderr, timedOut, json } where `json` is
 * the parsed first stdout line (or undefined).
 */
export function runNode(script, spec, { cwd, timeoutMs = 30_000, env = process.env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(spec)], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let json;
      try {
        json = JSON.parse(stdout.split("\n")[0]);
      } catch {}
      resolve({ code, signal, stdout, stderr, timedOut, json });
    });
  });
}

/** Runs the KV child; resolves its results, or rejects with everything it printed. */
export async function kvChild(spec, options) {
  const r = await runNode(KV_CHILD, spec, options);
  if (r.code !== 0 || !r.json?.results) {
    throw new Error(
      `kv child failed (code ${r.code}, signal ${r.signal}, timedOut ${r.timedOut}):\n${r.stdout}\n${r.stderr}`,
    );
  }
  return r.json.results;
}

/**
 * Starts the KV child with `hold: true` and resolves once it has run its ops
 * and holds the storage open: { child, results, kill() }.
 */
export function holdingChild(spec, { cwd, timeoutMs = 30_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [KV_CHILD, JSON.stringify({ ...spec, hold: true })], {
      cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const exited = new Promise((r) => child.on("close", r));
    const kill = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    };
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`holding child did not start within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.stdout.setEncoding("utf8").on("data", (d) => {
      stdout += d;
      if (!stdout.includes("\n")) return;
      clearTimeout(timer);
      const json = JSON.parse(stdout.split("\n")[0]);
      if (json.results) resolve({ child, results: json.results, kill });
      else kill().then(() => reject(new Error(`holding child failed: ${stdout}\n${stderr}`)));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`holding child exited (code ${code}, signal ${signal}):\n${stdout}\n${stderr}`));
    });
  });
}

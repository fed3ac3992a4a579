// Starts a private redis-server for the tests: 127.0.0.1, a free port, no
// persistence, a temporary directory. Installs Debian's redis-server when it
// is missing and we are root (CI machines start bare). Never touches 6379.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

function which(cmd) {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : null;
}

export function ensureRedisInstalled() {
  let bin = which("redis-server");
  if (bin) return bin;
  if (process.getuid?.() !== 0) {
    throw new Error("redis-server is not installed: run `sudo apt-get install redis-server`.");
  }
  console.log("# installing redis-server (apt-get)");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const args of [["update", "-qq"], ["install", "-y", "-qq", "redis-server"]]) {
    const r = spawnSync("apt-get", args, { stdio: "inherit", env });
    if (r.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed`);
  }
  bin = which("redis-server");
  if (!bin) throw new Error("redis-server still missing after apt-get install");
  return bin;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    sock.setTimeout(500);
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      sock.destroy();
      resolve(d.toString().startsWith("+PONG"));
    });
    sock.on("error", () => resolve(false));
    sock.on("timeout", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Starts a server; resolves { url, port, stop, kill, restart }. */
export async function startRedis({ port } = {}) {
  const bin = ensureRedisInstalled();
  port ??= await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), "kv-redis-"));
  let child;
  const launch = async () => {
    child = spawn(
      bin,
      ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", dir,
        "--daemonize", "no", "--loglevel", "warning"],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    for (let i = 0; i < 200; i++) {
      if (await ping(port)) return;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`redis-server did not answer on 127.0.0.1:${port}`);
  };
  await launch();
  const stopChild = (signal) =>
    new Promise((resolve) => {
      if (!child || child.exitCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill(signal);
    });
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    /** Stops the server (data is lost: no persistence). */
    stop: async () => {
      await stopChild("SIGTERM");
    },
    /** Starts it again on the same port. */
    restart: launch,
    cleanup: async () => {
      await stopChild("SIGTERM");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

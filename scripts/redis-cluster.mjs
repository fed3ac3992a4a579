// Starts a private Redis Cluster for the tests and benchmarks: 3 masters and
// 3 replicas on 127.0.0.1 at free ports, no persistence, a temporary
// directory; a short node timeout so a failover takes about two seconds.
//
//   import { startRedisCluster } from "./redis-cluster.mjs";
//   const cluster = await startRedisCluster(); // { url, seedsUrl, nodes, ... }
//   await cluster.cleanup();
//
// Run alone (`node scripts/redis-cluster.mjs`) it prints the URL and keeps
// the cluster up until Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ensureRedisInstalled, freePort } from "./redis-server.mjs";

const NODE_TIMEOUT_MS = 1000;

/** One RESP command over a fresh socket; resolves the raw reply text ("" on failure). */
export function command(port, ...args) {
  return new Promise((resolve) => {
    const sock = net.connect(port, "127.0.0.1");
    let reply = "";
    const done = () => {
      sock.destroy();
      resolve(reply);
    };
    sock.setTimeout(1000, done);
    sock.on("connect", () => sock.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`));
    sock.on("data", (d) => {
      reply += d.toString();
      // Enough for the one-line and bulk replies used here.
      if (/\r\n$/.test(reply) && (!reply.startsWith("$") || reply.split("\r\n").length > 2)) done();
    });
    sock.on("error", done);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(condition, ms, what) {
  const start = Date.now();
  while (Date.now() - start < ms) {
    if (await condition()) return;
    await sleep(50);
  }
  throw new Error(`redis cluster: ${what} within ${ms} ms`);
}

/** Starts the cluster; resolves { url, seedsUrl, nodes, masters(), stopNode(port), startNode(port), waitHealthy(), cleanup() }. */
export async function startRedisCluster({ masters = 3, replicasPerMaster = 1 } = {}) {
  const bin = ensureRedisInstalled();
  const dir = mkdtempSync(path.join(os.tmpdir(), "kv-redis-cluster-"));
  const count = masters * (1 + replicasPerMaster);
  const ports = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const children = new Map();
  const launch = async (port) => {
    const nodeDir = path.join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const child = spawn(
      bin,
      ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no", "--dir", nodeDir,
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", String(NODE_TIMEOUT_MS),
        // Replicas sync at once (default: wait 5 s), so a failover test can start right away.
        "--repl-diskless-sync-delay", "0",
        "--daemonize", "no", "--loglevel", "warning"],
      { stdio: ["ignore", "ignore", "inherit"] },
    );
    children.set(port, child);
    await until(async () => (await command(port, "PING")).startsWith("+PONG"), 5000, `node ${port} answers`);
  };
  const stopNode = async (port) => {
    const child = children.get(port);
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    await exited;
    children.delete(port);
  };
  const stopAll = async () => {
    await Promise.all([...children.keys()].map(stopNode));
  };
  const clusterOk = async (port) => (await command(port, "CLUSTER", "INFO")).includes("cluster_state:ok");
  const waitHealthy = async (ms = 20_000) => {
    const alive = [...children.keys()];
    await until(async () => (await Promise.all(alive.map(clusterOk))).every(Boolean), ms, "every node reports cluster_state:ok");
  };
  try {
    await Promise.all(ports.map(launch));
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-replicas", String(replicasPerMaster), "--cluster-yes"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed: ${create.stdout}\n${create.stderr}`);
    await waitHealthy();
    // A replica that never synced would not take over: wait for every link.
    await until(async () => {
      const infos = await Promise.all(ports.map((port) => command(port, "INFO", "replication")));
      return infos.every((info) => info.includes("role:master") || info.includes("master_link_status:up"));
    }, 20_000, "every replica in sync with its master");
  } catch (error) {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  /** Ports of the nodes that are masters now (by their own account). */
  const currentMasters = async () => {
    const found = [];
    for (const port of children.keys()) {
      if ((await command(port, "ROLE")).includes("master")) found.push(port);
    }
    return found;
  };
  return {
    url: `redis://127.0.0.1:${ports[0]}`,
    seedsUrl: `redis://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(",")}`,
    ports,
    masters: currentMasters,
    stopNode,
    startNode: launch,
    waitHealthy,
    /** Waits until some replica has taken over every slot again (after stopNode of a master). */
    async waitFailover(ms = 20_000) {
      await waitHealthy(ms);
    },
    async cleanup() {
      await stopAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const cluster = await startRedisCluster();
  console.log(`${cluster.url}  (seeds: ${cluster.seedsUrl}) — Ctrl-C stops it`);
  // For running one test file by hand against this cluster:
  console.log(`export KV_TEST_REDIS_CLUSTER_URL=${cluster.url} KV_TEST_REDIS_CLUSTER_NODES=${cluster.ports.join(",")}`);
  const stop = async () => {
    await cluster.cleanup();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  setInterval(() => {}, 1 << 30);
}

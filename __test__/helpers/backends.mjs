// The persistence backends the contract suite runs against. `persist()`
// resolves a fresh, isolated kvPersist value: a new temporary directory, a new
// sled path, or the test Redis server after FLUSHDB. Redis runs only when
// scripts/test.mjs (or you) started a server and set KV_TEST_REDIS_URL.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const scratch = mkdtempSync(path.join(os.tmpdir(), "kv-test-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
let counter = 0;

/** A fresh directory under this process's scratch folder (removed on exit). */
export const tmp = (prefix = "d") => mkdtempSync(path.join(scratch, `${prefix}-`));

export const redisUrl = process.env.KV_TEST_REDIS_URL;

/** Sends one command to Redis and resolves its first reply line. */
export function redisCommand(url, ...args) {
  const { hostname, port } = new URL(url);
  const payload = `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("");
  return new Promise((resolve, reject) => {
    const sock = net.connect(Number(port) || 6379, hostname, () => sock.write(payload));
    sock.once("data", (d) => {
      sock.end();
      resolve(d.toString().split("\r\n")[0]);
    });
    sock.once("error", reject);
  });
}

export const backends = [
  { name: "memory", persist: () => false },
  { name: "directory", persist: () => path.join(tmp("dir"), "kv") },
  { name: "sled", persist: () => `sled:${path.join(scratch, `sled-${++counter}`)}` },
];

if (redisUrl) {
  backends.push({
    name: "redis",
    persist: async () => {
      await redisCommand(redisUrl, "FLUSHDB");
      return redisUrl;
    },
  });
}

/**
 * A Redis Cluster (scripts/redis-cluster.mjs), when scripts/test.mjs (or you)
 * started one: KV_TEST_REDIS_CLUSTER_URL names a node, and
 * KV_TEST_REDIS_CLUSTER_NODES lists every node's port so that a fresh start
 * can empty every master. Used by the model, crash and hostile-input tests
 * and __test__/redis-cluster.test.mjs.
 */
export const redisClusterUrl = process.env.KV_TEST_REDIS_CLUSTER_URL;

/** Empties every master of the test cluster (replicas refuse, and follow). */
export async function flushCluster() {
  const ports = (process.env.KV_TEST_REDIS_CLUSTER_NODES ?? "").split(",").filter(Boolean);
  await Promise.all(ports.map((port) => redisCommand(`redis://127.0.0.1:${port}`, "FLUSHALL").catch(() => {})));
  return redisClusterUrl;
}

export const clusterBackends = redisClusterUrl ? [{ name: "redis-cluster", persist: flushCluster }] : [];

/** `KV_TEST_BACKENDS=memory,sled` narrows a run to some backends. */
const wanted = process.env.KV_TEST_BACKENDS?.split(",");
if (wanted) backends.splice(0, backends.length, ...backends.filter((b) => wanted.includes(b.name)));
if (wanted) clusterBackends.splice(0, clusterBackends.length, ...clusterBackends.filter((b) => wanted.includes(b.name)));

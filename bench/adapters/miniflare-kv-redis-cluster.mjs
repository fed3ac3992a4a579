// This repository's package, KV in a Redis Cluster: $REDIS_CLUSTER_URL names a
// node (or seeds) and $REDIS_CLUSTER_NODES lists every node's port, so that
// the first open of each persist directory can FLUSHALL every master (point
// them at a throwaway cluster: `node scripts/redis-cluster.mjs` prints both).
// FLUSHALL and the memory figure go through ioredis from $ANCHORS_DIR, as in
// miniflare-kv-redis.mjs.
import { createRequire } from "node:module";
import path from "node:path";
import { openOurs, version } from "./_ours.mjs";

const clusterUrl = process.env.REDIS_CLUSTER_URL;
const nodePorts = (process.env.REDIS_CLUSTER_NODES ?? "").split(",").filter(Boolean).map(Number);
if (!clusterUrl || nodePorts.length === 0) {
  throw new Error("miniflare-kv-redis-cluster needs REDIS_CLUSTER_URL and REDIS_CLUSTER_NODES (see `node scripts/redis-cluster.mjs`)");
}
if (!process.env.ANCHORS_DIR) throw new Error("ANCHORS_DIR is not set: the adapter uses ioredis from the anchors install (see bench/README.md)");
const Redis = createRequire(path.join(path.resolve(process.env.ANCHORS_DIR), "__bench__.cjs"))("ioredis");

export const name = "miniflare-kv-redis-cluster";
export const persistent = true;
export const description = `${version}, kvPersist: ${clusterUrl} (Redis Cluster, ${nodePorts.length} nodes)`;

const flushedFor = new Set();

/** Runs `work(client)` on every master of the cluster. */
async function onMasters(work) {
  const results = [];
  for (const port of nodePorts) {
    const client = new Redis({ host: "127.0.0.1", port, lazyConnect: true });
    try {
      await client.connect();
      if ((await client.role())[0] === "master") results.push(await work(client));
    } finally {
      client.disconnect();
    }
  }
  return results;
}

export async function open({ persist }) {
  if (!flushedFor.has(persist)) {
    await onMasters((client) => client.flushall());
    flushedFor.add(persist);
  }
  const inner = await openOurs(clusterUrl);
  return {
    ns: inner.ns,
    close: inner.close,
    // The servers are not our descendants: their memory, summed over the masters.
    externalRss: async () => {
      const used = await onMasters(async (client) => Number(/used_memory:(\d+)/.exec(await client.info("memory"))?.[1] ?? 0));
      return used.reduce((a, b) => a + b, 0);
    },
  };
}

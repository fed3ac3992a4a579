// This repository's package, KV in Redis at $REDIS_URL (default
// redis://127.0.0.1:6390/0, as the mf2-redis anchor uses). The database is
// FLUSHED on the first open for each persist directory, so point REDIS_URL at
// a throwaway server (see bench/README.md).
//
// FLUSHDB and the memory figure go through ioredis from $ANCHORS_DIR (the
// same install the mf2-redis anchor needs), so this repository gains no
// dependency for the sake of a benchmark.
import { createRequire } from "node:module";
import path from "node:path";
import { openOurs, version } from "./_ours.mjs";

const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6390/0";

function loadIoredis() {
  const dir = process.env.ANCHORS_DIR;
  if (!dir) throw new Error("ANCHORS_DIR is not set: miniflare-kv-redis uses ioredis from the anchors install (see bench/README.md)");
  return createRequire(path.join(path.resolve(dir), "__bench__.cjs"))("ioredis");
}
const Redis = loadIoredis();

export const name = "miniflare-kv-redis";
export const persistent = true;
export const description = `${version}, kvPersist: ${redisUrl}`;

// "persist" is only an identity here: the "reopen" workload opens the same
// directory twice and must find the data of the first open.
const flushedFor = new Set();

export async function open({ persist }) {
  const admin = new Redis(redisUrl, { lazyConnect: true });
  await admin.connect();
  if (!flushedFor.has(persist)) {
    await admin.flushdb();
    flushedFor.add(persist);
  }
  let inner;
  try {
    inner = await openOurs(redisUrl);
  } catch (error) {
    await admin.quit();
    throw error;
  }
  return {
    ns: inner.ns,
    close: async () => {
      await inner.close();
      await admin.quit();
    },
    // the Redis server is not our descendant, so report its memory ourselves
    externalRss: async () => {
      const m = /used_memory:(\d+)/.exec(await admin.info("memory"));
      return m ? Number(m[1]) : null;
    },
  };
}

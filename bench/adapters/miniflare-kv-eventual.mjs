// This repository's package, KV in memory with kvConsistency: "eventual"
// (issue 17). The namespace is the binding's own object, as a Worker's env
// holds it: each call finds the location of the request it runs in (here
// none, so the default location) and answers from that location's cache.
// The workloads read what they wrote, so most reads are cache hits; "get
// miss" caches "not found" on its first read of each key.
import { openOurs, version } from "./_ours.mjs";
export const name = "miniflare-kv-eventual";
export const persistent = false;
export const description = `${version}, kvPersist: false, kvConsistency: "eventual"`;
export async function open() {
  return openOurs(false, { kvConsistency: "eventual" });
}

// This repository's package, KV in memory (kvPersist: false).
import { openOurs, version } from "./_ours.mjs";
export const name = "miniflare-kv-memory";
export const persistent = false;
export const description = `${version}, kvPersist: false (in-memory)`;
export async function open() {
  return openOurs(false);
}

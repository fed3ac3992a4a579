// This repository's package, KV persisted to the harness's scratch directory.
import { openOurs, version } from "./_ours.mjs";
export const name = "miniflare-kv-file";
export const persistent = true;
export const description = `${version}, kvPersist: <dir> (directory storage)`;
export async function open({ persist }) {
  if (!persist) throw new Error("miniflare-kv-file needs a persist directory");
  return openOurs(persist);
}

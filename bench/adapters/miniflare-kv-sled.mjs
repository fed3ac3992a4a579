// This repository's package, KV in an embedded sled database that lives in
// the harness's scratch directory.
import { openOurs, version } from "./_ours.mjs";
export const name = "miniflare-kv-sled";
export const persistent = true;
export const description = `${version}, kvPersist: "sled:<dir>"`;
export async function open({ persist }) {
  if (!persist) throw new Error("miniflare-kv-sled needs a persist directory");
  return openOurs(`sled:${persist}`);
}

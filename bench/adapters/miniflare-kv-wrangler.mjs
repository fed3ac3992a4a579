// This repository's package on the store layout of wrangler 4 / Miniflare 4
// (SQLite databases + blob files), in the harness's scratch directory. The
// `mf4-file` anchor writes the same layout (its kvPersist is the v3/kv folder).
import { openOurs, version } from "./_ours.mjs";
export const name = "miniflare-kv-wrangler";
export const persistent = true;
export const description = `${version}, kvPersist: "wrangler:<dir>"`;
export async function open({ persist }) {
  if (!persist) throw new Error("miniflare-kv-wrangler needs a persist directory");
  return openOurs(`wrangler:${persist}`);
}

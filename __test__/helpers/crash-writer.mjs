// The victim of crash.test.mjs: writes to a namespace as fast as it can, one
// sequential writer per key, all keys concurrently, and prints `<key index>
// <seq>` on stdout as soon as each put resolves (stdout to a pipe is
// synchronous on Linux, so a printed line means the put had resolved). Runs
// until killed.
//
// argv[2] is JSON: { persist, binding, keys: string[], seqBase }
// Each value is self-describing JSON: { key, seq, meta, exp, len, pad } where
// pad is `len` random characters (0..64 KiB); `meta` says whether the put
// carried metadata { seq }, `exp` the expiration it carried (or null).
import { randomBytes, randomInt } from "node:crypto";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { Miniflare } = require(path.join(path.dirname(fileURLToPath(import.meta.url)), "../../index.js"));

const { persist, binding, keys, seqBase } = JSON.parse(process.argv[2]);
// Far future (2036..), varying with the write so a stale expiration is visible.
const expirationFor = (seq) => 2_100_000_000 + (seq % 1_000_000);

/** What a put of (`key`, `seq`) stores. Exported shape is checked by crash.test.mjs. */
function entryFor(key, seq) {
  const len = randomInt(0, 64 * 1024 + 1);
  const pad = randomBytes(Math.ceil(len / 2)).toString("hex").slice(0, len);
  const meta = seq % 3 !== 0; // some writes drop metadata, exercising its removal
  const exp = seq % 4 === 0 ? expirationFor(seq) : null;
  const options = {};
  if (meta) options.metadata = { seq };
  if (exp !== null) options.expiration = exp;
  return { value: JSON.stringify({ key, seq, meta, exp, len, pad }), options };
}

const mf = new Miniflare({ kvNamespaces: [binding], kvPersist: persist });
const ns = await mf.getKVNamespace(binding);
// A safety net if the parent dies without killing us.
setTimeout(() => process.exit(4), 120_000).unref();

let seq = seqBase;
async function writeForever(index) {
  for (;;) {
    const mine = ++seq; // unique across keys; increasing per key
    const { value, options } = entryFor(keys[index], mine);
    await ns.put(keys[index], value, options);
    process.stdout.write(`${index} ${mine}\n`);
  }
}

process.stdout.write("ready\n");
await Promise.all(keys.map((_, index) => writeForever(index)));

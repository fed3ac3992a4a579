// A separate `node` process that opens the package on some kvPersist and runs
// a script of KV calls, for tests that need more than one process. Spawned
// by helpers/processes.mjs; not a test file itself.
//
// argv[2] is JSON: { persist, bindings?, binding?, ops: [...], dispose?, hold? }
//   ops: { op: "put", key, value?, valueBase64?, options? }
//        { op: "get", key, type? }         (arrayBuffer results come back as { base64 })
//        { op: "getWithMetadata", key }
//        { op: "list", options? }          (all pages when options.all)
//        { op: "delete", key }
//   dispose: call mf.dispose() before exiting (default true)
//   hold:    after the ops, print the results and keep the storage open until killed
// stdout: one JSON line { results } (or { error: { name, message } } and exit code 3).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const { Miniflare } = require(path.join(path.dirname(fileURLToPath(import.meta.url)), "../../index.js"));

const spec = JSON.parse(process.argv[2]);
const binding = spec.binding ?? "NS";

async function run(ns, op) {
  switch (op.op) {
    case "put": {
      const value = op.valueBase64 !== undefined ? Buffer.from(op.valueBase64, "base64") : op.value;
      return ns.put(op.key, value, op.options);
    }
    case "get": {
      const result = await ns.get(op.key, op.type);
      return result instanceof ArrayBuffer ? { base64: Buffer.from(result).toString("base64") } : result;
    }
    case "getWithMetadata":
      return ns.getWithMetadata(op.key);
    case "list": {
      if (!op.options?.all) return ns.list(op.options);
      const keys = [];
      let cursor;
      do {
        const page = await ns.list({ ...op.options, all: undefined, cursor });
        keys.push(...page.keys);
        cursor = page.list_complete ? undefined : page.cursor;
      } while (cursor !== undefined);
      return { keys };
    }
    case "delete":
      return ns.delete(op.key);
    default:
      throw new Error(`unknown op ${op.op}`);
  }
}

let mf;
try {
  mf = new Miniflare({ kvNamespaces: spec.bindings ?? [binding], kvPersist: spec.persist });
  const ns = await mf.getKVNamespace(binding);
  const results = [];
  for (const op of spec.ops ?? []) results.push((await run(ns, op)) ?? null);
  process.stdout.write(JSON.stringify({ results }) + "\n");
  if (spec.hold) {
    // Keep the storage open until killed. The timer refers to `mf`: an
    // unreachable Miniflare may be collected, and collecting its native store
    // closes it (a sled database's file lock was then released while idle).
    setInterval(() => void mf, 1 << 30);
  } else if (spec.dispose !== false) {
    await mf.dispose();
  }
} catch (error) {
  process.stdout.write(JSON.stringify({ error: { name: error?.name, message: String(error?.message ?? error) } }) + "\n");
  process.exitCode = 3;
  await mf?.dispose();
}

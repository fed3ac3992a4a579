// Shared code for the adapters that benchmark this repository's package.
//
// The package is loaded by absolute path from this file (../../index.js), not
// through node_modules, so the benchmark always measures the working tree.
// bench/run.mjs may point MINIFLARE_KV_PACKAGE at a frozen copy of the package
// instead, so that a rebuild of the addon in the shared tree during a long run
// cannot swap the code under test halfway through.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import fs from "node:fs";
import path from "node:path";

const require = createRequire(import.meta.url);
// `run.mjs --baseline` copies this file next to a package-entry.json naming an
// older copy of the package; that copy is then what these adapters load.
const baselineFile = fileURLToPath(new URL("./package-entry.json", import.meta.url));
const entry = fs.existsSync(baselineFile)
  ? JSON.parse(fs.readFileSync(baselineFile, "utf8")).entry
  : process.env.MINIFLARE_KV_PACKAGE
    ? path.resolve(process.env.MINIFLARE_KV_PACKAGE)
    : fileURLToPath(new URL("../../index.js", import.meta.url));
const { Miniflare } = require(entry);

const packageJson = JSON.parse(fs.readFileSync(path.join(path.dirname(entry), "package.json"), "utf8"));
export const version = `${packageJson.name} ${packageJson.version} (${path.dirname(entry)})`;

export async function openOurs(kvPersist, options = {}) {
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist, ...options });
  const ns = await mf.getKVNamespace("NS");
  return { ns, close: () => mf.dispose() };
}

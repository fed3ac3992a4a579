// Module-loader hooks for module Workers (registered once per process by
// ./worker.js with module.register(); they run on Node's loader thread).
//
// A Worker's entry URL carries a `?mf-kv=<load id>` tag. The hooks:
//  - give the same tag to every project file the entry imports (not to
//    node_modules), so each load of a Worker — a new Miniflare instance or a
//    reload after an edit — gets a fresh module graph of its own files while
//    npm packages are loaded once;
//  - apply the load's module rules: Text / Data / CompiledWasm imports
//    (wrangler's defaults: .txt/.html, .bin, .wasm) and ESModule / CommonJS
//    overrides;
//  - load a `.js` file that has ES module syntax as an ES module even outside
//    a `"type": "module"` package, as wrangler's bundler does;
//  - record which files each load used, so `miniflare --watch` can watch them.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import vm from "node:vm";
import picomatch from "picomatch";

const TAG = "mf-kv";

/** load id → { rootDir, rules: [{ type, match }], files: Set<path> } */
const loads = new Map();

export function initialize({ port }) {
  port.on("message", (message) => {
    if (message.type === "register") {
      const rules = message.rules.map((rule) => ({
        type: rule.type,
        match: picomatch(rule.include, { dot: true }),
      }));
      loads.set(message.id, { rootDir: message.rootDir, rules, files: new Set() });
      port.postMessage({ type: "registered", id: message.id });
    } else if (message.type === "files") {
      const files = [...(loads.get(message.id)?.files ?? [])];
      port.postMessage({ type: "files", id: message.id, files });
    } else if (message.type === "forget") {
      loads.delete(message.id);
    }
  });
  port.unref();
}

function tagOf(url) {
  if (!url || !url.startsWith("file:")) return null;
  const query = url.indexOf("?");
  if (query === -1) return null;
  return new URLSearchParams(url.slice(query + 1)).get(TAG);
}

function isProjectFile(url) {
  return url.startsWith("file:") && !url.includes("/node_modules/");
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  const tag = tagOf(context.parentURL);
  if (tag !== null && isProjectFile(result.url) && !result.url.includes("?")) {
    return { ...result, url: `${result.url}?${TAG}=${tag}` };
  }
  return result;
}

function ruleFor(load, file) {
  const relative = path.relative(load.rootDir, file);
  const candidate = relative.startsWith("..") || path.isAbsolute(relative) ? file : relative;
  const name = candidate.split(path.sep).join("/");
  return load.rules.find((rule) => rule.match(name)) ?? null;
}

/** Node decides CommonJS vs ESM for `.js` by package.json "type"; a Worker
 * file that does not compile as CommonJS is treated as an ES module. */
function compilesAsCommonJS(source, filename) {
  try {
    vm.compileFunction(source, ["exports", "require", "module", "__filename", "__dirname"], { filename });
    return true;
  } catch {
    return false;
  }
}

export async function load(url, context, nextLoad) {
  const tag = tagOf(url);
  const current = tag === null ? undefined : loads.get(tag);
  if (current === undefined) return nextLoad(url, context);

  const file = fileURLToPath(url);
  current.files.add(file);
  const rule = ruleFor(current, file);
  switch (rule?.type) {
    case "Text":
      return { format: "module", shortCircuit: true, source: `export default ${JSON.stringify(readFileSync(file, "utf8"))};\n` };
    case "Data":
      return {
        format: "module",
        shortCircuit: true,
        source:
          `const bytes = Uint8Array.from(atob(${JSON.stringify(readFileSync(file).toString("base64"))}), (c) => c.charCodeAt(0));\n` +
          "export default bytes.buffer;\n",
      };
    case "CompiledWasm":
      return {
        format: "module",
        shortCircuit: true,
        source:
          `const bytes = Uint8Array.from(atob(${JSON.stringify(readFileSync(file).toString("base64"))}), (c) => c.charCodeAt(0));\n` +
          "export default new WebAssembly.Module(bytes);\n",
      };
    case "ESModule":
      return nextLoad(url, { ...context, format: "module" });
    case "CommonJS":
      return nextLoad(url, { ...context, format: "commonjs" });
    default:
      break;
  }
  const result = await nextLoad(url, context);
  if (result.format === "commonjs" && file.endsWith(".js")) {
    const source = readFileSync(file, "utf8");
    if (!compilesAsCommonJS(source, file)) return { format: "module", shortCircuit: true, source };
  }
  return result;
}

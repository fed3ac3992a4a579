// `npm test -- consumers` (or `node scripts/consumers.mjs`): the package as
// users get it. Each project under __test__/consumers/ depends on
// "miniflare-kv": "file:../../.."; it is installed as a packed copy
// (--install-links, so only the files package.json "files" ships, like a
// registry install) and tested with the project's framework: Jest (tests run
// in a vm context) and Vitest (forks, threads, vmThreads and vmForks pools).
// worker.spec.js in each runs a TypeScript module Worker importing hono. Both run
// two workers, so shared-*.spec.js check that workers sharing one directory
// (and Redis, when KV_TEST_REDIS_URL is set) never see each other's data.
// Exits non-zero if any install or run fails.
import { spawnSync } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const consumers = [
  { name: "jest", runs: [["jest", "--ci", "--maxWorkers=2"]] },
  {
    name: "vitest",
    runs: [
      ["vitest", "run"], // the default pool (forks)
      ["vitest", "run", "--pool=threads"], // the addon loaded in worker threads
      ["vitest", "run", "--pool=vmThreads"], // tests in vm contexts, like Jest
      ["vitest", "run", "--pool=vmForks"], // vm contexts in child processes
    ],
  },
  // The one-line test kit (issue 16): testEnvironment / setupFiles only.
  { name: "jest-env", runs: [["jest", "--ci", "--maxWorkers=2"]] },
  {
    name: "vitest-env",
    runs: ["forks", "threads", "vmThreads", "vmForks"].map((pool) => ["vitest", "run", `--pool=${pool}`]),
  },
];

if (!readdirSync(root).some((file) => file.endsWith(".node"))) {
  console.error("No native addon at the repository root: run `npm install` (or `npm run build:debug`) first.");
  process.exit(1);
}

function run(cwd, cmd, args) {
  console.log(`\n## ${path.relative(root, cwd)}: ${cmd} ${args.join(" ")}`);
  const result = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  return result.status === 0;
}

const failures = [];
for (const { name, runs } of consumers) {
  const cwd = path.join(root, "__test__", "consumers", name);
  // A copied file: dependency is never refreshed by `npm install`: drop it so
  // the copy is always of the current tree.
  rmSync(path.join(cwd, "node_modules", "miniflare-kv"), { recursive: true, force: true });
  // --ignore-scripts: the root is already built; do not run its `prepare`.
  const installed = run(cwd, "npm", ["install", "--no-audit", "--no-fund", "--ignore-scripts", "--install-links"]);
  if (!installed) {
    failures.push(`${name}: npm install`);
    continue;
  }
  for (const args of runs) {
    if (!run(cwd, "npx", ["--no", "--", ...args])) failures.push(`${name}: ${args.join(" ")}`);
  }
}

if (failures.length) {
  console.error(`\n# consumer projects failed:\n${failures.map((f) => `#   ${f}`).join("\n")}`);
  process.exit(1);
}
console.log("\n# consumer projects: all passed");

// `npm test`: every test of the project, in order. Rust unit tests, then the
// JavaScript suite (node:test) with a private redis-server, then the typings
// check and the Jest and Vitest consumer projects. Exits non-zero on the
// first failing step.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startRedisCluster } from "./redis-cluster.mjs";
import { ensureRedisInstalled, startRedis } from "./redis-server.mjs";

/** A private Redis Cluster (3 masters, 3 replicas) for `step`, named in the environment it gets. */
async function withCluster(step) {
  const cluster = await startRedisCluster();
  try {
    return await step({ KV_TEST_REDIS_CLUSTER_URL: cluster.url, KV_TEST_REDIS_CLUSTER_NODES: cluster.ports.join(",") });
  } finally {
    await cluster.cleanup();
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const only = process.argv.slice(2); // e.g. `npm test -- js` runs one step

function hostTarget() {
  const out = spawnSync("rustc", ["-vV"], { encoding: "utf8" }).stdout ?? "";
  return /^host: (\S+)$/m.exec(out)?.[1] ?? "x86_64-unknown-linux-gnu";
}

function run(title, cmd, args, opts = {}) {
  console.log(`\n# ${title}: ${cmd} ${args.join(" ")}`);
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, ...opts });
  if (r.status !== 0) {
    console.error(`\n# ${title} failed (exit ${r.status ?? r.signal})`);
    process.exitCode = 1;
    return false;
  }
  return true;
}

const steps = {
  // Same profile and explicit host target as `napi build --release`, so the
  // tests reuse the dependencies `npm install` already compiled.
  // The Redis tests in kv-core start their own redis-server: install it first
  // on a bare machine.
  rust: () => {
    ensureRedisInstalled();
    return run("Rust unit tests", "cargo", ["test", "--workspace", "--release", "--target", hostTarget()]);
  },
  js: async () => {
    const redis = await startRedis();
    try {
      return await withCluster((clusterEnv) =>
        run("JavaScript tests", process.execPath, ["--test", "--test-concurrency=1", "__test__/"], {
          env: { ...process.env, KV_TEST_REDIS_URL: redis.url, ...clusterEnv },
        }),
      );
    } finally {
      await redis.cleanup();
    }
  },
  // Short hostile-input and memory-soak runs (the model, load and crash
  // tests already ran above); `node scripts/reliability.mjs --long` for the
  // long figures (docs/reliability.md).
  reliability: () =>
    withCluster((clusterEnv) =>
      run("Hostile input and memory soak", process.execPath, ["scripts/reliability.mjs", "--only", "hostile,soak"], {
        env: { ...process.env, ...clusterEnv },
      }),
    ),
  // Four programs: DOM lib (usage), a Worker project's global types
  // (assignability with @cloudflare/workers-types), a Node project without
  // the DOM lib (--lib es2022 --types node) and the bare ES2022 lib.
  types: () =>
    [
      "__test__/types/tsconfig.json",
      "__test__/types/workers/tsconfig.json",
      "__test__/types/node/tsconfig.json",
      "__test__/types/bare/tsconfig.json",
    ]
      .filter((config) => existsSync(path.join(root, config)))
      .every((config) =>
        run(`Typings (tsc --strict -p ${config})`, process.execPath, [
          path.join(root, "node_modules/typescript/bin/tsc"), "-p", config,
        ]),
      ),
  consumers: async () => {
    if (!existsSync(path.join(root, "scripts/consumers.mjs"))) return true;
    // A private Redis for the shared-storage tests of the consumer projects.
    const redis = await startRedis();
    try {
      return run("Jest and Vitest consumer projects", process.execPath, ["scripts/consumers.mjs"], {
        env: { ...process.env, KV_TEST_REDIS_URL: redis.url },
      });
    } finally {
      await redis.cleanup();
    }
  },
};

let passed = 0;
let failed = 0;
for (const [name, step] of Object.entries(steps)) {
  if (only.length && !only.includes(name)) continue;
  if (await step()) passed++;
  else {
    failed++;
    break;
  }
}
// One closing line that counts the steps (each step prints its own counts).
console.log(`\nsteps: ${passed} passed, ${failed} failed`);

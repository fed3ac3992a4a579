import { defineConfig } from "vitest/config";

// The documented set-up is the `memory` project alone: setupFiles plus the
// options under provide.miniflareKv. The `directory` project runs
// parallel-*.spec.js on one kvPersist directory shared by both workers.
const miniflareKv = {
  kvNamespaces: ["NS", "CACHE"],
  kvSeed: { NS: "fixtures/ns.json" },
  modules: true,
  scriptPath: "worker.js",
};

export default defineConfig({
  test: {
    maxWorkers: 2, // parallel-*.spec.js must run at the same time
    globalSetup: "./barrier-setup.js", // for parallel-*.spec.js, not for miniflare-kv
    projects: [
      {
        extends: true,
        test: {
          name: "memory",
          exclude: ["**/node_modules/**", "parallel-*.spec.js"],
          setupFiles: ["miniflare-kv/vitest-setup"],
          provide: { miniflareKv },
        },
      },
      {
        extends: true,
        test: {
          name: "directory",
          include: ["parallel-*.spec.js"],
          setupFiles: ["miniflare-kv/vitest-setup"],
          provide: { miniflareKv: { ...miniflareKv, kvPersist: "./.mf/parallel-kv" } },
        },
      },
    ],
  },
});

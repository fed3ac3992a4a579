import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    // shared-*.spec.js must run at the same time, in two workers.
    maxWorkers: 2,
    globalSetup: "./shared-storage-setup.js",
  },
});

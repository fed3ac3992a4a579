// Jest globalSetup: one fresh directory for the run, shared by every worker
// (workers inherit this process's environment). Redis, when
// KV_TEST_REDIS_URL is set, is shared too; KV_SHARED_RUN keeps this run's
// namespace ids apart from other runs on the same server.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const crypto = require("node:crypto");

module.exports = async () => {
  process.env.KV_SHARED_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "kv-jest-shared-"));
  process.env.KV_SHARED_RUN = crypto.randomBytes(4).toString("hex");
};

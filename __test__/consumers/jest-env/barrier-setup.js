// Jest globalSetup for parallel-*.spec.js only: a fresh directory where the
// two files meet (so both are known to run at the same time). Not part of
// the miniflare-kv set-up.
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");

module.exports = async () => {
  process.env.KV_BARRIER_DIR = fs.mkdtempSync(path.join(os.tmpdir(), "kv-jest-env-barrier-"));
};

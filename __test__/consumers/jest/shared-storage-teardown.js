// Jest globalTeardown: removes the run's shared directory.
const fs = require("node:fs");

module.exports = async () => {
  if (process.env.KV_SHARED_DIR) fs.rmSync(process.env.KV_SHARED_DIR, { recursive: true, force: true });
};

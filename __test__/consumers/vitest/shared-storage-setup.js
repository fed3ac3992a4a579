// Vitest globalSetup: one fresh directory for the run, shared by every
// worker (handed to tests with provide/inject), and a run id that keeps this
// run's namespace ids apart from other runs on the same Redis server.
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(project) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kv-vitest-shared-"));
  project.provide("sharedDir", dir);
  project.provide("sharedRun", crypto.randomBytes(4).toString("hex"));
  return () => fs.rmSync(dir, { recursive: true, force: true });
}

// Vitest globalSetup for parallel-*.spec.js only: a fresh directory where the
// two files meet (so both are known to run at the same time). Not part of
// the miniflare-kv set-up.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function ({ provide }) {
  provide("barrierDir", fs.mkdtempSync(path.join(os.tmpdir(), "kv-vitest-env-barrier-")));
}

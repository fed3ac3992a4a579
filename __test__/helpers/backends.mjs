// The persistence backends the contract suite runs against. Each entry makes
// a fresh, isolated kvPersist value. Redis runs only when scripts/test.mjs
// (or you) started a server and set KV_TEST_REDIS_URL.
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const tmp = (prefix) => mkdtempSync(path.join(os.tmpdir(), prefix));
let redisDb = 0;

export const backends = [
  { name: "memory", persist: () => false },
  // Further backends (directory, sled, Redis) are added as they land.
];

export const redisUrl = process.env.KV_TEST_REDIS_URL;
export { tmp };

// Several test files, run at the same time by different Jest workers
// (maxWorkers: 2), use one directory (and one Redis server, if
// KV_TEST_REDIS_URL is set) with the same namespace id and the same keys.
// With `kvNamespaceScope: true` each worker gets namespace ids of its own, so
// no file ever sees another's data. The files meet at two barriers (files in
// the shared directory) so that both really are running, and have both
// written everything, before each checks what it can see.
// Required by shared-*.spec.js; not a test file itself. package.json sets
// workerIdleMemoryLimit because with it Jest always uses workers: without it,
// once it has timings of fast tests from earlier runs, it runs every file in
// one process, and the barriers could never be met.
const fs = require("node:fs");
const path = require("node:path");
const { Miniflare } = require("miniflare-kv");
const { testWorkerScope } = require("miniflare-kv/testing");

const FILES = ["a", "b"]; // shared-a.spec.js, shared-b.spec.js
const COMMON_KEYS = Array.from({ length: 20 }, (_, i) => `key-${String(i).padStart(2, "0")}`);
const BARRIER_TIMEOUT = 60_000;

function sharedDir() {
  const dir = process.env.KV_SHARED_DIR;
  if (!dir) throw new Error("KV_SHARED_DIR is not set: run through Jest's globalSetup (shared-storage-setup.js).");
  return dir;
}

/** Marks `me` as arrived at `phase` (with a note) and waits for every file. */
async function barrier(phase, me, note) {
  const dir = path.join(sharedDir(), "barriers");
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${phase}-${me}`), note);
  const deadline = Date.now() + BARRIER_TIMEOUT;
  const missing = () => FILES.filter((f) => !fs.existsSync(path.join(dir, `${phase}-${f}`)));
  while (missing().length > 0) {
    if (Date.now() > deadline) {
      throw new Error(
        `shared-${missing().join(", shared-")}.spec.js never reached "${phase}": these files must run at the same time, in different workers (maxWorkers >= 2).`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Object.fromEntries(FILES.map((f) => [f, fs.readFileSync(path.join(dir, `${phase}-${f}`), "utf8")]));
}

const backends = [["directory", () => path.join(sharedDir(), "kv")]];
if (process.env.KV_TEST_REDIS_URL) backends.push(["redis", () => process.env.KV_TEST_REDIS_URL]);

function sharedStorageSuite(me) {
  for (const [backend, persist] of backends) {
    describe(`${backend} shared by every worker`, () => {
      let mf;
      let ns;

      beforeAll(async () => {
        mf = new Miniflare({
          kvNamespaces: { SHARED: `shared-${process.env.KV_SHARED_RUN}` },
          kvPersist: persist(),
          kvNamespaceScope: true,
        });
        ns = await mf.getKVNamespace("SHARED");
        // The file leaves the worker's namespace as it found it.
        await mf.pushStorage();
      }, BARRIER_TIMEOUT);

      afterAll(async () => {
        await mf?.popStorage();
        await mf?.dispose();
      });

      test("writes the same keys as the other file and only ever reads its own", async () => {
        const scopes = await barrier(`${backend}-started`, me, testWorkerScope());
        expect(new Set(Object.values(scopes)).size).toBe(FILES.length); // one worker each

        for (const key of COMMON_KEYS) {
          await ns.put(key, me, { metadata: { writer: me } });
          expect(await ns.get(key)).toBe(me);
        }
        await ns.put(`only-${me}`, me);
        await barrier(`${backend}-wrote`, me, "");

        // Every file has written every key by now; each sees its own.
        const { keys } = await ns.list();
        expect(keys.map((k) => k.name)).toEqual([...COMMON_KEYS, `only-${me}`]);
        expect(keys.every((k) => k.name.startsWith("only-") || k.metadata.writer === me)).toBe(true);
        const values = await ns.get(COMMON_KEYS);
        expect([...values.values()]).toEqual(COMMON_KEYS.map(() => me));
        await barrier(`${backend}-checked`, me, "");
      }, BARRIER_TIMEOUT);
    });
  }
}

module.exports = { sharedStorageSuite };

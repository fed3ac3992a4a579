// Model-based tests through the public JavaScript API: fast-check generates
// sequences of puts (TTLs, expirations, metadata; strings, buffers, views,
// streams, numbers as values), deletes, gets of every type, bulk gets, lists
// with cursors, and clock moves (Date.now() mocked), runs them on every
// backend and on the reference model in helpers/model.mjs, and fails on the
// first difference (fast-check then shrinks the sequence).
//
// Sequences per backend: KV_JS_MODEL_RUNS (default 200; the long run in
// scripts/reliability.mjs uses more). KV_JS_MODEL_SEED repeats a run.
import { test } from "node:test";
import fc from "fast-check";
import { backends, clusterBackends } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";
import { KvModel, checkAll, mockClock, newRunState, operation, step } from "./helpers/model.mjs";

const RUNS = Number(process.env.KV_JS_MODEL_RUNS ?? 200);
const SEED = process.env.KV_JS_MODEL_SEED === undefined ? undefined : Number(process.env.KV_JS_MODEL_SEED);

for (const backend of [...backends, ...clusterBackends]) {
  test(`${backend.name}: ${RUNS} random operation sequences match the model`, { timeout: 600_000 + RUNS * 2_000 }, async (t) => {
    const kvPersist = await backend.persist();
    // Redis also expires by the real clock: start from real time, only move forward.
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const clock = mockClock(t);
    const mf = new Miniflare({ kvNamespaces: { NS: "model-0" }, kvPersist });
    let sequence = 0;
    let operations = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 25, size: "max" }), async (ops) => {
          // A namespace of its own for every sequence (and every shrink step).
          sequence += 1;
          await mf.setOptions({ kvNamespaces: { NS: `model-${sequence}` }, kvPersist });
          const ns = await mf.getKVNamespace("NS");
          const model = new KvModel();
          const state = newRunState();
          for (const [i, spec] of ops.entries()) {
            await step(ns, model, spec, clock, state, `step ${i} (${spec.op})`);
          }
          await checkAll(ns, model, clock);
          operations += ops.length;
        }),
        { numRuns: RUNS, seed: SEED, includeErrorInReport: true },
      );
    } finally {
      await mf.dispose();
    }
    // Read by scripts/reliability.mjs for the report.
    t.diagnostic(`JS MODEL ${backend.name}: ${sequence} sequences, ${operations} operations, 0 divergences`);
  });
}

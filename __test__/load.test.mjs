// Load: batches of 64–128 operations in flight at once on one namespace, on
// every backend, checked against the reference model; and Redis stopped and
// restarted under load.
//
// Concurrent answers are checked as linearizable: within a batch, writes go
// to distinct keys, so each read of a key may see it as before the batch or
// as after its write (nothing else), and a list may see each written key in
// either state. After every batch the whole namespace must equal the model.
//
// Runs per backend: KV_LOAD_RUNS (default 6, of 4 batches each).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { backends, redisUrl } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";
import { KvModel, byUtf8, checkAll, mockClock } from "./helpers/model.mjs";
import { startRedis } from "../scripts/redis-server.mjs";

const RUNS = Number(process.env.KV_LOAD_RUNS ?? 6);
const BATCHES_PER_RUN = 4;

const KEYS = Array.from({ length: 150 }, (_, i) => (i % 5 === 4 ? `é/${i}` : `k${String(i).padStart(3, "0")}`));
const key = fc.constantFrom(...KEYS);
const chunk = fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 64 });

const writeOp = fc.oneof(
  {
    arbitrary: fc.record({
      op: fc.constant("put"),
      key,
      // Streams drain over several ticks, so puts interleave with the rest.
      value: fc.oneof(fc.string({ maxLength: 40 }).map((text) => ({ text })), fc.array(chunk, { maxLength: 3 }).map((chunks) => ({ chunks }))),
      ttl: fc.option(fc.integer({ min: 60, max: 600 }), { nil: undefined }),
      metadata: fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
    }),
    weight: 3,
  },
  { arbitrary: fc.record({ op: fc.constant("delete"), key }), weight: 1 },
);
const readOp = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("get"), key }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("getWithMetadata"), key }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant("bulk"), keys: fc.uniqueArray(key, { minLength: 1, maxLength: 10 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("list"), prefix: fc.constantFrom("", "k0", "k1", "é/") }), weight: 1 },
);
const batch = fc.record({
  writes: fc.uniqueArray(writeOp, { selector: (w) => w.key, minLength: 32, maxLength: 64 }),
  reads: fc.array(readOp, { minLength: 32, maxLength: 64 }),
  // Between batches: sometimes far enough for TTL keys to expire.
  advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 700_000 })),
});

const utf8 = new TextEncoder();
const textOf = (entry) => (entry === null ? null : new TextDecoder("utf-8", { ignoreBOM: true }).decode(entry.bytes));
const metadataOf = (entry) => (entry?.metadataJson == null ? null : JSON.parse(entry.metadataJson));

function valueArg(value) {
  if (value.text !== undefined) return [value.text, utf8.encode(value.text)];
  const chunks = value.chunks.map((c) => Uint8Array.from(c));
  const stream = new ReadableStream({
    async pull(controller) {
      if (chunks.length === 0) return controller.close();
      await new Promise((resolve) => setImmediate(resolve));
      controller.enqueue(chunks.shift());
    },
  });
  return [stream, Uint8Array.from(value.chunks.flat())];
}

/** Runs one batch concurrently; checks each answer against the states before and after. */
async function runBatch(ns, model, spec, now) {
  const before = new KvModel();
  before.entries = new Map(model.entries);
  // Writes and reads start alternately, so they overlap in time.
  const order = [];
  for (let i = 0; i < Math.max(spec.writes.length, spec.reads.length); i++) {
    if (i < spec.writes.length) order.push(spec.writes[i]);
    if (i < spec.reads.length) order.push(spec.reads[i]);
  }
  const calls = order.map((op) => {
    switch (op.op) {
      case "put": {
        const [arg, bytes] = valueArg(op.value);
        const options = {};
        if (op.ttl !== undefined) options.expirationTtl = op.ttl;
        if (op.metadata !== undefined) options.metadata = op.metadata;
        assert.equal(model.put(op.key, bytes, options, now), undefined, "generated puts are valid");
        return [op, ns.put(op.key, arg, options)];
      }
      case "delete":
        model.delete(op.key);
        return [op, ns.delete(op.key)];
      case "get":
        return [op, ns.get(op.key)];
      case "getWithMetadata":
        return [op, ns.getWithMetadata(op.key)];
      case "bulk":
        return [op, ns.getWithMetadata(op.keys)];
      case "list":
        return [op, ns.list({ prefix: op.prefix })];
    }
    throw new Error(`unknown operation ${op.op}`);
  });
  const after = model;
  const written = new Set(spec.writes.map((w) => w.key));
  assert.ok(calls.length >= 64, "at least 64 operations in flight");
  const results = await Promise.all(calls.map(([, promise]) => promise));

  const states = (k) => {
    const pre = before.live(k, now);
    return written.has(k) ? [pre, after.live(k, now)] : [pre];
  };
  for (const [i, [op]] of calls.entries()) {
    const result = results[i];
    const where = `${op.op} ${JSON.stringify(op.key ?? op.keys ?? op.prefix)}`;
    switch (op.op) {
      case "put":
      case "delete":
        assert.equal(result, undefined, where);
        break;
      case "get":
        assert.ok(states(op.key).some((e) => textOf(e) === result), `${where}: ${JSON.stringify(result)}`);
        break;
      case "getWithMetadata": {
        const ok = states(op.key).some((e) =>
          e === null
            ? result.value === null && result.metadata === null
            : result.value === textOf(e) && JSON.stringify(result.metadata) === JSON.stringify(metadataOf(e)));
        assert.ok(ok, `${where}: ${JSON.stringify(result)}`);
        assert.equal(result.cacheStatus, null);
        break;
      }
      case "bulk":
        assert.deepEqual([...result.keys()], op.keys, `${where}: keys in input order`);
        for (const k of op.keys) {
          const got = result.get(k);
          const ok = states(k).some((e) =>
            e === null ? got === null : got !== null && got.value === textOf(e) && JSON.stringify(got.metadata) === JSON.stringify(metadataOf(e)));
          assert.ok(ok, `${where}: ${JSON.stringify(k)} → ${JSON.stringify(got)}`);
        }
        break;
      case "list": {
        const names = result.keys.map((k) => k.name);
        assert.deepEqual(names, [...names].sort(byUtf8), `${where}: UTF-8 order`);
        assert.equal(result.list_complete, true);
        for (const k of KEYS.filter((name) => name.startsWith(op.prefix))) {
          const listed = result.keys.find((entry) => entry.name === k) ?? null;
          const ok = states(k).some((e) =>
            e === null ? listed === null : listed !== null &&
              listed.expiration === (e.expiration ?? undefined) &&
              JSON.stringify(listed.metadata) === JSON.stringify(metadataOf(e) ?? undefined));
          assert.ok(ok, `${where}: ${JSON.stringify(k)} listed as ${JSON.stringify(listed)}`);
        }
        assert.ok(names.every((n) => KEYS.includes(n) && n.startsWith(op.prefix)), `${where}: only known keys`);
        break;
      }
    }
  }
  return calls.length;
}

for (const backend of backends) {
  test(`${backend.name}: ${RUNS}×${BATCHES_PER_RUN} batches of 64–128 concurrent operations on one namespace match the model`, { timeout: 600_000 }, async (t) => {
    const kvPersist = await backend.persist();
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() });
    const clock = mockClock(t);
    const mf = new Miniflare({ kvNamespaces: { NS: "load-0" }, kvPersist });
    let run = 0;
    let operations = 0;
    let batches = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(batch, { minLength: BATCHES_PER_RUN, maxLength: BATCHES_PER_RUN }), async (specs) => {
          run += 1;
          await mf.setOptions({ kvNamespaces: { NS: `load-${run}` }, kvPersist });
          const ns = await mf.getKVNamespace("NS");
          const model = new KvModel();
          for (const spec of specs) {
            operations += await runBatch(ns, model, spec, clock.now());
            batches += 1;
            await checkAll(ns, model, clock, "after the batch");
            clock.advance(spec.advance);
            await checkAll(ns, model, clock, "after the clock moved");
          }
        }),
        { numRuns: RUNS, includeErrorInReport: true },
      );
    } finally {
      await mf.dispose();
    }
    t.diagnostic(`LOAD ${backend.name}: ${batches} batches, ${operations} concurrent operations, 0 divergences`);
  });
}

/** `promise`'s outcome, or a failure if it has not settled within `ms` (a hang guard, not a speed check). */
function settledWithin(promise, ms, what) {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise.then((value) => ({ value }), (error) => ({ error })), guard]).finally(() => clearTimeout(timer));
}

if (redisUrl) {
  describe("redis: stopped and restarted under load", () => {
    test("64 workers keep calling; calls during the outage reject naming the URL; after the restart every call works", { timeout: 180_000 }, async (t) => {
      const redis = await startRedis();
      const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: redis.url });
      const WORKERS = 64;
      let phase = "up"; // up → down → restarted
      const tally = { up: { ok: 0, failed: [] }, down: { ok: 0, rejected: 0, failed: [] }, restarted: { ok: 0, failed: [] } };
      let stopWorkers = false;
      try {
        const ns = await mf.getKVNamespace("NS");
        // Each worker owns one key and knows what it last wrote there.
        const worker = async (w) => {
          const key = `worker/${w}/`; // no key is a prefix of another
          let written = null; // the value this worker knows is stored, or null
          let unsure = false; // a write whose outcome is unknown (Redis went away meanwhile)
          let resetAfterRestart = false;
          for (let i = 0; !stopWorkers; i++) {
            if (phase === "restarted" && !resetAfterRestart) {
              // The restarted server is empty, but a write queued during the
              // outage may have landed on it: start over from a known state.
              const outcome = await settledWithin(ns.delete(key), 15_000, "delete after the restart");
              if ("error" in outcome) tally.restarted.failed.push(`delete: ${outcome.error?.message}`);
              else tally.restarted.ok += 1;
              written = null;
              unsure = false;
              resetAfterRestart = true;
              continue;
            }
            const started = phase;
            const value = `${w}:${i}`;
            const op = i % 4;
            const call =
              op === 0 ? ns.put(key, value, { metadata: { w, i } })
              : op === 1 ? ns.getWithMetadata(key)
              : op === 2 ? ns.list({ prefix: key })
              : ns.get(key);
            const outcome = await settledWithin(call, 15_000, `${["put", "getWithMetadata", "list", "get"][op]} in phase ${started}`);
            const ended = phase;
            if ("error" in outcome) {
              const { error } = outcome;
              const namesUrl = error instanceof Error && error.constructor === Error && error.message.includes(redis.url);
              if ((started === "down" || ended === "down" || started !== ended) && namesUrl) {
                tally.down.rejected += 1;
                if (op === 0) unsure = true;
              } else {
                tally[ended].failed.push(`${error?.constructor?.name}: ${error?.message}`);
              }
              continue;
            }
            // Answers are checked while nothing is uncertain.
            if (started === ended && ended !== "down" && !unsure) {
              const { value: result } = outcome;
              const check = (cond, what) => {
                if (!cond) tally[ended].failed.push(`worker ${w} ${what}: ${JSON.stringify(result)}`);
              };
              if (op === 1) check(written === null ? result.value === null : result.value === written && result.metadata?.w === w, "getWithMetadata");
              if (op === 2) check(result.keys.length === (written === null ? 0 : 1), "list");
              if (op === 3) check(result === written, "get");
            }
            if (op === 0) {
              written = value;
              unsure = false;
            }
            tally[ended === "down" ? "down" : ended].ok += 1;
          }
        };
        const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
        const running = Array.from({ length: WORKERS }, (_, w) => worker(w));
        await settle(1500);
        phase = "down";
        await redis.stop();
        await settle(3000);
        await redis.restart(); // same port, empty (no persistence)
        phase = "restarted";
        await settle(2500);
        stopWorkers = true;
        await Promise.all(running);

        // Nothing but URL-naming rejections happened, and only around the outage.
        assert.deepEqual(tally.up.failed, [], "no failure before the stop");
        assert.deepEqual(tally.down.failed, [], "during the outage only errors naming the URL");
        assert.deepEqual(tally.restarted.failed, [], "no failure after the restart");
        assert.ok(tally.up.ok > WORKERS, `calls succeeded before the stop (${tally.up.ok})`);
        assert.ok(tally.down.rejected > 0, "calls were rejected while Redis was down");
        assert.ok(tally.restarted.ok > WORKERS, `calls succeeded after the restart (${tally.restarted.ok})`);
        // The process and the namespace still work.
        await ns.put("after", "fine");
        assert.equal(await ns.get("after"), "fine");
        t.diagnostic(
          `REDIS RESTART: ${WORKERS} workers; ${tally.up.ok} calls before the stop, ${tally.down.rejected} rejected (naming the URL) ` +
            `and ${tally.down.ok} answered during the outage, ${tally.restarted.ok} after the restart, 0 other failures`,
        );
      } finally {
        stopWorkers = true;
        await mf.dispose();
        await redis.cleanup();
      }
    });
  });
}

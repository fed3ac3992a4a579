// Crash safety (contract §4: "a crash leaves the old or the new value, never
// a torn one or a value without its metadata"). A child process writes
// self-describing values to several keys concurrently and reports each
// acknowledged put; we SIGKILL it at a random moment, reopen the storage
// and check:
//   - every acknowledged write is there, or a later write of the same key;
//   - no value is torn (its JSON parses and its padding has the length it claims);
//   - metadata and expiration belong to the value they are stored with;
//   - list returns exactly the keys written (no temporary files, no strays).
// The same storage is reused across trials, so recovery after a crash is
// itself crashed into. Trials per backend: KV_CRASH_TRIALS (default 10;
// the long run is KV_CRASH_TRIALS=100).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomInt } from "node:crypto";
import { backends, clusterBackends } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";
import { CRASH_WRITER } from "./helpers/processes.mjs";

const TRIALS = Number(process.env.KV_CRASH_TRIALS ?? 10);
const SEQS_PER_TRIAL = 1_000_000_000; // seqBase steps: every trial's seqs exceed the previous ones
// Hostile-ish names: nesting (a, a/b), a meta-file look-alike (x, x.meta.json),
// characters Miniflare 2 sanitised, non-ASCII.
const KEYS = ["plain", "a", "a/b", "x", "x.meta.json", "q?x:y", "CON", "ü😀", "...", "sp ace "];

const byUtf8 = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b));

/** Runs one writer until it has acknowledged `killAfterAcks` puts, then SIGKILLs it.
 * Resolves the acknowledged writes as [keyIndex, seq] pairs. */
function crashOneWriter(persist, seqBase, killAfterAcks) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CRASH_WRITER, JSON.stringify({ persist, binding: "NS", keys: KEYS, seqBase })], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let pending = "";
    let stderr = "";
    const acks = [];
    let killing = false;
    const kill = () => {
      if (killing) return;
      killing = true;
      // A random moment: right now, or after a few more writes.
      const delay = randomInt(0, 4);
      if (delay === 0) child.kill("SIGKILL");
      else setTimeout(() => child.kill("SIGKILL"), delay - 1);
    };
    const guard = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`writer made only ${acks.length} acks in 60 s:\n${stderr}`));
    }, 60_000);
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      pending += chunk;
      const lines = pending.split("\n");
      pending = lines.pop(); // an incomplete last line is not an ack
      for (const line of lines) {
        if (line === "ready") continue;
        const [index, seq] = line.split(" ").map(Number);
        acks.push([index, seq]);
      }
      if (acks.length >= killAfterAcks) kill();
    });
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      if (signal !== "SIGKILL") {
        reject(new Error(`writer exited by itself (code ${code}, signal ${signal}) after ${acks.length} acks:\n${stderr}`));
      } else {
        resolve(acks);
      }
    });
  });
}

/** Reopens the storage and checks every invariant against the acknowledged writes. */
async function verify(persist, ackedSeq, trial) {
  const where = `trial ${trial}`;
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
  try {
    const ns = await mf.getKVNamespace("NS");
    const listed = [];
    let cursor;
    do {
      const page = await ns.list({ limit: 3, cursor });
      listed.push(...page.keys);
      cursor = page.list_complete ? undefined : page.cursor;
    } while (cursor !== undefined);
    const names = listed.map((k) => k.name);
    assert.deepEqual(names, [...new Set(names)].sort(byUtf8), `${where}: list is sorted and has no duplicates`);
    for (const name of names) assert.ok(KEYS.includes(name), `${where}: list shows a key nobody wrote: ${JSON.stringify(name)}`);
    for (const key of ackedSeq.keys()) assert.ok(names.includes(key), `${where}: acknowledged key ${JSON.stringify(key)} is not listed`);
    assert.deepEqual((await ns.list()).keys.map((k) => k.name), names, `${where}: one page lists the same keys`);

    for (const key of KEYS) {
      const { value, metadata } = await ns.getWithMetadata(key);
      if (value === null) {
        assert.ok(!ackedSeq.has(key), `${where}: acknowledged key ${JSON.stringify(key)} (seq ${ackedSeq.get(key)}) is missing`);
        assert.ok(!names.includes(key), `${where}: ${JSON.stringify(key)} is listed but reads as missing`);
        continue;
      }
      let parsed;
      try {
        parsed = JSON.parse(value);
      } catch {
        assert.fail(`${where}: torn value for ${JSON.stringify(key)} (${value.length} chars): ${value.slice(0, 80)}…${value.slice(-80)}`);
      }
      assert.equal(parsed.key, key, `${where}: ${JSON.stringify(key)} holds another key's value`);
      assert.equal(parsed.pad.length, parsed.len, `${where}: ${JSON.stringify(key)} padding length`);
      assert.ok(
        parsed.seq >= (ackedSeq.get(key) ?? 0),
        `${where}: ${JSON.stringify(key)} went back to seq ${parsed.seq} after seq ${ackedSeq.get(key)} was acknowledged`,
      );
      const expectedMetadata = parsed.meta ? { seq: parsed.seq } : null;
      assert.deepEqual(metadata, expectedMetadata, `${where}: metadata of ${JSON.stringify(key)} (value seq ${parsed.seq})`);
      const entry = listed.find((k) => k.name === key);
      assert.deepEqual(
        entry,
        {
          name: key,
          ...(parsed.exp !== null && { expiration: parsed.exp }),
          ...(parsed.meta && { metadata: { seq: parsed.seq } }),
        },
        `${where}: list entry of ${JSON.stringify(key)} (value seq ${parsed.seq})`,
      );
      assert.equal(await ns.get(key), value, `${where}: get and getWithMetadata agree on ${JSON.stringify(key)}`);
    }
  } finally {
    await mf.dispose();
  }
}

const targets = [...backends, ...clusterBackends].filter((b) => b.name !== "memory");
for (const backend of targets) {
  test(`${backend.name}: ${TRIALS} writers SIGKILLed mid-write lose no acknowledged write and tear nothing`, { timeout: 60_000 + TRIALS * 30_000 }, async (t) => {
    const persist = await backend.persist();
    const ackedSeq = new Map(); // key → highest acknowledged seq, over all trials
    let totalAcks = 0;
    for (let trial = 1; trial <= TRIALS; trial++) {
      const killAfterAcks = randomInt(1, 400);
      const acks = await crashOneWriter(persist, trial * SEQS_PER_TRIAL, killAfterAcks);
      assert.ok(acks.length >= killAfterAcks, `trial ${trial}: killed before the chosen ack count`);
      totalAcks += acks.length;
      for (const [index, seq] of acks) {
        const key = KEYS[index];
        if (!(ackedSeq.get(key) >= seq)) ackedSeq.set(key, seq);
      }
      await verify(persist, ackedSeq, trial);
    }
    t.diagnostic(`${backend.name}: ${TRIALS} trials, ${totalAcks} acknowledged writes`);
  });
}

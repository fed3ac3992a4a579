// Redis Cluster: a URL naming any node (or several seeds) stores the data
// across the cluster, one namespace per hash slot. Runs on the cluster that
// scripts/test.mjs starts (KV_TEST_REDIS_CLUSTER_URL); the failover test
// starts a cluster of its own, since it stops one of its masters.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import net from "node:net";
import { promisify } from "node:util";
import { startRedisCluster } from "../scripts/redis-cluster.mjs";
import { flushCluster, redisClusterUrl } from "./helpers/backends.mjs";
import { Miniflare } from "./helpers/kv.mjs";

/** Every key of the node on `port` (SCAN of that node only). */
function nodeKeys(port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1", () => sock.write("KEYS *\r\n"));
    let reply = "";
    sock.on("data", (d) => {
      reply += d;
      const lines = reply.split("\r\n");
      const count = Number(lines[0].slice(1));
      if (lines.length >= 2 * count + 2) {
        sock.end();
        resolve(lines.slice(1, 1 + 2 * count).filter((_, i) => i % 2 === 1));
      }
    });
    sock.on("error", reject);
  });
}

/** One redis-cli command against the node on `port`; resolves its output lines. */
async function cli(port, ...args) {
  const { stdout } = await promisify(execFile)("redis-cli", ["-p", String(port), ...args], { encoding: "utf8" });
  return stdout.split("\n").filter(Boolean);
}

/** `CLUSTER NODES` of the node on `port`: [{ id, port, master }] of every live node. */
async function clusterNodes(port) {
  const { stdout } = await promisify(execFile)("redis-cli", ["-p", String(port), "CLUSTER", "NODES"], { encoding: "utf8" });
  return stdout.split("\n").filter(Boolean).map((line) => {
    const [id, address, flags] = line.split(" ");
    return { id, port: Number(address.split(":")[1].split("@")[0]), master: flags.includes("master"), line };
  });
}

/**
 * Moves `slot` from its master to another one by Redis' own protocol
 * (IMPORTING/MIGRATING, then MIGRATE in batches of `batch` keys with a
 * pause in between, then SETSLOT NODE on every master), calling
 * `onPhase("migrating")` once keys start moving and `onPhase("moved")`
 * when the new owner is announced.
 */
async function migrateSlot(anyPort, slot, { batch = 20, pauseMs = 15, onPhase = () => {} } = {}) {
  const nodes = await clusterNodes(anyPort);
  const masters = nodes.filter((n) => n.master);
  const owner = masters.find((n) => n.line.split(" ").slice(8).some((range) => {
    const [from, to = from] = range.split("-").map(Number);
    return slot >= from && slot <= to;
  }));
  const target = masters.find((n) => n !== owner);
  await cli(target.port, "CLUSTER", "SETSLOT", String(slot), "IMPORTING", owner.id);
  await cli(owner.port, "CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id);
  onPhase("migrating");
  for (;;) {
    const keys = await cli(owner.port, "CLUSTER", "GETKEYSINSLOT", String(slot), String(batch));
    if (keys.length === 0) break;
    await cli(owner.port, "MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "REPLACE", "KEYS", ...keys);
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  for (const master of masters) await cli(master.port, "CLUSTER", "SETSLOT", String(slot), "NODE", target.id);
  onPhase("moved");
  return { from: owner.port, to: target.port };
}

const ports = (process.env.KV_TEST_REDIS_CLUSTER_NODES ?? "").split(",").filter(Boolean).map(Number);

if (redisClusterUrl) {
  describe("redis cluster", { concurrency: 1 }, () => {
    test("the API works, and each namespace's keys carry its hash tag, namespaces spread over the masters", async () => {
      const url = await flushCluster();
      const names = Array.from({ length: 12 }, (_, i) => `NS${i}`);
      const mf = new Miniflare({ kvNamespaces: names, kvPersist: url });
      try {
        for (const name of names) {
          const ns = await mf.getKVNamespace(name);
          await ns.put("a", `value of ${name}`, { metadata: { name } });
          await ns.put("b", new Uint8Array([1, 2, 3]), { expirationTtl: 3600 });
        }
        const ns = await mf.getKVNamespace("NS0");
        assert.equal(await ns.get("a"), "value of NS0");
        assert.deepEqual(await ns.getWithMetadata("a"), { value: "value of NS0", metadata: { name: "NS0" }, cacheStatus: null });
        assert.deepEqual([...new Uint8Array(await ns.get("b", "arrayBuffer"))], [1, 2, 3]);
        const bulk = await ns.get(["a", "b", "missing"]);
        assert.deepEqual([...bulk.keys()], ["a", "b", "missing"]);
        assert.equal(bulk.get("a"), "value of NS0");
        assert.equal(bulk.get("missing"), null);
        await ns.delete("a");
        assert.equal(await ns.get("a"), null);

        const holders = new Set();
        for (const port of ports) {
          const keys = await nodeKeys(port).catch(() => []);
          for (const key of keys) {
            assert.match(key, /^\{NS\d+\}:(value|meta|index)(:|$)|^miniflare-kv:/, `hash-tagged key ${key}`);
            holders.add(port);
          }
        }
        assert.ok(holders.size >= 2, `namespaces on more than one node (keys on ${[...holders].join(", ")})`);
      } finally {
        await mf.dispose();
      }
    });

    test("list order, prefixes and cursors across pages; seed-list URLs reach the same data", async () => {
      const url = await flushCluster();
      const mf = new Miniflare({ kvNamespaces: ["LIST"], kvPersist: url });
      const seeds = `redis://${ports.slice(0, 3).map((p) => `127.0.0.1:${p}`).join(",")}`;
      const other = new Miniflare({ kvNamespaces: ["LIST"], kvPersist: seeds });
      try {
        const ns = await mf.getKVNamespace("LIST");
        const keys = Array.from({ length: 250 }, (_, i) => `k/${String(i).padStart(3, "0")}`).concat(["a", "é", "z"]);
        await Promise.all(keys.map((key) => ns.put(key, key)));
        const sorted = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        const seen = [];
        let cursor;
        do {
          const page = await ns.list({ limit: 40, cursor });
          seen.push(...page.keys.map((k) => k.name));
          cursor = page.list_complete ? undefined : page.cursor;
        } while (cursor);
        assert.deepEqual(seen, sorted);
        assert.equal((await ns.list({ prefix: "k/1" })).keys.length, 100);
        const viaSeeds = await other.getKVNamespace("LIST");
        assert.equal(await viaSeeds.get("é"), "é");
        assert.equal((await viaSeeds.list({ prefix: "k/" })).keys.length, 250);
      } finally {
        await mf.dispose();
        await other.dispose();
      }
    });

    test("resharding: calls during a slot migration succeed (MOVED and ASK are followed), and no write is lost", { timeout: 60_000 }, async () => {
      const url = await flushCluster();
      const mf = new Miniflare({ kvNamespaces: ["MOVING", "STILL"], kvPersist: url });
      try {
        const ns = await mf.getKVNamespace("MOVING");
        const still = await mf.getKVNamespace("STILL");
        await still.put("s", "unmoved");
        // Enough keys that the migration takes many batches.
        const written = new Map();
        for (let i = 0; i < 300; i++) written.set(`w${String(i).padStart(4, "0")}`, `initial ${i}`);
        await Promise.all([...written].map(([key, value]) => ns.put(key, value)));
        const [slot] = await cli(ports[0], "CLUSTER", "KEYSLOT", "{MOVING}");

        let phase = "before"; // → "migrating" → "moved"
        const failures = [];
        let overlapping = 0;
        let calls = 0;
        const migration = migrateSlot(ports[0], Number(slot), { onPhase: (p) => (phase = p) });
        let finished = false;
        migration.finally(() => (finished = true));
        // Four workers: writes of new and existing keys, reads, deletes of
        // other keys, list pages and bulk reads, until the slot has moved.
        let n = 0;
        const worker = async () => {
          while (!finished) {
            const i = n++;
            const startedIn = phase;
            const key = `w${String(i % 400).padStart(4, "0")}`;
            try {
              switch (i % 6) {
                case 0:
                  await ns.put(key, `v${i}`, { metadata: { i } });
                  written.set(key, `v${i}`);
                  break;
                case 1:
                  await ns.get(key);
                  break;
                case 2:
                  await ns.put(`k${i}`, "temporary");
                  await ns.delete(`k${i}`);
                  break;
                case 3:
                  await ns.list({ prefix: "w", limit: 50 });
                  break;
                case 4:
                  await ns.get([key, "w0001", "missing"]);
                  break;
                default:
                  await ns.getWithMetadata(key);
              }
            } catch (error) {
              failures.push(`${i % 6}: ${error.message}`);
            }
            calls += 1;
            if (startedIn !== "moved" && phase !== "before") overlapping += 1;
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        const moved = await migration;
        assert.deepEqual(failures, [], "no call failed during the migration");
        // A call that meets a migrating slot waits until the keys have moved,
        // so each worker has a call or more in flight across the migration.
        assert.ok(overlapping >= 4, `calls overlapped the migration (${overlapping} of ${calls})`);
        assert.ok((await nodeKeys(moved.to)).some((k) => k.startsWith("{MOVING}:")), "the namespace's keys are on the new master");
        // Every key written is there, with its last value, and list shows exactly those.
        for (const [key, value] of written) assert.equal(await ns.get(key), value, key);
        const listed = [];
        let cursor;
        do {
          const page = await ns.list({ prefix: "w", cursor });
          listed.push(...page.keys.map((k) => k.name));
          cursor = page.list_complete ? undefined : page.cursor;
        } while (cursor);
        assert.deepEqual(listed, [...written.keys()].sort());
        assert.equal(await still.get("s"), "unmoved");
      } finally {
        await mf.dispose();
      }
    });

    test("pushStorage/popStorage restore a namespace exactly", async () => {
      const url = await flushCluster();
      const mf = new Miniflare({ kvNamespaces: ["SNAP"], kvPersist: url });
      try {
        const ns = await mf.getKVNamespace("SNAP");
        await ns.put("kept", "old", { metadata: { v: 1 } });
        await ns.put("removed", "x");
        await mf.pushStorage();
        await ns.put("kept", "new");
        await ns.delete("removed");
        await ns.put("added", "y");
        await mf.popStorage();
        assert.deepEqual(await ns.getWithMetadata("kept"), { value: "old", metadata: { v: 1 }, cacheStatus: null });
        assert.equal(await ns.get("removed"), "x");
        assert.equal(await ns.get("added"), null);
        assert.deepEqual((await ns.list()).keys.map((k) => k.name), ["kept", "removed"]);
      } finally {
        await mf.dispose();
      }
    });
  });
}

// Its own cluster: stopping a master must not disturb the other tests.
describe("redis cluster failover", () => {
  test("a master stopped: calls reject naming the URL (never MOVED or a hang) until a replica takes over, then succeed", { timeout: 120_000, skip: !redisClusterUrl && "no cluster (KV_TEST_REDIS_CLUSTER_URL)" }, async () => {
    const cluster = await startRedisCluster();
    const mf = new Miniflare({ kvNamespaces: Array.from({ length: 9 }, (_, i) => `F${i}`), kvPersist: cluster.url });
    try {
      const namespaces = [];
      for (let i = 0; i < 9; i++) {
        const ns = await mf.getKVNamespace(`F${i}`);
        await ns.put("k", `v${i}`);
        namespaces.push(ns);
      }
      // Stop a master other than the node the URL names.
      const victim = (await cluster.masters()).find((port) => port !== cluster.ports[0]);
      await cluster.stopNode(victim);

      const outcomes = { ok: 0, rejected: 0 };
      const deadline = Date.now() + 30_000;
      let recovered = false;
      while (Date.now() < deadline && !recovered) {
        const started = Date.now();
        const results = await Promise.allSettled(namespaces.map((ns, i) => ns.get("k").then((v) => assert.equal(v, `v${i}`))));
        assert.ok(Date.now() - started < 10_000, "a round of calls settles (no call hangs)");
        for (const result of results) {
          if (result.status === "fulfilled") {
            outcomes.ok += 1;
            continue;
          }
          outcomes.rejected += 1;
          const { reason } = result;
          assert.ok(reason instanceof Error && reason.message.includes(cluster.url), `names the URL: ${reason?.message}`);
          assert.doesNotMatch(reason.message, /\bMOVED\b|\bASK\b/, "redirections are followed, not surfaced");
        }
        recovered = results.every((r) => r.status === "fulfilled");
        if (!recovered) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(recovered, `every namespace answers again after the failover (${JSON.stringify(outcomes)})`);
      assert.ok(outcomes.rejected > 0, "calls to the stopped master's slots were rejected during the failover");
      // Writes work again too, on every namespace.
      for (const [i, ns] of namespaces.entries()) {
        await ns.put("after", `a${i}`);
        assert.equal(await ns.get("after"), `a${i}`);
      }
    } finally {
      await mf.dispose();
      await cluster.cleanup();
    }
  });
});

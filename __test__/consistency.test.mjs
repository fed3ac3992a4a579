// Eventual consistency (issue 17): kvConsistency "eventual" gives every
// location its own cache, as production KV does; the default stays strongly
// consistent. Time is moved with node:test's fake Date (KV time is Date.now()),
// on memory, directory, sled and (with KV_TEST_REDIS_URL) Redis.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, mock, test } from "node:test";
import { createRequire } from "node:module";
import { backends, tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare } = require("../index.js");
const here = path.dirname(fileURLToPath(import.meta.url));

const T0 = 1_800_000_000_000; // a fixed "now" (ms), so expirations are exact
/** Fakes Date at T0; `at(s)` moves it to T0 + s seconds. */
function clock() {
  mock.timers.enable({ apis: ["Date"], now: T0 });
  return { at: (seconds) => mock.timers.setTime(T0 + seconds * 1000) };
}
afterEach(() => mock.timers.reset());

const opened = [];
afterEach(async () => {
  for (const mf of opened.splice(0)) await mf.dispose();
});
async function eventual(backend, options = {}) {
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: await backend.persist(), kvConsistency: "eventual", ...options });
  opened.push(mf);
  const ams = await mf.getKVNamespace("NS", { location: "ams" });
  const lhr = await mf.getKVNamespace("NS", { location: "LHR" });
  return { mf, ams, lhr };
}

for (const backend of backends) {
  describe(`eventual consistency on ${backend.name}`, () => {
    test("another location reads its cached value until its cacheTtl (default 60 s) passes; the writer reads its own write", async () => {
      const { at } = clock();
      const { ams, lhr } = await eventual(backend);
      await ams.put("k", "v1");
      assert.equal(await lhr.get("k"), "v1"); // cached at LHR until 60 s
      at(1);
      await ams.put("k", "v2");
      assert.equal(await ams.get("k"), "v2", "the writer's location sees its write at once");
      at(59.999);
      assert.equal(await lhr.get("k"), "v1", "stale until LHR's cached copy expires");
      assert.equal(await lhr.get("k", "json").catch(() => "not json"), "not json", "the json type reads the same cached v1");
      at(60);
      assert.equal(await lhr.get("k"), "v2");
    });

    test("not found is cached too (negative caching)", async () => {
      const { at } = clock();
      const { ams, lhr } = await eventual(backend);
      assert.equal(await lhr.get("k"), null);
      await ams.put("k", "v");
      assert.equal(await ams.get("k"), "v");
      at(59);
      assert.equal(await lhr.get("k"), null, "LHR keeps its cached 'not found'");
      at(60);
      assert.equal(await lhr.get("k"), "v");
    });

    test("cacheTtl 30, 60 and 300 set how long a location keeps an answer; below 30 is still an error", async () => {
      for (const ttl of [30, 60, 300]) {
        const { at } = clock();
        const { ams, lhr } = await eventual(backend);
        await ams.put("k", "old");
        assert.equal(await lhr.get("k", { cacheTtl: ttl }), "old");
        await ams.put("k", "new");
        at(ttl - 0.001);
        assert.equal(await lhr.get("k", { cacheTtl: ttl }), "old", `cacheTtl ${ttl}: still cached`);
        at(ttl);
        assert.equal(await lhr.get("k", { cacheTtl: ttl }), "new", `cacheTtl ${ttl}: expired`);
        mock.timers.reset();
      }
      const { lhr } = await eventual(backend);
      await assert.rejects(lhr.get("k", { cacheTtl: 29 }), {
        name: "Error",
        message: "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30.",
      });
    });

    test("a delete caches 'not found' at the deleting location; elsewhere the value stays until expiry", async () => {
      const { at } = clock();
      const { mf, ams, lhr } = await eventual(backend);
      await ams.put("k", "v");
      assert.equal(await lhr.get("k"), "v");
      await ams.delete("k");
      assert.equal(await ams.get("k"), null);
      assert.deepEqual(await ams.getWithMetadata("k"), { value: null, metadata: null, cacheStatus: null });
      const sin = await mf.getKVNamespace("NS", { location: "SIN" });
      await sin.put("k", "back"); // a write elsewhere reaches AMS when its "not found" expires
      at(59.999);
      assert.equal(await ams.get("k"), null);
      assert.equal(await lhr.get("k"), "v");
      at(60);
      assert.equal(await ams.get("k"), "back");
      assert.equal(await lhr.get("k"), "back");
    });

    test("getWithMetadata and bulk get follow the rule key by key, sharing answers with get", async () => {
      const { at } = clock();
      const { ams, lhr } = await eventual(backend);
      await ams.put("a", "a1", { metadata: { v: 1 } });
      assert.deepEqual(await lhr.getWithMetadata("a", "text"), { value: "a1", metadata: { v: 1 }, cacheStatus: null });
      at(30);
      await ams.put("a", "a2", { metadata: { v: 2 } });
      await ams.put("b", "b1");
      at(40);
      assert.deepEqual(await lhr.get(["a", "b", "c"]), new Map([["a", "a1"], ["b", "b1"], ["c", null]]));
      await ams.put("c", "c1");
      at(60); // a's answer (from 0 s) expired; b and c were cached at 40 s
      assert.deepEqual(
        await lhr.getWithMetadata(["a", "b", "c"]),
        new Map([["a", { value: "a2", metadata: { v: 2 } }], ["b", { value: "b1", metadata: null }], ["c", null]]),
      );
      assert.equal(await lhr.get("c"), null, "get sees the bulk read's cached miss");
      at(100);
      assert.deepEqual(await lhr.get(["c"]), new Map([["c", "c1"]]));
    });

    test("list pages are cached per location and request for 60 s; writes leave cached pages alone", async () => {
      const { at } = clock();
      const { mf, ams, lhr } = await eventual(backend);
      const names = async (ns, options) => (await ns.list(options)).keys.map((k) => k.name);
      await ams.put("user:1", "x");
      assert.deepEqual(await names(lhr, { prefix: "user:" }), ["user:1"]);
      assert.deepEqual(await names(ams, { prefix: "user:" }), ["user:1"]);
      at(1);
      await ams.put("user:2", "x");
      at(59.999);
      assert.deepEqual(await names(lhr, { prefix: "user:" }), ["user:1"]);
      assert.deepEqual(await names(ams, { prefix: "user:" }), ["user:1"], "the writer's cached page too");
      assert.equal(await ams.get("user:2"), "x", "while its own get sees the write");
      // Another prefix, limit or location has no cached page: it lists the store.
      assert.deepEqual(await names(ams, { prefix: "user" }), ["user:1", "user:2"]);
      assert.deepEqual(await names(ams, { prefix: "user:", limit: 5 }), ["user:1", "user:2"]);
      const sin = await mf.getKVNamespace("NS", { location: "sin" });
      assert.deepEqual(await names(sin, { prefix: "user:" }), ["user:1", "user:2"]);
      at(60);
      assert.deepEqual(await names(lhr, { prefix: "user:" }), ["user:1", "user:2"]);
      // Paging: a cursor is a request of its own.
      const first = await lhr.list({ limit: 1 });
      assert.equal(first.list_complete, false);
      await ams.put("user:0", "x");
      assert.deepEqual((await lhr.list({ limit: 1 })).keys.map((k) => k.name), ["user:1"], "cached first page");
      assert.deepEqual(await names(lhr, { limit: 1, cursor: first.cursor }), ["user:2"]);
    });

    test("expiry still applies to cached values and cached list pages", async () => {
      const { at } = clock();
      const { ams, lhr } = await eventual(backend);
      await ams.put("k", "v", { expirationTtl: 120 });
      await ams.put("keep", "v");
      assert.equal(await lhr.get("k", { cacheTtl: 300 }), "v");
      at(100);
      assert.deepEqual((await lhr.list()).keys.map((k) => k.name), ["keep", "k"].sort());
      at(119.999);
      assert.equal(await lhr.get("k", { cacheTtl: 300 }), "v");
      at(120);
      assert.equal(await lhr.get("k", { cacheTtl: 300 }), null, "cached at LHR, but expired");
      assert.equal(await ams.get("k"), null, "the writer's cached copy expires too");
      assert.deepEqual((await lhr.list()).keys.map((k) => k.name), ["keep"], "left out of the cached page");
    });

    test("settleKv() drops every location's cache; pushStorage/popStorage start settled", async () => {
      clock();
      const { mf, ams, lhr } = await eventual(backend);
      await ams.put("k", "v1");
      assert.equal(await lhr.get("k"), "v1");
      assert.equal(await lhr.get("missing"), null);
      await ams.put("k", "v2");
      await ams.put("missing", "here");
      assert.equal(await lhr.get("k"), "v1");
      await mf.settleKv();
      assert.equal(await lhr.get("k"), "v2");
      assert.equal(await lhr.get("missing"), "here");

      await mf.pushStorage();
      assert.equal(await ams.get("k"), "v2"); // cached at AMS
      await lhr.delete("k"); // LHR caches "not found"
      assert.equal(await ams.get("k"), "v2", "AMS still has v2 cached");
      assert.equal(await lhr.get("k"), null);
      await mf.popStorage(); // k is v2 again in storage, and no cache remembers the delete
      assert.equal(await lhr.get("k"), "v2");
      await ams.put("k", "v3");
      assert.equal(await lhr.get("k"), "v2");
      await mf.pushStorage();
      assert.equal(await lhr.get("k"), "v3", "push settles too");
      await mf.popStorage();
    });
  });
}

describe("eventual consistency: Workers in two colos via dispatchFetch", () => {
  const WORKER = `export default {
    async fetch(request, env, ctx) {
      const url = new URL(request.url);
      if (url.pathname === "/write") {
        await env.NS.put("greeting", url.searchParams.get("v"));
        return new Response("written at " + request.cf.colo);
      }
      if (url.pathname === "/later") {
        // work after the response still runs in the request's location
        ctx.waitUntil(env.NS.get("greeting").then((v) => env.NS.put("seen-later", String(v))));
        return new Response("ok");
      }
      return new Response(String(await env.NS.get("greeting")) + " at " + (request.cf?.colo ?? "no colo"));
    },
  };`;

  for (const backend of backends.filter((b) => b.name === "memory" || b.name === "redis")) {
    test(`a module Worker's request runs in cf.colo's location (${backend.name})`, async () => {
      const { at } = clock();
      const { mf } = await eventual(backend, { modules: true, script: WORKER });
      const get = async (pathname, colo) =>
        (await mf.dispatchFetch(`http://localhost${pathname}`, colo ? { cf: { colo } } : undefined)).text();
      assert.equal(await get("/write?v=hello", "AMS"), "written at AMS");
      assert.equal(await get("/", "LHR"), "hello at LHR"); // LHR caches "hello"
      at(10);
      assert.equal(await get("/write?v=bye", "AMS"), "written at AMS");
      assert.equal(await get("/", "AMS"), "bye at AMS", "the writing colo reads its own write");
      assert.equal(await get("/", "lhr"), "hello at lhr", "the other colo (any case) reads its cached copy");
      assert.equal(await get("/", undefined), "bye at no colo", "no cf.colo: the default location, which had nothing cached");
      // The test's namespace objects: the binding's own runs at the default location, { location } at that one.
      assert.equal(await (await mf.getKVNamespace("NS")).get("greeting"), "bye");
      assert.equal(await (await mf.getKVNamespace("NS", { location: "LHR" })).get("greeting"), "hello");
      at(60);
      assert.equal(await get("/", "LHR"), "bye at LHR");

      // ctx.waitUntil() work runs in the request's location too.
      at(70);
      await get("/write?v=third", "AMS");
      const res = await mf.dispatchFetch("http://localhost/later", { cf: { colo: "LHR" } });
      await res.waitUntil();
      assert.equal(await (await mf.getKVNamespace("NS", { location: "LHR" })).get("seen-later"), "bye");
    });
  }

  test("a service-worker script's global bindings follow the request's colo; a Request's own cf counts", async () => {
    clock();
    const { mf, ams } = await eventual(backends[0], {
      script: `addEventListener("fetch", (event) => event.respondWith(NS.get("k").then((v) => new Response(String(v)))));`,
    });
    assert.equal(await (await mf.dispatchFetch("http://localhost/", { cf: { colo: "LHR" } })).text(), "null");
    await ams.put("k", "v");
    assert.equal(await (await mf.dispatchFetch("http://localhost/", { cf: { colo: "AMS" } })).text(), "v");
    assert.equal(await (await mf.dispatchFetch("http://localhost/", { cf: { colo: "LHR" } })).text(), "null");
    const request = new Request("http://localhost/");
    request.cf = { colo: "AMS" };
    assert.equal(await (await mf.dispatchFetch(request)).text(), "v");
    await assert.rejects(mf.dispatchFetch("http://localhost/", { cf: { colo: 7 } }), {
      name: "TypeError",
      message: /cf\.colo must be a location name/,
    });
  });
});

describe("strong consistency stays the default", () => {
  for (const backend of backends.filter((b) => b.name === "memory" || b.name === "directory")) {
    test(`without kvConsistency every location sees every write at once (${backend.name})`, async () => {
      const mf = new Miniflare({
        kvNamespaces: ["NS"],
        kvPersist: await backend.persist(),
        modules: true,
        script: `export default { async fetch(request, env) { return new Response(String(await env.NS.get("k")) + " " + request.cf?.colo); } }`,
      });
      opened.push(mf);
      const ams = await mf.getKVNamespace("NS", { location: "AMS" });
      const lhr = await mf.getKVNamespace("NS", { location: "LHR" });
      assert.equal(await lhr.get("k", { cacheTtl: 300 }), null);
      await ams.put("k", "v1");
      assert.equal(await lhr.get("k", { cacheTtl: 300 }), "v1");
      assert.deepEqual((await lhr.list()).keys.map((k) => k.name), ["k"]);
      await ams.put("k", "v2");
      await ams.put("k2", "x");
      assert.equal(await lhr.get("k"), "v2");
      assert.deepEqual((await lhr.list()).keys.map((k) => k.name), ["k", "k2"]);
      assert.equal(await (await mf.dispatchFetch("http://x/", { cf: { colo: "SIN" } })).text(), "v2 SIN", "request.cf is set");
      await mf.settleKv(); // nothing to settle: resolves
      await assert.rejects(lhr.get("k", { cacheTtl: 29 }), { message: /Invalid cache_ttl of 29/ });
    });
  }

  test('kvConsistency: "strong" is the same; setOptions switches modes (caches start cold)', async () => {
    clock();
    const mf = new Miniflare({ kvNamespaces: ["NS"], kvConsistency: "strong" });
    opened.push(mf);
    const ams = await mf.getKVNamespace("NS", { location: "AMS" });
    const lhr = await mf.getKVNamespace("NS", { location: "LHR" });
    await mf.setOptions({ kvNamespaces: ["NS"], kvConsistency: "eventual" });
    await ams.put("k", "v1");
    assert.equal(await lhr.get("k"), "v1");
    await ams.put("k", "v2");
    assert.equal(await lhr.get("k"), "v1", "the objects obtained before follow the new mode");
    await mf.setOptions({ kvNamespaces: ["NS"], kvConsistency: "eventual", bindings: { X: 1 } });
    assert.equal(await lhr.get("k"), "v1", "unchanged store and mode: caches kept, as in-memory data is");
    await mf.setOptions({ kvNamespaces: ["NS"] });
    assert.equal(await lhr.get("k"), "v2", "back to strong");
    await mf.setOptions({ kvNamespaces: ["NS"], kvConsistency: "eventual" });
    assert.equal(await lhr.get("k"), "v2", "eventual again: cold caches");
  });
});

describe("options", () => {
  test("kvConsistency and location names are checked", async () => {
    assert.throws(() => new Miniflare({ kvConsistency: "eventaul" }), {
      name: "TypeError",
      message: 'kvConsistency must be "strong" (the default) or "eventual"; got "eventaul": did you mean "eventual"?',
    });
    assert.throws(() => new Miniflare({ kvConsistency: true }), { name: "TypeError", message: /got true\.$/ });
    assert.throws(() => new Miniflare({ kvConsistancy: "eventual" }), { message: /did you mean "kvConsistency"/ });
    const mf = new Miniflare({ kvNamespaces: ["NS"], kvConsistency: "eventual" });
    opened.push(mf);
    await assert.rejects(mf.getKVNamespace("NS", { location: "" }), { name: "TypeError", message: /location must be a location name/ });
    await assert.rejects(mf.getKVNamespace("NS", "AMS"), { name: "TypeError", message: /second argument must be an object/ });
    assert.equal(await mf.getKVNamespace("NS", { location: "ams" }), await mf.getKVNamespace("NS", { location: " AMS " }));
    assert.notEqual(await mf.getKVNamespace("NS", { location: "ams" }), await mf.getKVNamespace("NS"));
    assert.equal(await mf.getKVNamespace("NS", {}), await mf.getKVNamespace("NS"));
  });

  test("[miniflare] kv_consistency in wrangler.toml; explicit options win", async () => {
    clock();
    const dir = tmp("wrangler");
    writeFileSync(path.join(dir, "wrangler.toml"), `kv_namespaces = [{ binding = "NS", id = "ns" }]\n[miniflare]\nkv_consistency = "eventual"\n`);
    const wranglerConfigPath = path.join(dir, "wrangler.toml");
    const fromFile = new Miniflare({ wranglerConfigPath });
    const explicit = new Miniflare({ wranglerConfigPath, kvConsistency: "strong" });
    opened.push(fromFile, explicit);
    for (const [mf, stale] of [[fromFile, true], [explicit, false]]) {
      const lhr = await mf.getKVNamespace("NS", { location: "LHR" });
      assert.equal(await lhr.get("k"), null);
      await (await mf.getKVNamespace("NS", { location: "AMS" })).put("k", "v");
      assert.equal(await lhr.get("k"), stale ? null : "v");
    }
    writeFileSync(wranglerConfigPath, `[miniflare]\nkv_consistency = "eventually"\n`);
    assert.throws(() => new Miniflare({ wranglerConfigPath }), { message: /miniflare\.kv_consistency must be "strong" or "eventual"; got "eventually"/ });
  });

  test("miniflare --kv-consistency eventual: a write through the REST API reaches a location that cached the key only after its cacheTtl", { timeout: 30_000 }, async () => {
    const dir = tmp("cli");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "worker.mjs"), `export default { async fetch(request, env) { return new Response(String(await env.NS.get("k"))); } };`);
    const serve = async (extra) => {
      const child = spawn(process.execPath, [path.join(here, "..", "bin", "miniflare.js"), "worker.mjs", "--kv", "NS", "--port", "0", "--api-port", "0", ...extra], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8");
      const ready = new Promise((resolve, reject) => {
        child.stdout.on("data", (t) => {
          out += t;
          const worker = /Listening on (http:\/\/\S+)/.exec(out);
          const api = /KV API: (http:\/\/\S+?)\/accounts/.exec(out);
          if (worker && api) resolve({ worker: worker[1], api: api[1] });
        });
        child.on("close", (code) => reject(new Error(`miniflare exited ${code}: ${out}`)));
      });
      const urls = await ready;
      return { ...urls, out: () => out, stop: () => new Promise((r) => { child.on("close", r); child.kill("SIGINT"); }) };
    };
    for (const [flags, expected] of [[["--kv-consistency", "eventual"], "null"], [[], "v"]]) {
      const server = await serve(flags);
      try {
        assert.equal(await (await fetch(server.worker)).text(), "null");
        const put = await fetch(`${server.api}/accounts/x/storage/kv/namespaces/NS/values/k`, { method: "PUT", body: "v" });
        assert.equal(put.status, 200, await put.text());
        assert.equal(await (await fetch(server.worker)).text(), expected, `flags ${flags.join(" ") || "(none)"}`);
        assert.equal(/KV Consistency: eventual/.test(server.out()), flags.length > 0);
      } finally {
        await server.stop();
      }
    }
  });
});

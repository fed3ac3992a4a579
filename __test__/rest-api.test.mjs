// The local Cloudflare v4 REST API for KV (lib/rest-api.js): real HTTP
// requests with fetch on every backend, the official `cloudflare` client
// pointed at it, and `miniflare --api-port` next to a running Worker.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { describe, test } from "node:test";
import { backends, tmp } from "./helpers/backends.mjs";

const require = createRequire(import.meta.url);
const { Miniflare, startKvApi } = require("..");
const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "miniflare.js");
const TIMEOUT = { timeout: 60_000 };
const ACCOUNT = "0123456789abcdef0123456789abcdef";

/** `fetch` relative to the namespaces collection; JSON bodies for objects. */
function client(api) {
  const base = `${api.url}/accounts/${ACCOUNT}/storage/kv/namespaces`;
  return async (method, route = "", body, headers = {}) => {
    const init = { method, headers: { authorization: "Bearer anything", ...headers } };
    if (body !== undefined) {
      const raw = typeof body === "string" || body instanceof Uint8Array || body instanceof FormData;
      init.body = raw ? body : JSON.stringify(body);
      if (!raw) init.headers["content-type"] = "application/json";
    }
    const res = await fetch(base + route, init);
    const type = res.headers.get("content-type") ?? "";
    const json = type.startsWith("application/json") ? await res.json() : undefined;
    return { res, json };
  };
}

function assertFailure({ res, json }, status, code, pattern) {
  assert.equal(res.status, status, JSON.stringify(json));
  assert.equal(json.success, false);
  assert.equal(json.result, null);
  assert.deepEqual(json.messages, []);
  assert.equal(json.errors.length, 1);
  assert.equal(json.errors[0].code, code);
  if (pattern) assert.match(json.errors[0].message, pattern);
  return json.errors[0];
}

const key = (name) => encodeURIComponent(name);

for (const backend of backends) {
  test(`REST API over ${backend.name}: namespaces, values, keys, bulk, errors`, TIMEOUT, async () => {
    const persist = await backend.persist();
    // Memory is only shared through a Miniflare instance; the others are
    // opened by the API itself and read back by Miniflare afterwards.
    const mf = backend.name === "memory" ? new Miniflare({ kvNamespaces: ["BOUND"] }) : null;
    const api = await startKvApi(mf ?? persist);
    const call = client(api);
    let keptId;
    try {
      const created = await call("POST", "", { title: "shop-A" });
      assert.equal(created.res.status, 200);
      assert.deepEqual(Object.keys(created.json), ["success", "errors", "messages", "result"]);
      assert.equal(created.json.success, true);
      const a = created.json.result;
      assert.match(a.id, /^[0-9a-f]{32}$/);
      assert.deepEqual(a, { id: a.id, title: "shop-A", supports_url_encoding: true });
      assertFailure(await call("POST", "", { title: "shop-A" }), 400, 10014, /already exists/);
      assertFailure(await call("POST", "", { name: "x" }), 400, 10001);
      const b = (await call("POST", "", { title: "shop-B" })).json.result;
      keptId = b.id;

      // Values: raw bodies, expiration parameters, multipart with metadata.
      const odd = "dir/with space?&#%";
      assert.deepEqual((await call("PUT", `/${a.id}/values/${key(odd)}?expiration_ttl=3600`, "plain text")).json.result, {});
      const before = Math.floor(Date.now() / 1000);
      const got = await fetch(`${api.url}/accounts/${ACCOUNT}/storage/kv/namespaces/${a.id}/values/${key(odd)}`);
      assert.equal(got.status, 200);
      assert.equal(await got.text(), "plain text");
      const expiration = Number(got.headers.get("expiration"));
      assert.ok(expiration > before + 3500 && expiration <= before + 3601, `expiration header ${expiration}`);

      const binary = new Uint8Array([0, 255, 10, 128]);
      const form = new FormData();
      form.append("value", new Blob([binary]), "blob");
      form.append("metadata", JSON.stringify({ owner: "api", n: [1, 2] }));
      assert.equal((await call("PUT", `/${a.id}/values/bin`, form)).json.success, true);
      const bin = await call("GET", `/${a.id}/values/bin`);
      assert.deepEqual(new Uint8Array(await bin.res.arrayBuffer()), binary);
      assert.deepEqual((await call("GET", `/${a.id}/metadata/bin`)).json.result, { owner: "api", n: [1, 2] });
      const textForm = new FormData();
      textForm.append("value", "from a form");
      textForm.append("metadata", "not json");
      assertFailure(await call("PUT", `/${a.id}/values/bad-meta`, textForm), 400, 10001, /metadata must be valid json/);
      assertFailure(await call("PUT", `/${a.id}/values/k?expiration_ttl=30`, "v"), 400, 10001, /Invalid expiration_ttl of 30/);
      assertFailure(await call("GET", `/${a.id}/values/missing`), 404, 10009, /key not found/);
      assertFailure(await call("GET", `/${a.id}/metadata/missing`), 404, 10009);
      assertFailure(await call("GET", `/no-such-namespace/values/k`), 404, 10013, /not found/);
      assertFailure(await call("PUT", `/no-such-namespace/values/k`, "v"), 404, 10013);
      assertFailure(await call("GET", `/${a.id}/nonsense`), 404, 10000);

      // Bulk write, keys list with cursors, bulk read and delete.
      const pairs = Array.from({ length: 25 }, (_, i) => ({ key: `item:${String(i).padStart(2, "0")}`, value: `v${i}`, metadata: { i } }));
      const bulk = await call("PUT", `/${a.id}/bulk`, pairs);
      assert.deepEqual(bulk.json.result, { successful_key_count: 25, unsuccessful_keys: [] });
      const names = [];
      let cursor = "";
      let pages = 0;
      do {
        const page = await call("GET", `/${a.id}/keys?prefix=item:&limit=10${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
        pages++;
        names.push(...page.json.result.map((k) => k.name));
        assert.equal(page.json.result_info.count, page.json.result.length);
        cursor = page.json.result_info.cursor;
      } while (cursor !== "");
      assert.equal(pages, 3);
      assert.deepEqual(names, pairs.map((p) => p.key));
      const listed = (await call("GET", `/${a.id}/keys?prefix=item:00`)).json.result;
      assert.deepEqual(listed, [{ name: "item:00", metadata: { i: 0 } }]);
      assertFailure(await call("GET", `/${a.id}/keys?limit=5`), 400, 10001, /limit must be between 10 and 1000/);

      const read = await call("POST", `/${a.id}/bulk/get`, { keys: ["item:01", "nope"] });
      assert.deepEqual(read.json.result, { values: { "item:01": "v1", nope: null } });
      const withMeta = await call("POST", `/${a.id}/bulk/get`, { keys: ["item:02"], withMetadata: true });
      assert.deepEqual(withMeta.json.result, { values: { "item:02": { value: "v2", metadata: { i: 2 } } } });

      const bad = [...pairs.slice(0, 3), { key: "item:99", value: "v", expiration_ttl: 10 }];
      const error = assertFailure(await call("PUT", `/${a.id}/bulk`, bad), 400, 10001, /Invalid bulk entry \[3\], field "expiration_ttl"/);
      assert.deepEqual(error.source, { pointer: "/3/expiration_ttl" });
      assertFailure(await call("GET", `/${a.id}/values/${key("item:99")}`), 404, 10009);
      assertFailure(await call("PUT", `/${a.id}/bulk`, "[{"), 400, 10001, /not valid JSON/);

      const del1 = await call("POST", `/${a.id}/bulk/delete`, ["item:00", "item:01"]);
      assert.deepEqual(del1.json.result, { successful_key_count: 2, unsuccessful_keys: [] });
      await call("DELETE", `/${a.id}/bulk`, ["item:02"]);
      assert.equal((await call("DELETE", `/${a.id}/values/${key("item:03")}`)).json.success, true);
      const left = (await call("GET", `/${a.id}/keys?prefix=item:`)).json.result.map((k) => k.name);
      assert.deepEqual(left.slice(0, 2), ["item:04", "item:05"]);
      assert.equal(left.length, 21);

      // Namespace listing, renaming, deleting.
      await call("PUT", `/${b.id}/values/kept`, "still here");
      assertFailure(await call("PUT", `/${b.id}`, { title: "shop-A" }), 400, 10014);
      assert.equal((await call("PUT", `/${b.id}`, { title: "shop-Z" })).json.result.title, "shop-Z");
      const all = await call("GET", "?order=title&direction=desc&per_page=1&page=1");
      const expectedTotal = mf ? 3 : 2; // the Miniflare instance's binding is listed too
      assert.equal(all.json.result_info.total_count, expectedTotal);
      assert.deepEqual(all.json.result.map((ns) => ns.title), ["shop-Z"]);
      const second = await call("GET", "?order=title&direction=desc&per_page=1&page=2");
      assert.deepEqual(second.json.result.map((ns) => ns.title), ["shop-A"]);
      assert.deepEqual((await call("GET", "?page=9")).json.result, []);
      assert.deepEqual((await call("GET", `/${b.id}`)).json.result, { id: b.id, title: "shop-Z", supports_url_encoding: true });
      assert.deepEqual((await call("DELETE", `/${a.id}`)).json.result, {});
      assertFailure(await call("GET", `/${a.id}`), 404, 10013);
      assertFailure(await call("GET", `/${a.id}/values/bin`), 404, 10013);
      assertFailure(await call("DELETE", `/${a.id}`), 404, 10013);

      if (mf) {
        // The API and the bindings share the instance's (in-memory) data.
        assert.ok((await call("GET", "")).json.result.some((ns) => ns.id === "BOUND" && ns.title === "BOUND"));
        await call("PUT", `/BOUND/values/k`, "via the API");
        assert.equal(await (await mf.getKVNamespace("BOUND")).get("k"), "via the API");
        await (await mf.getKVNamespace("BOUND")).put("w", "via the binding");
        assert.equal(await (await call("GET", `/BOUND/values/w`)).res.text(), "via the binding");
      }
      if (backend.name === "directory") {
        const huge = new Uint8Array(25 * 1024 * 1024 + 1);
        assertFailure(await call("PUT", `/${b.id}/values/huge`, huge), 413, 10001, /Value length of 26214401 exceeds limit of 26214400/);
        assertFailure(await call("GET", `/${b.id}/values/huge`), 404, 10009);
      }
    } finally {
      await api.close();
      await mf?.dispose();
    }
    if (!mf) {
      // What the API wrote, a Worker's binding reads.
      const reader = new Miniflare({ kvNamespaces: { KEPT: keptId }, kvPersist: persist });
      try {
        assert.equal(await (await reader.getKVNamespace("KEPT")).get("kept"), "still here");
      } finally {
        await reader.dispose();
      }
    }
  });
}

let Cloudflare = null;
try {
  Cloudflare = (await import("cloudflare")).default;
} catch {
  // The official client is an optional devDependency.
}

test("the official cloudflare client, pointed at the local API", { ...TIMEOUT, skip: Cloudflare ? false : "the cloudflare package is not installed" }, async () => {
  const dir = path.join(tmp("cf-client"), "kv");
  const api = await startKvApi(dir);
  try {
    const cf = new Cloudflare({ apiToken: "local", baseURL: api.url, maxRetries: 0 });
    const account_id = ACCOUNT;
    const ns = await cf.kv.namespaces.create({ account_id, title: "shop-CLIENT" });
    assert.match(ns.id, /^[0-9a-f]{32}$/);
    await assert.rejects(cf.kv.namespaces.create({ account_id, title: "shop-CLIENT" }), (error) => {
      assert.equal(error.status, 400);
      assert.equal(error.errors[0].code, 10014);
      return true;
    });
    await cf.kv.namespaces.values.update("a/b c", { account_id, namespace_id: ns.id, value: "hello", metadata: JSON.stringify({ m: 1 }) });
    const value = await cf.kv.namespaces.values.get("a/b c", { account_id, namespace_id: ns.id });
    assert.equal(await value.text(), "hello");
    assert.deepEqual(await cf.kv.namespaces.metadata.get("a/b c", { account_id, namespace_id: ns.id }), { m: 1 });
    const body = Array.from({ length: 30 }, (_, i) => ({ key: `k${String(i).padStart(2, "0")}`, value: `v${i}` }));
    assert.equal((await cf.kv.namespaces.bulkUpdate(ns.id, { account_id, body })).successful_key_count, 30);
    const names = [];
    // The client follows result_info.cursor from page to page.
    for await (const k of cf.kv.namespaces.keys.list(ns.id, { account_id, limit: 10 })) names.push(k.name);
    assert.deepEqual(names, ["a/b c", ...body.map((p) => p.key)]);
    assert.deepEqual((await cf.kv.namespaces.bulkGet(ns.id, { account_id, keys: ["k01", "nope"] })).values, { k01: "v1", nope: null });
    await cf.kv.namespaces.bulkDelete(ns.id, { account_id, body: ["k01"] });
    await assert.rejects(cf.kv.namespaces.values.get("k01", { account_id, namespace_id: ns.id }), (error) => {
      assert.equal(error.status, 404);
      assert.equal(error.errors[0].code, 10009);
      return true;
    });
    assert.equal((await cf.kv.namespaces.update(ns.id, { account_id, title: "shop-RENAMED" })).title, "shop-RENAMED");
    const listed = [];
    for await (const n of cf.kv.namespaces.list({ account_id, per_page: 1 })) listed.push(n.title);
    assert.deepEqual(listed, ["shop-RENAMED"]);
    await cf.kv.namespaces.delete(ns.id, { account_id });
    await assert.rejects(cf.kv.namespaces.get(ns.id, { account_id }), (error) => error.errors[0].code === 10013);
  } finally {
    await api.close();
  }
});

describe("miniflare --api-port", () => {
  test("serves the KV API next to the Worker, on the same data", TIMEOUT, async () => {
    const dir = tmp("api-port");
    writeFileSync(
      path.join(dir, "worker.mjs"),
      "export default { fetch: async (req, env) => new Response(await env.NS.get('greeting') ?? 'none') };\n",
    );
    const child = spawn(process.execPath, [BIN, "worker.mjs", "-k", "NS", "-p", "0", "--api-port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on("close", (code) => resolve(code)));
    try {
      await new Promise((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (d) => {
          stdout += d;
          if (/Listening on /.test(stdout)) resolve();
        });
        child.on("close", () => reject(new Error(`exited early:\n${stdout}\n${stderr}`)));
      });
      const apiBase = /KV API: (http:\/\/127\.0\.0\.1:\d+\/client\/v4)\/accounts\/<any id>\/storage\/kv\/namespaces/.exec(stdout)?.[1];
      assert.ok(apiBase, stdout);
      const worker = /Listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)[1];
      assert.equal(await (await fetch(worker)).text(), "none");
      const put = await fetch(`${apiBase}/accounts/x/storage/kv/namespaces/NS/values/greeting`, { method: "PUT", body: "hi from the API" });
      assert.equal((await put.json()).success, true);
      assert.equal(await (await fetch(worker)).text(), "hi from the API");
    } finally {
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0, stderr);
  });
});

/** One request over node:http with exactly these headers (fetch would add or
 * refuse some, such as Host); always sent to 127.0.0.1. */
function rawRequest(port, { method = "GET", path: route, headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path: route, headers, agent: false }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const json = (res.headers["content-type"] ?? "").startsWith("application/json") ? JSON.parse(text) : undefined;
        resolve({ status: res.statusCode, text, json });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A 403 in Cloudflare's envelope whose message matches `pattern`. */
function assertRefused(reply, pattern) {
  assert.equal(reply.status, 403, reply.text);
  assert.deepEqual(Object.keys(reply.json), ["success", "errors", "messages", "result"]);
  assert.equal(reply.json.success, false);
  assert.equal(reply.json.result, null);
  assert.equal(reply.json.errors.length, 1);
  assert.equal(reply.json.errors[0].code, 10000);
  assert.match(reply.json.errors[0].message, pattern);
}

describe("the REST API refuses web pages and strangers", () => {
  const ns = (route = "") => `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces/NS${route}`;

  test("cross-origin and Origin: null requests are refused, changing nothing; no Origin and the own origin are served", TIMEOUT, async () => {
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    const api = await startKvApi(mf);
    const port = api.port;
    const binding = await mf.getKVNamespace("NS");
    await binding.put("victim", "still here");
    try {
      // A page's "simple" request: text/plain needs no CORS preflight, so only the server can stop it.
      const evil = await rawRequest(port, {
        method: "POST",
        path: ns("/bulk/delete"),
        headers: { origin: "https://evil.example", "content-type": "text/plain", host: `127.0.0.1:${port}` },
        body: '["victim"]',
      });
      assertRefused(evil, /Origin: https:\/\/evil\.example/);
      assert.equal(await binding.get("victim"), "still here");

      // Sandboxed iframes, file: pages and redirects send Origin: null.
      const sandboxed = await rawRequest(port, {
        method: "PUT",
        path: ns("/values/victim"),
        headers: { origin: "null", "content-type": "text/plain" },
        body: "overwritten",
      });
      assertRefused(sandboxed, /Origin: null/);
      assert.equal(await binding.get("victim"), "still here");

      // Another local dev server is another origin too.
      const neighbour = await rawRequest(port, {
        method: "DELETE",
        path: ns("/values/victim"),
        headers: { origin: `http://127.0.0.1:${port === 65535 ? port - 1 : port + 1}` },
      });
      assertRefused(neighbour, /Origin: http:\/\/127\.0\.0\.1:/);
      assert.equal(await binding.get("victim"), "still here");

      // Plain clients send no Origin: served.
      const plain = await rawRequest(port, { path: ns("/values/victim") });
      assert.equal(plain.status, 200);
      assert.equal(plain.text, "still here");
      // Pages served from the API's own origin (any loopback spelling of it): served.
      for (const [host, origin] of [
        [`127.0.0.1:${port}`, `http://127.0.0.1:${port}`],
        [`localhost:${port}`, `http://localhost:${port}`],
        [`[::1]:${port}`, `http://[::1]:${port}`],
      ]) {
        const same = await rawRequest(port, {
          method: "PUT",
          path: ns("/values/same-origin"),
          headers: { origin, host, "content-type": "text/plain" },
          body: origin,
        });
        assert.equal(same.status, 200, `${origin}: ${same.text}`);
        assert.equal(await binding.get("same-origin"), origin);
      }
    } finally {
      await api.close();
      await mf.dispose();
    }
  });

  test("a DNS-rebinding Host is refused for reads and writes; loopback names and the address are served", TIMEOUT, async () => {
    const dir = path.join(tmp("rebinding"), "kv");
    const seed = new Miniflare({ kvNamespaces: ["NS"], kvPersist: dir });
    await (await seed.getKVNamespace("NS")).put("secret", "s3cret");
    await seed.dispose();
    const api = await startKvApi(dir);
    const port = api.port;
    try {
      const read = await rawRequest(port, { path: ns("/values/secret"), headers: { host: `evil.example:${port}` } });
      assertRefused(read, /Host header "evil\.example:\d+" is not this server's address \(127\.0\.0\.1\)/);
      assert.ok(!read.text.includes("s3cret"));
      const list = await rawRequest(port, { path: `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`, headers: { host: "attacker.test" } });
      assertRefused(list, /Host header/);
      const write = await rawRequest(port, {
        method: "PUT",
        path: ns("/values/secret"),
        headers: { host: `evil.example:${port}`, "content-type": "text/plain" },
        body: "changed",
      });
      assertRefused(write, /Host header/);
      // Even with a "same-origin" Origin: the rebinding page's origin is its own host.
      const both = await rawRequest(port, {
        path: ns("/values/secret"),
        headers: { host: `evil.example:${port}`, origin: `http://evil.example:${port}` },
      });
      assertRefused(both, /Host header/);
      for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`, `127.1.2.3:${port}`, `[::1]:${port}`, "localhost"]) {
        const ok = await rawRequest(port, { path: ns("/values/secret"), headers: { host } });
        assert.equal(ok.status, 200, `Host: ${host}: ${ok.text}`);
        assert.equal(ok.text, "s3cret");
      }
    } finally {
      await api.close();
    }
    const after = new Miniflare({ kvNamespaces: ["NS"], kvPersist: dir });
    try {
      assert.equal(await (await after.getKVNamespace("NS")).get("secret"), "s3cret");
    } finally {
      await after.dispose();
    }
  });

  test("bound to 0.0.0.0 a token is generated and required; a given apiToken is required on loopback too", TIMEOUT, async () => {
    const mf = new Miniflare({ kvNamespaces: ["NS"] });
    const open = await startKvApi(mf, { host: "0.0.0.0" });
    try {
      assert.equal(typeof open.token, "string");
      assert.ok(open.token.length >= 32, open.token);
      const missing = await rawRequest(open.port, { path: ns("/values/k"), method: "PUT", body: "v" });
      assertRefused(missing, /Authentication error.*Authorization: Bearer <token>/);
      const wrong = await rawRequest(open.port, { path: ns("/values/k"), method: "PUT", body: "v", headers: { authorization: "Bearer local" } });
      assertRefused(wrong, /Authentication error/);
      assert.equal(await (await mf.getKVNamespace("NS")).get("k"), null);
      const right = await rawRequest(open.port, {
        path: ns("/values/k"),
        method: "PUT",
        body: "v",
        headers: { authorization: `Bearer ${open.token}` },
      });
      assert.equal(right.status, 200, right.text);
      assert.equal(await (await mf.getKVNamespace("NS")).get("k"), "v");
      // The cloudflare SDK sends its apiToken as that header.
      if (Cloudflare) {
        const cf = new Cloudflare({ apiToken: open.token, baseURL: `http://127.0.0.1:${open.port}/client/v4`, maxRetries: 0 });
        const value = await cf.kv.namespaces.values.get("k", { account_id: ACCOUNT, namespace_id: "NS" });
        assert.equal(await value.text(), "v");
      }
    } finally {
      await open.close();
    }

    const chosen = await startKvApi(mf, { host: "0.0.0.0", apiToken: "my-token" });
    const local = await startKvApi(mf, { apiToken: "loop-token" });
    try {
      assert.equal(chosen.token, "my-token");
      assert.equal((await rawRequest(chosen.port, { path: ns("/values/k"), headers: { authorization: "Bearer my-token" } })).text, "v");
      assertRefused(await rawRequest(chosen.port, { path: ns("/values/k") }), /Authentication error/);
      assert.equal(local.token, "loop-token");
      assertRefused(await rawRequest(local.port, { path: ns("/values/k"), headers: { authorization: "Bearer other" } }), /Authentication error/);
      assert.equal((await rawRequest(local.port, { path: ns("/values/k"), headers: { authorization: "Bearer loop-token" } })).text, "v");
    } finally {
      await chosen.close();
      await local.close();
    }
    // Loopback without a token: no token, any credentials accepted (as before).
    const plain = await startKvApi(mf);
    try {
      assert.equal(plain.token, undefined);
      assert.equal((await rawRequest(plain.port, { path: ns("/values/k"), headers: { authorization: "Bearer anything" } })).text, "v");
    } finally {
      await plain.close();
      await mf.dispose();
    }
    await assert.rejects(startKvApi(false, { apiToken: "" }), { name: "TypeError", message: /apiToken must be a non-empty string/ });
  });

  test("miniflare --host 0.0.0.0 --api-port prints a generated token once and requires it", TIMEOUT, async () => {
    const dir = tmp("api-token");
    writeFileSync(path.join(dir, "worker.mjs"), "export default { fetch: async (req, env) => new Response(await env.NS.get('k') ?? 'none') };\n");
    const start = (args) => {
      const child = spawn(process.execPath, [BIN, "worker.mjs", "-k", "NS", "-p", "0", "--api-port", "0", ...args], {
        cwd: dir,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, MINIFLARE_KV_API_TOKEN: "" },
      });
      const state = { child, stdout: "", stderr: "" };
      child.stderr.setEncoding("utf8").on("data", (d) => (state.stderr += d));
      state.exited = new Promise((resolve) => child.on("close", (code) => resolve(code)));
      state.ready = new Promise((resolve, reject) => {
        child.stdout.setEncoding("utf8").on("data", (d) => {
          state.stdout += d;
          if (/Listening on /.test(state.stdout)) resolve();
        });
        child.on("close", () => reject(new Error(`exited early:\n${state.stdout}\n${state.stderr}`)));
      });
      return state;
    };
    const generated = start(["--host", "0.0.0.0"]);
    try {
      await generated.ready;
      const apiPort = Number(/KV API: http:\/\/0\.0\.0\.0:(\d+)\/client\/v4/.exec(generated.stdout)?.[1]);
      assert.ok(apiPort, generated.stdout);
      const tokens = [...generated.stdout.matchAll(/KV API token: (\S+) \(send Authorization: Bearer <token>/g)];
      assert.equal(tokens.length, 1, generated.stdout);
      const token = tokens[0][1];
      assertRefused(await rawRequest(apiPort, { method: "PUT", path: ns("/values/k"), body: "x" }), /Authentication error/);
      const put = await rawRequest(apiPort, { method: "PUT", path: ns("/values/k"), body: "x", headers: { authorization: `Bearer ${token}` } });
      assert.equal(put.status, 200, put.text);
      const worker = Number(/Listening on http:\/\/0\.0\.0\.0:(\d+)/.exec(generated.stdout)[1]);
      assert.equal(await (await fetch(`http://127.0.0.1:${worker}/`)).text(), "x");
    } finally {
      generated.child.kill("SIGINT");
    }
    assert.equal(await generated.exited, 0, generated.stderr);

    // A chosen token is required and never echoed.
    const chosen = start(["--api-token", "chosen-secret-token"]);
    try {
      await chosen.ready;
      assert.ok(!chosen.stdout.includes("chosen-secret-token"), chosen.stdout);
      const apiPort = Number(/KV API: http:\/\/127\.0\.0\.1:(\d+)\//.exec(chosen.stdout)[1]);
      assertRefused(await rawRequest(apiPort, { path: ns("/values/k") }), /Authentication error/);
      const read = await rawRequest(apiPort, { path: ns("/values/k"), headers: { authorization: "Bearer chosen-secret-token" } });
      assert.equal(read.status, 404, read.text); // authenticated; nothing stored in this instance
    } finally {
      chosen.child.kill("SIGINT");
    }
    assert.equal(await chosen.exited, 0, chosen.stderr);
  });

  test("--api-token without --api-port is a one-line error", TIMEOUT, async () => {
    const dir = tmp("api-token-alone");
    writeFileSync(path.join(dir, "worker.mjs"), "export default { fetch: () => new Response('x') };\n");
    const child = spawn(process.execPath, [BIN, "worker.mjs", "--api-token", "t"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const code = await new Promise((resolve) => child.on("close", resolve));
    assert.equal(code, 1);
    assert.equal(stderr, "miniflare: --api-token needs --api-port (the token protects the KV REST API).\n");
  });
});

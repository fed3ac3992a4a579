// Workers against the bindings: module and service-worker scripts loaded by
// Miniflare and driven with dispatchFetch (no HTTP server involved).
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";
import { createRequire } from "node:module";
import { Miniflare } from "../index.js";

const require = createRequire(import.meta.url);
const { WORKER_FILES } = require("../lib/worker.js");

const here = path.dirname(fileURLToPath(import.meta.url));
const fixtures = path.join(here, "fixtures");

// Editable copies of fixtures (those copied have no bare imports).
const scratchRoot = mkdtempSync(path.join(os.tmpdir(), "miniflare-kv-worker-"));
after(() => rmSync(scratchRoot, { recursive: true, force: true }));
let scratchCount = 0;
function scratchCopy(fixture) {
  const dir = path.join(scratchRoot, `${++scratchCount}`);
  cpSync(path.join(fixtures, fixture), dir, { recursive: true });
  return dir;
}

const instances = [];
function miniflare(options) {
  const mf = new Miniflare(options);
  instances.push(mf);
  return mf;
}
after(() => Promise.all(instances.map((mf) => mf.dispose())));

describe("the seed's counter (inline module script)", () => {
  test("count goes 1 → 2 through dispatchFetch and is visible to getKVNamespace", async () => {
    const mf = miniflare({
      modules: true,
      script: `
      export default {
        async fetch(request, env, ctx) {
          const value = parseInt(await env.TEST_NAMESPACE.get("count")) + 1;
          await env.TEST_NAMESPACE.put("count", value.toString());
          return new Response(value.toString());
        },
      }
      `,
      kvNamespaces: ["TEST_NAMESPACE"],
    });
    const ns = await mf.getKVNamespace("TEST_NAMESPACE");
    await ns.put("count", "1");
    const res = await mf.dispatchFetch("http://localhost:8787/");
    assert.ok(res instanceof Response);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "2");
    assert.equal(await ns.get("count"), "2");
    assert.equal(await (await mf.dispatchFetch("http://localhost:8787/")).text(), "3");
  });

  test("an inline module script can import an npm package of the project", async () => {
    const mf = miniflare({
      modules: true,
      script: `
        import { Hono } from "hono";
        const app = new Hono();
        app.get("/:key", async (c) => c.text(await c.env.NS.get(c.req.param("key")) ?? "missing"));
        export default app;
      `,
      kvNamespaces: ["NS"],
    });
    await (await mf.getKVNamespace("NS")).put("a", "from KV");
    assert.equal(await (await mf.dispatchFetch("http://localhost/a")).text(), "from KV");
    assert.equal(await (await mf.dispatchFetch("http://localhost/b")).text(), "missing");
  });

  test("modules is detected from the script's syntax when not given", async () => {
    const mf = miniflare({
      script: "export default { fetch: () => new Response('module') }",
    });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "module");
  });
});

describe("the session-token pattern with Hono (module worker from a file)", () => {
  const scriptPath = path.join(fixtures, "hono-session", "src", "index.js");

  test("login stores a token with a 24 h TTL; the token authenticates by header or cookie", async () => {
    const mf = miniflare({ scriptPath, modules: true, kvNamespaces: ["AUTH_TOKENS"] });
    const ns = await mf.getKVNamespace("AUTH_TOKENS");
    const user = { userId: 123, email: "user@example.com" };

    const before = Math.floor(Date.now() / 1000);
    const login = await mf.dispatchFetch("http://localhost:8787/login", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(user),
    });
    const after = Math.ceil(Date.now() / 1000);
    assert.equal(login.status, 200);
    const { token } = await login.json();
    assert.match(token, /^[0-9a-f-]{36}$/);

    assert.deepEqual(JSON.parse(await ns.get(token)), user);
    const { keys } = await ns.list();
    assert.equal(keys.length, 1);
    assert.equal(keys[0].name, token);
    assert.ok(keys[0].expiration >= before + 86400 && keys[0].expiration <= after + 86400, `expiration ${keys[0].expiration}`);

    const byHeader = await mf.dispatchFetch("http://localhost:8787/", { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(byHeader.status, 200);
    assert.equal(byHeader.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(await byHeader.json(), { authenticated: true, message: "Authentication successful", data: user });

    const byCookie = await mf.dispatchFetch("http://localhost:8787/", { headers: { Cookie: `theme=dark; auth_token=${token}` } });
    assert.equal(byCookie.status, 200);
    assert.equal((await byCookie.json()).authenticated, true);
  });

  test("no token and an unknown token are 403s; a token written from outside works", async () => {
    const mf = miniflare({ scriptPath, kvNamespaces: ["AUTH_TOKENS"] });
    const none = await mf.dispatchFetch("http://localhost:8787/");
    assert.equal(none.status, 403);
    assert.deepEqual(await none.json(), { authenticated: false, message: "No authentication token provided" });

    const unknown = await mf.dispatchFetch("http://localhost:8787/", { headers: { Authorization: "Bearer nope" } });
    assert.equal(unknown.status, 403);
    assert.deepEqual(await unknown.json(), { authenticated: false, message: "Invalid or expired token" });

    const ns = await mf.getKVNamespace("AUTH_TOKENS");
    await ns.put("outside-token", JSON.stringify({ userId: 7 }), { expirationTtl: 86400 });
    const ok = await mf.dispatchFetch("http://localhost:8787/", { headers: { Authorization: "Bearer outside-token" } });
    assert.deepEqual((await ok.json()).data, { userId: 7 });
  });
});

describe("module worker with relative imports and module rules", () => {
  const scriptPath = path.join(fixtures, "module-graph", "worker.mjs");
  const options = {
    scriptPath,
    modules: true,
    kvNamespaces: ["NS"],
    modulesRules: [{ type: "Text", include: ["**/*.sql"] }],
  };

  test("relative imports resolve; env holds the bindings", async () => {
    const mf = miniflare(options);
    const res = await mf.dispatchFetch("http://localhost/?name=KV");
    assert.equal(await res.text(), "Hello, KV!");
    assert.equal(await (await mf.getKVNamespace("NS")).get("last"), "KV");
  });

  test("wrangler's default rules (.html → text, .bin → ArrayBuffer) and a custom Text rule", async () => {
    const mf = miniflare(options);
    assert.equal(await (await mf.dispatchFetch("http://localhost/page")).text(), "<h1>Hello from page.html</h1>\n");
    assert.equal(await (await mf.dispatchFetch("http://localhost/query")).text(), "SELECT 1;\n");
    assert.deepEqual(await (await mf.dispatchFetch("http://localhost/bytes")).json(), [0, 1, 254, 255]);
  });

  test("wrangler's default CompiledWasm rule: a .wasm import is a WebAssembly.Module", async () => {
    const mf = miniflare(options);
    assert.equal(await (await mf.dispatchFetch("http://localhost/wasm")).text(), "5");
  });

  test("a Data rule given by the user gives an ArrayBuffer; a user's rule comes before a default", async () => {
    const dir = scratchCopy("module-graph");
    writeFileSync(
      path.join(dir, "data-worker.mjs"),
      'import raw from "./query.sql";\nimport bin from "./data.bin";\n' +
        "export default { fetch: () => new Response(`${raw instanceof ArrayBuffer} ${raw.byteLength} ${typeof bin} ${bin.length}`) };\n",
    );
    const mf = miniflare({
      scriptPath: path.join(dir, "data-worker.mjs"),
      modulesRules: [
        { type: "Data", include: ["**/*.sql"] },
        { type: "Text", include: ["**/*.bin"] }, // wins over wrangler's Data default for .bin
      ],
    });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "true 10 string 4");
  });

  test("the Worker's project files are listed for --watch (not node_modules, not rule-less files)", async () => {
    const mf = miniflare(options);
    const files = (await mf[WORKER_FILES]()).sort();
    const dir = path.join(fixtures, "module-graph");
    assert.deepEqual(files, ["add.wasm", "data.bin", "lib/greeting.mjs", "page.html", "query.sql", "worker.mjs"].map((f) => path.join(dir, f)));
    const hono = miniflare({ scriptPath: path.join(fixtures, "hono-session", "src", "index.js") });
    assert.deepEqual((await hono[WORKER_FILES]()).sort(), ["index.js", "token.js"].map((f) => path.join(fixtures, "hono-session", "src", f)));
  });

  test("without the custom rule a .sql import fails to load", async () => {
    const mf = miniflare({ ...options, modulesRules: undefined });
    await assert.rejects(mf.dispatchFetch("http://localhost/"), /\.sql/);
  });

  test("each Miniflare instance has its own module state (one instance's load does not disturb another's)", async () => {
    const a = miniflare(options);
    const b = miniflare(options);
    await a.dispatchFetch("http://localhost/requests");
    assert.equal(await (await a.dispatchFetch("http://localhost/requests")).text(), "2");
    assert.equal(await (await b.dispatchFetch("http://localhost/requests")).text(), "1");
  });

  test("the Web globals a Worker uses are there", async () => {
    const mf = miniflare(options);
    const body = await (await mf.dispatchFetch("http://localhost/web")).json();
    assert.deepEqual(body, {
      hex: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
      b64: "aGk=",
      decoded: "hi",
      clone: { a: [1] },
      uuid: "string",
      body: "streamed",
      headers: "1",
    });
  });

  test("ctx.waitUntil: the Response's waitUntil() settles after the deferred work", async () => {
    const mf = miniflare(options);
    const res = await mf.dispatchFetch("http://localhost/wait");
    assert.equal(await res.text(), "later");
    await res.waitUntil();
    assert.equal(await (await mf.getKVNamespace("NS")).get("waited"), "yes");
  });

  test("a thrown error rejects dispatchFetch with the worker's error, file and line", async () => {
    const mf = miniflare(options);
    const error = await mf.dispatchFetch("http://localhost/throw").then(
      () => assert.fail("dispatchFetch resolved"),
      (e) => e,
    );
    assert.ok(error instanceof RangeError);
    assert.equal(error.message, "thrown by the module worker");
    assert.match(error.stack, /module-graph\/worker\.mjs[^:\n]*:19:\d+/);
  });

  test("a handler that returns no Response is a clear TypeError", async () => {
    const mf = miniflare(options);
    await assert.rejects(mf.dispatchFetch("http://localhost/undefined"), {
      name: "TypeError",
      message: "The fetch() handler of the Worker must give a Response; it gave undefined.",
    });
  });

  test("setOptions reloads edited files (entry and imports) and keeps in-memory KV data", async () => {
    const dir = scratchCopy("module-graph");
    const copied = { ...options, scriptPath: path.join(dir, "worker.mjs") };
    const mf = miniflare(copied);
    assert.equal(await (await mf.dispatchFetch("http://localhost/?name=one")).text(), "Hello, one!");

    writeFileSync(path.join(dir, "lib", "greeting.mjs"), "export const greeting = (name) => `Bonjour, ${name}!`;\n");
    await mf.setOptions(copied);
    assert.equal(await (await mf.dispatchFetch("http://localhost/?name=two")).text(), "Bonjour, two!");
    assert.equal(await (await mf.getKVNamespace("NS")).get("last"), "two");
    // Module state started again with the reloaded code: this is its second request, not the third.
    assert.equal(await (await mf.dispatchFetch("http://localhost/requests")).text(), "2");
  });
});

describe("module workers bundled as wrangler does", () => {
  test("top-level await works, and each instance evaluates the module again", async () => {
    const script = `
      const started = await Promise.resolve(Math.random());
      let requests = 0;
      export default { fetch: () => new Response(JSON.stringify({ started, requests: ++requests })) };
    `;
    const a = miniflare({ modules: true, script });
    const b = miniflare({ modules: true, script });
    const first = await (await a.dispatchFetch("http://localhost/")).json();
    assert.equal((await (await a.dispatchFetch("http://localhost/")).json()).requests, 2);
    const other = await (await b.dispatchFetch("http://localhost/")).json();
    assert.equal(other.requests, 1);
    assert.notEqual(other.started, first.started);
  });

  test("an error thrown by a top-level-await module names the original line", async () => {
    const mf = miniflare({ modules: true, script: "await null;\n\nexport default {\n  fetch() {\n    throw new Error('late');\n  },\n};\n" });
    const error = await mf.dispatchFetch("http://localhost/").then(() => assert.fail("resolved"), (e) => e);
    assert.equal(error.message, "late");
    assert.match(error.stack, /inline-worker\.mjs:5:\d+/);
  });

  test("npm packages are bundled with each load: two instances do not share a package's module state", async () => {
    const dir = path.join(here, "..", "node_modules", ".cache", "miniflare-kv-test-pkg");
    mkdirSync(path.join(dir, "node_modules", "counter-pkg"), { recursive: true });
    writeFileSync(path.join(dir, "node_modules", "counter-pkg", "package.json"), '{ "name": "counter-pkg", "main": "index.js" }');
    writeFileSync(path.join(dir, "node_modules", "counter-pkg", "index.js"), "let n = 0; exports.next = () => ++n;\n");
    writeFileSync(path.join(dir, "worker.mjs"), 'import { next } from "counter-pkg";\nexport default { fetch: () => new Response(String(next())) };\n');
    try {
      const a = miniflare({ scriptPath: path.join(dir, "worker.mjs") });
      const b = miniflare({ scriptPath: path.join(dir, "worker.mjs") });
      assert.equal(await (await a.dispatchFetch("http://localhost/")).text(), "1");
      assert.equal(await (await a.dispatchFetch("http://localhost/")).text(), "2");
      assert.equal(await (await b.dispatchFetch("http://localhost/")).text(), "1");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a CommonJS Worker file (module.exports = { fetch }) loads as its default export", async () => {
    const dir = path.join(scratchRoot, "cjs");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "worker.cjs"), 'const { text } = require("./text.cjs");\nmodule.exports = { fetch: () => new Response(text) };\n');
    writeFileSync(path.join(dir, "text.cjs"), 'exports.text = "from CommonJS";\n');
    const mf = miniflare({ scriptPath: path.join(dir, "worker.cjs"), modules: true });
    assert.equal(await (await mf.dispatchFetch("http://localhost/")).text(), "from CommonJS");
  });

  test("a missing import is named with the importing file and line", async () => {
    const dir = path.join(scratchRoot, "missing-import");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "worker.mjs"), '// first line\nimport { x } from "./nope.mjs";\nexport default { fetch: () => new Response(x) };\n');
    const mf = miniflare({ scriptPath: path.join(dir, "worker.mjs") });
    await assert.rejects(mf.ready, { message: `${path.join(dir, "worker.mjs")}:2:19: Could not resolve "./nope.mjs"` });
  });
});

describe("TypeScript Workers (esbuild strips types; nothing is type-checked)", () => {
  const project = path.join(fixtures, "typescript");

  test('wrangler.toml with main = "src/index.ts": annotations, an import of another .ts file, vars', async () => {
    const mf = miniflare({ wranglerConfigPath: path.join(project, "wrangler.toml") });
    assert.equal(await (await mf.dispatchFetch("http://localhost/?name=Ada")).text(), "Hello, Ada! Visit number 1.");
    assert.equal(await (await mf.dispatchFetch("http://localhost/?name=Ada")).text(), "Hello, Ada! Visit number 2.");
    assert.equal(await (await mf.getKVNamespace("VISITS")).get("Ada"), "2");
    const files = (await mf[WORKER_FILES]()).sort();
    assert.deepEqual(files, [path.join(project, "src", "greet.ts"), path.join(project, "src", "index.ts")]);
  });

  test("an error thrown in TypeScript names the .ts file and its line", async () => {
    const mf = miniflare({ wranglerConfigPath: path.join(project, "wrangler.toml") });
    const error = await mf.dispatchFetch("http://localhost/throw").then(() => assert.fail("resolved"), (e) => e);
    assert.ok(error instanceof TypeError);
    assert.equal(error.message, "thrown from TypeScript");
    assert.ok(error.stack.includes(`${path.join(project, "src", "index.ts")}:16:`), error.stack);
  });

  test(".tsx and .mts entries, and a type error that would fail tsc, run", async () => {
    const dir = path.join(scratchRoot, "tsx");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "worker.mts"), 'const n: number = "not a number" as any as string;\nexport default { fetch: (): Response => new Response(`mts ${n}`) };\n');
    writeFileSync(path.join(dir, "worker.tsx"), "const h = (tag: string, _props: unknown, ...children: string[]) => `<${tag}>${children.join(\"\")}</${tag}>`;\n/** @jsx h */\nexport default { fetch: () => new Response(<p>tsx</p>) };\n");
    assert.equal(await (await miniflare({ scriptPath: path.join(dir, "worker.mts") }).dispatchFetch("http://localhost/")).text(), "mts not a number");
    assert.equal(await (await miniflare({ scriptPath: path.join(dir, "worker.tsx") }).dispatchFetch("http://localhost/")).text(), "<p>tsx</p>");
  });

  test("a TypeScript syntax error names the file and line", async () => {
    const dir = path.join(scratchRoot, "ts-syntax");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "index.ts"), 'import { x } from "./broken";\nexport default { fetch: () => new Response(x) };\n');
    writeFileSync(path.join(dir, "broken.ts"), "// fine\nexport const x: string = (;\n");
    const mf = miniflare({ scriptPath: path.join(dir, "index.ts") });
    await assert.rejects(mf.ready, (error) => {
      assert.ok(error instanceof SyntaxError);
      assert.ok(error.stack.startsWith(`${path.join(dir, "broken.ts")}:2\nexport const x: string = (;\n`), error.stack);
      return true;
    });
  });

  test("a TypeScript service-worker script: types stripped, globals bound, errors at the .ts line", async () => {
    const file = path.join(scratchRoot, "sw.ts");
    writeFileSync(file, 'addEventListener("fetch", (event: any) => {\n  const key: string = new URL(event.request.url).pathname.slice(1);\n  if (key === "throw") throw new Error("sw boom");\n  event.respondWith(NS.get(key).then((v: string | null) => new Response(v ?? "none")));\n});\ndeclare const NS: any;\n');
    const mf = miniflare({ scriptPath: file, kvNamespaces: ["NS"] });
    await (await mf.getKVNamespace("NS")).put("k", "from KV");
    assert.equal(await (await mf.dispatchFetch("http://localhost/k")).text(), "from KV");
    const error = await mf.dispatchFetch("http://localhost/throw").then(() => assert.fail("resolved"), (e) => e);
    assert.equal(error.message, "sw boom");
    assert.ok(error.stack.includes(`${file}:3:`), error.stack);
  });
});

describe("service-worker scripts", () => {
  const scriptPath = path.join(fixtures, "service-worker", "worker.js");

  test("the seed's script: bindings are globals", async () => {
    const mf = miniflare({
      script: `
        addEventListener("fetch", (e) => {
          e.respondWith(
            TEST_NAMESPACE1.get("key").then((value) => new Response(value))
          );
        });
      `,
      kvNamespaces: ["TEST_NAMESPACE1", "TEST_NAMESPACE2"],
    });
    await (await mf.getKVNamespace("TEST_NAMESPACE1")).put("key", "value");
    assert.equal(await (await mf.dispatchFetch("http://localhost:8787/")).text(), "value");
  });

  test("from a file: reads and writes through the global binding", async () => {
    const mf = miniflare({ scriptPath, modules: false, kvNamespaces: ["TEST_NAMESPACE1"] });
    const put = await mf.dispatchFetch("http://localhost/?key=k", { method: "PUT", body: "from the request" });
    assert.equal(put.status, 201);
    assert.equal(await (await mf.getKVNamespace("TEST_NAMESPACE1")).get("k"), "from the request");
    assert.equal(await (await mf.dispatchFetch("http://localhost/?key=k")).text(), "from the request");
  });

  test("sees the Web globals and not Node's", async () => {
    const mf = miniflare({ scriptPath, kvNamespaces: ["TEST_NAMESPACE1"] });
    const { types, selfIsGlobal } = await (await mf.dispatchFetch("http://localhost/globals")).json();
    assert.equal(selfIsGlobal, true);
    for (const name of ["fetch", "Request", "Response", "Headers", "URL", "TextEncoder", "TextDecoder",
      "ReadableStream", "setTimeout", "structuredClone", "atob", "btoa"]) {
      assert.equal(types[name], "function", name);
    }
    assert.equal(types.crypto, "object");
    assert.equal(types.console, "object");
    assert.equal(types.process, "undefined");
    assert.equal(types.require, "undefined");
    assert.equal(types.Buffer, "undefined");
  });

  test("a thrown error rejects with the worker's error, file and line", async () => {
    const mf = miniflare({ scriptPath, kvNamespaces: ["TEST_NAMESPACE1"] });
    const error = await mf.dispatchFetch("http://localhost/throw").then(
      () => assert.fail("dispatchFetch resolved"),
      (e) => e,
    );
    assert.equal(error.message, "thrown by the service worker");
    assert.ok(error.stack.includes(`${scriptPath}:5:`), error.stack);
  });

  test("a listener that never calls respondWith is a clear error", async () => {
    const mf = miniflare({ scriptPath, kvNamespaces: ["TEST_NAMESPACE1"] });
    await assert.rejects(mf.dispatchFetch("http://localhost/no-response"), {
      message: `No response: the fetch listener of ${scriptPath} did not call event.respondWith().`,
    });
  });

  test("a script without a fetch listener fails to load", async () => {
    const mf = miniflare({ script: "const x = 1;", modules: false });
    await assert.rejects(mf.ready, /added no fetch listener/);
  });
});

describe("dispatchFetch and options", () => {
  test("accepts a Request, and a URL with init including a streamed body", async () => {
    const mf = miniflare({
      modules: true,
      script: `export default { async fetch(req) {
        return new Response(req.method + " " + new URL(req.url).pathname + " " + await req.text(), { headers: { "x-got": req.headers.get("x-send") ?? "" } });
      } }`,
    });
    const viaRequest = await mf.dispatchFetch(new Request("http://localhost/r", { method: "POST", body: "body1", headers: { "x-send": "h" } }));
    assert.equal(await viaRequest.text(), "POST /r body1");
    assert.equal(viaRequest.headers.get("x-got"), "h");
    const stream = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } });
    const viaInit = await mf.dispatchFetch(new URL("http://localhost/s"), { method: "PUT", body: stream });
    assert.equal(await viaInit.text(), "PUT /s streamed");
  });

  test("without a script, dispatchFetch says so", async () => {
    const mf = miniflare({ kvNamespaces: ["NS"] });
    await mf.ready;
    await assert.rejects(mf.dispatchFetch("http://localhost/"), /has no Worker: pass script or scriptPath/);
  });

  test("a missing script file is named", async () => {
    const missing = path.join(scratchRoot, "nope.js");
    const mf = miniflare({ scriptPath: missing });
    await assert.rejects(mf.ready, { message: `Worker script not found: ${missing}` });
  });

  test("a syntax error in an imported module names that file and line", async () => {
    const dir = path.join(scratchRoot, "syntax");
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, "worker.mjs"), 'import { x } from "./broken.mjs";\nexport default { fetch: () => new Response(x) };\n');
    writeFileSync(path.join(dir, "broken.mjs"), "// fine\nexport const x = (;\n");
    const mf = miniflare({ scriptPath: path.join(dir, "worker.mjs") });
    await assert.rejects(mf.ready, (error) => {
      assert.ok(error instanceof SyntaxError);
      assert.ok(error.stack.startsWith(`${path.join(dir, "broken.mjs")}:2\nexport const x = (;\n`), error.stack);
      return true;
    });
  });

  test("a syntax error in a service-worker script names the file and line", async () => {
    const file = path.join(scratchRoot, "broken-sw.js");
    writeFileSync(file, 'addEventListener("fetch", (e) => {\n  e.respondWith(new Response(;\n});\n');
    const mf = miniflare({ scriptPath: file, modules: false });
    await assert.rejects(mf.ready, (error) => {
      assert.equal(error.name, "SyntaxError");
      assert.ok(error.stack.startsWith(`${file}:2\n`), error.stack);
      return true;
    });
  });

  test("a module without a fetch handler is named", async () => {
    const mf = miniflare({ modules: true, script: "export default { hello() {} }" });
    await assert.rejects(mf.ready, /has no fetch\(\) method/);
  });

  test("malformed worker options are TypeErrors at construction", () => {
    assert.throws(() => new Miniflare({ script: 42 }), TypeError);
    assert.throws(() => new Miniflare({ script: "", modules: "yes" }), TypeError);
    assert.throws(() => new Miniflare({ script: "", modulesRules: [{ type: "Nope", include: ["*"] }] }), /modulesRules\[0\]\.type/);
  });

  test("dispatchFetch after dispose rejects", async () => {
    const mf = new Miniflare({ modules: true, script: "export default { fetch: () => new Response('x') }" });
    await mf.dispose();
    await assert.rejects(mf.dispatchFetch("http://localhost/"), /disposed/);
  });
});

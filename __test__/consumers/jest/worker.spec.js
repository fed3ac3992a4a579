// A module Worker (TypeScript, importing Hono from this project's
// node_modules) driven with dispatchFetch inside Jest's vm context: loading
// it must not need module.register(), which Jest 30.5+ refuses.
const path = require("node:path");
const { Miniflare } = require("miniflare-kv");

const wranglerConfigPath = path.join(__dirname, "worker", "wrangler.toml");
const instances = [];
function miniflare(options) {
  const mf = new Miniflare(options);
  instances.push(mf);
  return mf;
}
afterAll(() => Promise.all(instances.map((mf) => mf.dispose())));

test("the TypeScript Hono Worker from wrangler.toml: KV, vars, routing", async () => {
  const mf = miniflare({ wranglerConfigPath });
  const put = await mf.dispatchFetch("http://localhost/notes/1", { method: "PUT", body: "buy milk" });
  expect(put.status).toBe(201);
  expect(await (await mf.getKVNamespace("NOTES")).get("1")).toBe("buy milk");
  const got = await mf.dispatchFetch("http://localhost/notes/1");
  expect(await got.text()).toBe("Hello: [buy milk]");
  expect((await mf.dispatchFetch("http://localhost/notes/2")).status).toBe(404);
  expect((await mf.getBindings()).GREETING).toBe("Hello");
});

test("each instance has its own module state; the bindings option overrides vars", async () => {
  const a = miniflare({ wranglerConfigPath });
  const b = miniflare({ wranglerConfigPath, bindings: { GREETING: "Hi" } });
  await a.dispatchFetch("http://localhost/requests");
  expect(await (await a.dispatchFetch("http://localhost/requests")).text()).toBe("2");
  expect(await (await b.dispatchFetch("http://localhost/requests")).text()).toBe("1");
  await (await b.getKVNamespace("NOTES")).put("n", "x");
  expect(await (await b.dispatchFetch("http://localhost/notes/n")).text()).toBe("Hi: [x]");
});

test("an inline module script imports hono from the project", async () => {
  const mf = miniflare({
    modules: true,
    script: `
      import { Hono } from "hono";
      const app = new Hono();
      app.get("/", async (c) => c.text((await c.env.NS.get("k")) ?? "missing"));
      export default app;
    `,
    kvNamespaces: ["NS"],
  });
  expect(await (await mf.dispatchFetch("http://localhost/")).text()).toBe("missing");
  await (await mf.getKVNamespace("NS")).put("k", "from KV");
  expect(await (await mf.dispatchFetch("http://localhost/")).text()).toBe("from KV");
});

test("a .ts module without a default export is a clear error", async () => {
  const mf = miniflare({
    scriptPath: path.join(__dirname, "worker", "src", "label.ts"),
    modules: true,
  });
  await expect(mf.ready).rejects.toThrow(/has no default export/);
});

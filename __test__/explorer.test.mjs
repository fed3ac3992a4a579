// The KV explorer page (lib/http/explorer/) in a real headless Chromium
// (Debian's, driven by playwright-core; nothing downloads a browser), on a
// directory, sled, Redis (KV_TEST_REDIS_URL) and an in-memory Miniflare
// instance. Every edit made in the page is read back through the REST API by
// another client (Node's fetch) or the instance's binding. The page must log
// no console errors (but the one 400 a validation step provokes) and request
// nothing from another origin. Screenshots of the main views go to
// __test__/artifacts/explorer/ (not committed).
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { chromium } from "playwright-core";
import { backends, tmp } from "./helpers/backends.mjs";
import { chromiumLaunchOptions } from "../scripts/chromium.mjs";

const require = createRequire(import.meta.url);
const { Miniflare, startKvApi } = require("..");
const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), "artifacts", "explorer");
const TIMEOUT = { timeout: 300_000 };
const KEY_COUNT = 2500;
/** A 16×16 PNG (a gradient), so the preview has something to decode. */
const PNG = Buffer.from(
  "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAKklEQVR4nGP4z8DwHwMgUQZDgDEYGIYxMDAw/GdAo5kZGRgYGBgYGBgAAJkTBf2TPxqHAAAAAElFTkSuQmCC",
  "base64",
);
const BINARY = new Uint8Array([0, 1, 2, 0xff, 0xfe, 0x41, 0x42, 0, 9]);
const itemKey = (i) => `item:${String(i).padStart(4, "0")}`;

let context;
before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  const { profile, options } = chromiumLaunchOptions();
  context = await chromium.launchPersistentContext(profile, { ...options, viewport: { width: 1280, height: 820 } });
});
after(async () => {
  await context?.close();
});

/** Writes the seed data through a Miniflare binding: no `namespace create`. */
async function seed(kv) {
  for (let i = 0; i < KEY_COUNT; i++) await kv.put(itemKey(i), `value ${i}`);
  await kv.put("doc.json", JSON.stringify({ name: "Ada", langs: ["en", "fr"] }), {
    metadata: { owner: "seed" },
    expirationTtl: 3 * 3600,
  });
  await kv.put("blob.bin", BINARY);
  await kv.put("logo.png", PNG);
}

/** A REST client that is not the page: reads back what the page wrote. */
function restClient(api) {
  const base = `${api.url}/accounts/any/storage/kv/namespaces`;
  return {
    async json(route) {
      const res = await fetch(base + route);
      return res.json();
    },
    async value(ns, key) {
      const res = await fetch(`${base}/${encodeURIComponent(ns)}/values/${encodeURIComponent(key)}`);
      return res.status === 404 ? null : res.text();
    },
    async countKeys(ns, prefix) {
      let total = 0;
      let cursor = "";
      do {
        const page = await this.json(`/${encodeURIComponent(ns)}/keys?limit=1000&prefix=${encodeURIComponent(prefix)}${cursor ? `&cursor=${cursor}` : ""}`);
        total += page.result.length;
        cursor = page.result_info.cursor;
      } while (cursor);
      return total;
    },
  };
}

/** A page on the explorer, watching the console, errors and every request. */
async function openPage(api, url = api.explorerUrl) {
  const page = await context.newPage();
  const problems = watch(page, new URL(api.explorerUrl).origin);
  await page.goto(url);
  await page.waitForSelector("html[data-ready]");
  return { page, problems };
}

/** Records the console errors, failed responses and requests of a page. */
function watch(page, origin) {
  const problems = { console: [], foreign: [], pages: [], failed: [] };
  page.on("console", (message) => {
    if (message.type() === "error") problems.console.push(message.text());
  });
  // Chromium logs "Failed to load resource" for every 4xx/5xx answer: each
  // such console line must be accounted for by one of these (see
  // onlyNetworkErrors).
  page.on("response", (response) => {
    if (response.status() >= 400) problems.failed.push(`${response.status()} ${new URL(response.url()).pathname}`);
  });
  page.on("pageerror", (error) => problems.console.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("blob:") && !url.startsWith("data:")) problems.foreign.push(url);
    // No request asks for more than one page of keys.
    const keys = /\/keys\?(.*)$/.exec(url);
    if (keys) problems.pages.push(Number(new URLSearchParams(keys[1]).get("limit")));
  });
  return problems;
}

/** The console lines Chromium writes for these failed responses, and only them. */
function onlyNetworkErrors(problems) {
  const reason = { 400: "Bad Request", 403: "Forbidden", 404: "Not Found" };
  const expected = problems.failed.map((line) => {
    const status = Number(line.slice(0, 3));
    return `Failed to load resource: the server responded with a status of ${status} (${reason[status] ?? "?"})`;
  });
  assert.deepEqual([...problems.console].sort(), expected.sort(), `failed responses: ${problems.failed.join(", ")}`);
}

const shot = (page, name) => page.screenshot({ path: path.join(ARTIFACTS, name) });

for (const backend of backends) {
  describe(`explorer on ${backend.name === "memory" ? "an in-memory instance" : backend.name}`, () => {
    test("list, search, page, view, edit, delete, bulk upload, namespaces", TIMEOUT, async () => {
      let mf = null;
      let target;
      const persist = await backend.persist();
      if (persist === false) {
        mf = new Miniflare({ kvNamespaces: ["USERS"] });
        await seed(await mf.getKVNamespace("USERS"));
        target = mf;
      } else {
        const writer = new Miniflare({ kvNamespaces: ["USERS"], kvPersist: persist });
        await seed(await writer.getKVNamespace("USERS"));
        await writer.dispose();
        target = persist;
      }
      const api = await startKvApi(target);
      const rest = restClient(api);
      const { page, problems } = await openPage(api);
      const screenshots = backend.name === "directory";
      try {
        // Namespaces: the one written without `namespace create` is there, marked.
        const row = page.getByRole("row", { name: /USERS/ });
        await row.getByText("unregistered").waitFor();
        await row.getByText("1,000+").waitFor();
        if (screenshots) await shot(page, "namespaces-light.png");

        // The namespace view; 2,500 keys a page of 1,000 at a time.
        await page.getByRole("link", { name: "USERS", exact: true }).click();
        await page.waitForURL(/\/namespaces\/USERS$/);
        await page.getByLabel("Keys per page").selectOption("1000");
        const seen = [];
        const rowsOnPage = async () => page.locator("tbody tr[data-key]").evaluateAll((rows) => rows.map((r) => r.dataset.key));
        await page.getByText(/^Page 1: keys 1–1,000/).waitFor();
        seen.push(...(await rowsOnPage()));
        await page.getByRole("button", { name: "Next page →" }).click();
        await page.getByText(/^Page 2: keys 1,001–2,000/).waitFor();
        seen.push(...(await rowsOnPage()));
        await page.getByRole("button", { name: "Next page →" }).click();
        await page.getByText(/^Page 3: keys 2,001–2,503\.$/).waitFor();
        seen.push(...(await rowsOnPage()));
        assert.ok(await page.getByRole("button", { name: "Next page →" }).isDisabled());
        const expected = [...Array.from({ length: KEY_COUNT }, (_, i) => itemKey(i)), "blob.bin", "doc.json", "logo.png"].sort();
        assert.deepEqual(seen, expected);
        await page.getByRole("button", { name: "← Previous page" }).click();
        await page.getByText(/^Page 2: keys 1,001–2,000/).waitFor();

        // Prefix search as you type; the URL keeps it, a reload shows the same view.
        await page.getByLabel("Search by prefix").pressSequentially("item:24");
        await page.waitForURL(/\?prefix=item%3A24$/);
        await page.getByText(/^Page 1: keys 1–100\.$/).waitFor();
        assert.equal((await rowsOnPage())[0], "item:2400");
        await page.reload();
        await page.waitForSelector("html[data-ready]");
        await page.getByText(/^Page 1: keys 1–100\.$/).waitFor();
        assert.equal(await page.getByLabel("Search by prefix").inputValue(), "item:24");

        // A JSON value: pretty-printed, with metadata and expiration.
        await page.getByLabel("Search by prefix").fill("doc");
        await page.getByRole("link", { name: "doc.json" }).click();
        await page.waitForURL(/key=doc\.json/);
        const panel = page.locator(".key-panel");
        await panel.getByRole("heading", { name: "doc.json" }).waitFor();
        assert.equal(await panel.getByRole("tab", { name: "JSON" }).getAttribute("aria-selected"), "true");
        assert.match(await panel.getByRole("tabpanel").innerText(), /"name": "Ada",\n\s+"langs": \[/);
        assert.match(await panel.locator(".facts").innerText(), /"owner": "seed"/);
        assert.match(await panel.locator(".facts").innerText(), /\(in (3 hr\.|2 hr\.|180 min\.)\)/);
        if (screenshots) {
          await shot(page, "key-json-light.png");
          await page.emulateMedia({ colorScheme: "dark" });
          await shot(page, "key-json-dark.png");
          await page.emulateMedia({ colorScheme: "light" });
        }
        // Tabs work from the keyboard.
        await panel.getByRole("tab", { name: "JSON" }).focus();
        await page.keyboard.press("ArrowRight");
        assert.equal(await panel.getByRole("tab", { name: "Text" }).getAttribute("aria-selected"), "true");

        // A binary value: a hex dump.
        await page.getByLabel("Search by prefix").fill("blob");
        await page.getByRole("link", { name: "blob.bin" }).click();
        await panel.getByRole("heading", { name: "blob.bin" }).waitFor();
        assert.equal(await panel.getByRole("tab", { name: "Hex" }).getAttribute("aria-selected"), "true");
        assert.match(await panel.getByRole("tabpanel").innerText(), /^00000000 {2}00 01 02 ff fe 41 42 00 {2}09/);
        // The raw download is the stored bytes.
        const [download] = await Promise.all([page.waitForEvent("download"), panel.getByRole("button", { name: "Download raw value" }).click()]);
        const chunks = [];
        for await (const chunk of await download.createReadStream()) chunks.push(chunk);
        assert.deepEqual(new Uint8Array(Buffer.concat(chunks)), BINARY);

        // An image value: previewed (decoded by the browser).
        await page.getByLabel("Search by prefix").fill("logo");
        await page.getByRole("link", { name: "logo.png" }).click();
        const img = panel.getByRole("img", { name: /Image value of logo\.png/ });
        await img.waitFor();
        await page.waitForFunction(() => document.querySelector("img.preview")?.complete);
        assert.equal(await img.evaluate((el) => el.naturalWidth), 16);
        if (screenshots) await shot(page, "key-image-light.png");

        // Put: the API's validation message, then a JSON value with metadata and a TTL.
        await page.getByRole("button", { name: "Put key" }).click();
        const dialog = page.getByRole("dialog");
        await dialog.getByLabel("Key").fill("made:1");
        await dialog.getByLabel("JSON", { exact: true }).check();
        await dialog.getByLabel("Value", { exact: true }).fill('{ "a": 1 }');
        await dialog.getByLabel("Metadata (JSON, optional)").fill('{"by":"explorer"}');
        await dialog.getByLabel("After (TTL)").check();
        await dialog.getByLabel("TTL in seconds").fill("30");
        if (screenshots) await shot(page, "put-dialog-light.png");
        await dialog.getByRole("button", { name: "Save" }).click();
        await dialog.getByRole("alert").getByText(/Invalid expiration_ttl of 30\. Expiration TTL must be at least 60\./).waitFor();
        await dialog.getByLabel("TTL in seconds").fill("600");
        await dialog.getByRole("button", { name: "Save" }).click();
        await panel.getByRole("heading", { name: "made:1" }).waitFor();
        assert.equal(await rest.value("USERS", "made:1"), '{"a":1}');
        assert.deepEqual((await rest.json("/USERS/metadata/made%3A1")).result, { by: "explorer" });
        const listed = (await rest.json("/USERS/keys?prefix=made:1")).result[0];
        assert.ok(Math.abs(listed.expiration - (Date.now() / 1000 + 600)) < 60, JSON.stringify(listed));

        // Edit: the form starts from the stored value.
        await panel.getByRole("button", { name: "Edit" }).click();
        assert.match(await dialog.getByLabel("Value", { exact: true }).inputValue(), /"a": 1/);
        await dialog.getByLabel("Text", { exact: true }).check();
        await dialog.getByLabel("Value", { exact: true }).fill("edited in the browser");
        await dialog.getByLabel("Never", { exact: true }).check();
        await dialog.getByRole("button", { name: "Save" }).click();
        await panel.getByText("edited in the browser").waitFor();
        assert.equal(await rest.value("USERS", "made:1"), "edited in the browser");
        assert.equal((await rest.json("/USERS/keys?prefix=made:1")).result[0].expiration, undefined);

        // Delete the key.
        await panel.getByRole("button", { name: "Delete key" }).click();
        await dialog.getByText("The key “made:1” and its value are deleted.").waitFor();
        await dialog.getByRole("button", { name: "Delete key" }).click();
        await page.waitForURL((url) => !url.search.includes("key="));
        assert.equal(await rest.value("USERS", "made:1"), null);

        // Delete by prefix: the confirmation names the count.
        await page.getByLabel("Search by prefix").fill("item:00");
        await page.getByText(/^Page 1: keys 1–100\.$/).waitFor();
        await page.getByRole("button", { name: "Delete keys starting with “item:00”…" }).click();
        await dialog.getByRole("heading", { name: "Delete 100 keys starting with “item:00”?" }).waitFor();
        if (screenshots) await shot(page, "delete-prefix-light.png");
        await dialog.getByRole("button", { name: "Delete 100 keys" }).click();
        await page.getByText("No keys start with “item:00”.").waitFor();
        assert.equal(await rest.countKeys("USERS", "item:"), KEY_COUNT - 100);

        // Bulk upload of a `kv bulk put` file.
        const bulkFile = path.join(tmp("bulk"), "bulk.json");
        const entries = Array.from({ length: 20 }, (_, i) => ({ key: `bulk:${i}`, value: `b${i}`, metadata: { i } }));
        entries.push({ key: "bulk:b64", value: Buffer.from("decoded").toString("base64"), base64: true });
        writeFileSync(bulkFile, JSON.stringify(entries));
        await page.getByRole("button", { name: "Bulk upload" }).click();
        await dialog.getByLabel("Bulk file").setInputFiles(bulkFile);
        await dialog.getByRole("button", { name: "Upload" }).click();
        await page.getByRole("status").getByText("Wrote 21 keys from bulk.json.").waitFor();
        assert.equal(await rest.countKeys("USERS", "bulk:"), 21);
        assert.equal(await rest.value("USERS", "bulk:b64"), "decoded");

        // Namespaces: create, rename, delete.
        await page.getByRole("link", { name: "Namespaces" }).click();
        await page.getByRole("button", { name: "Create namespace" }).click();
        await dialog.getByLabel("Title").fill("made-in-explorer");
        await dialog.getByRole("button", { name: "Create" }).click();
        await page.getByRole("heading", { name: "made-in-explorer", level: 1 }).waitFor();
        const made = (await rest.json("?per_page=100")).result.find((ns) => ns.title === "made-in-explorer");
        assert.ok(made && !made.unregistered);
        await page.getByRole("link", { name: "Namespaces" }).click();
        await page.getByRole("button", { name: "Rename made-in-explorer" }).click();
        await dialog.getByLabel("New title").fill("renamed-in-explorer");
        await dialog.getByRole("button", { name: "Rename" }).click();
        await page.getByRole("link", { name: "renamed-in-explorer" }).waitFor();
        assert.equal((await rest.json(`/${made.id}`)).result.title, "renamed-in-explorer");
        await page.getByRole("button", { name: "Delete renamed-in-explorer" }).click();
        await dialog.getByText(`This deletes the namespace ${made.id} and every key in it.`).waitFor();
        await dialog.getByRole("button", { name: "Delete namespace" }).click();
        await page.getByRole("link", { name: "renamed-in-explorer" }).waitFor({ state: "detached" });
        assert.equal((await rest.json(`/${made.id}`)).success, false);

        // Only the one 400 provoked on purpose (Chromium logs failed loads).
        assert.deepEqual(problems.console, ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]);
        assert.deepEqual(problems.foreign, []);
        assert.ok(problems.pages.length > 10 && problems.pages.every((limit) => limit >= 10 && limit <= 1000), String(problems.pages));
        if (mf) assert.equal(await (await mf.getKVNamespace("USERS")).get("bulk:3"), "b3"); // the binding sees the page's edits
      } finally {
        await page.close();
        await api.close();
        await mf?.dispose();
      }
    });
  });
}

describe("explorer with a required token", () => {
  test("the printed URL's fragment token is kept in sessionStorage and taken off the address bar; without it, the page asks", TIMEOUT, async () => {
    const dir = path.join(tmp("token"), "kv");
    const writer = new Miniflare({ kvNamespaces: ["SECRET"], kvPersist: dir });
    await (await writer.getKVNamespace("SECRET")).put("k", "v");
    await writer.dispose();
    const api = await startKvApi(dir, { apiToken: "page-token-123" });
    assert.equal(api.explorerUrl, `http://127.0.0.1:${api.port}/#token=page-token-123`);
    const { page, problems } = await openPage(api);
    try {
      await page.getByRole("link", { name: "SECRET" }).waitFor();
      assert.equal(new URL(page.url()).hash, "");
      assert.equal(await page.evaluate(() => sessionStorage.getItem("miniflare-kv-explorer:token")), "page-token-123");
      assert.deepEqual(problems.console, []);

      // A new tab without the fragment: the API refuses, the page asks for the token.
      // The refused requests are the only console errors (Chromium's line per 403).
      const bare = await context.newPage();
      const bareProblems = watch(bare, new URL(api.explorerUrl).origin);
      await bare.goto(api.explorerUrl.replace(/#.*$/, ""));
      const dialog = bare.getByRole("dialog", { name: "API token needed" });
      await dialog.waitFor();
      await dialog.getByLabel("API token").fill("page-token-123");
      await dialog.getByRole("button", { name: "Use token" }).click();
      await bare.getByRole("link", { name: "SECRET" }).waitFor();
      assert.ok(bareProblems.failed.length > 0 && bareProblems.failed.every((line) => line.startsWith("403 ")), bareProblems.failed.join(", "));
      onlyNetworkErrors(bareProblems);
      assert.deepEqual(bareProblems.foreign, []);
      await bare.close();

      // A deep link opened without the token asks too, then shows the key.
      const deep = await context.newPage();
      const deepProblems = watch(deep, new URL(api.explorerUrl).origin);
      await deep.goto(`http://127.0.0.1:${api.port}/namespaces/SECRET?key=k`);
      await deep.getByRole("dialog", { name: "API token needed" }).getByLabel("API token").fill("page-token-123");
      await deep.getByRole("dialog", { name: "API token needed" }).getByRole("button", { name: "Use token" }).click();
      await deep.locator(".key-panel").getByRole("heading", { name: "k", exact: true }).waitFor();
      onlyNetworkErrors(deepProblems);
      await deep.close();
    } finally {
      await page.close();
      await api.close();
    }
  });
});

describe("miniflare kv explore", () => {
  test("prints the explorer URL of a --persist-to directory, serves the page until Ctrl-C", TIMEOUT, async () => {
    const { spawn } = await import("node:child_process");
    const dir = tmp("explore-cli");
    const writer = new Miniflare({ kvNamespaces: ["FROM_NODE"], kvPersist: path.join(dir, "data") });
    await (await writer.getKVNamespace("FROM_NODE")).put("k", "v");
    await writer.dispose();
    const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "bin", "miniflare.js");
    const child = spawn(process.execPath, [bin, "kv", "explore", "--persist-to", "./data", "--port", "0"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const exited = new Promise((resolve) => child.on("close", resolve));
    const url = await new Promise((resolve, reject) => {
      child.stdout.setEncoding("utf8").on("data", (d) => {
        stdout += d;
        const found = /^KV explorer: (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout);
        if (found) resolve(found[1]);
      });
      child.on("close", () => reject(new Error(`exited early:\n${stdout}\n${stderr}`)));
    });
    assert.match(stdout, /^KV data: \.\/data$/m);
    const page = await context.newPage();
    try {
      await page.goto(url);
      await page.getByRole("row", { name: /FROM_NODE/ }).getByText("unregistered").waitFor();
    } finally {
      await page.close();
      child.kill("SIGINT");
    }
    assert.equal(await exited, 0, stderr);
  });
});

describe("explorer on stale links", () => {
  test("a link to a deleted key or namespace says so; the only console errors are Chromium's lines for those 404s", TIMEOUT, async () => {
    const dir = path.join(tmp("stale"), "kv");
    const writer = new Miniflare({ kvNamespaces: ["NS"], kvPersist: dir });
    await (await writer.getKVNamespace("NS")).put("kept", "v");
    await writer.dispose();
    const api = await startKvApi(dir);
    const origin = new URL(api.explorerUrl).origin;
    const { page, problems } = await openPage(api, `${origin}/namespaces/NS?key=missing`);
    try {
      const panel = page.locator(".key-panel");
      await panel.getByRole("heading", { name: "missing" }).waitFor();
      await panel.getByRole("alert").waitFor();
      assert.match(await panel.getByRole("alert").innerText(), /not found/i);
      await page.getByRole("link", { name: "kept" }).waitFor(); // the namespace view still works
      // The value and the metadata are asked for side by side: two 404s.
      assert.deepEqual(problems.failed.map((line) => line.replace(/\/accounts\/[^/]+\//, "/accounts/…/")).sort(), [
        "404 /client/v4/accounts/…/storage/kv/namespaces/NS/metadata/missing",
        "404 /client/v4/accounts/…/storage/kv/namespaces/NS/values/missing",
      ]);
      onlyNetworkErrors(problems);
      await panel.getByRole("button", { name: "Close" }).click();
      await page.waitForURL(`${origin}/namespaces/NS`);

      await page.goto(`${origin}/namespaces/gone?key=missing`);
      await page.getByRole("alert").getByText('KV namespace "gone" not found.').waitFor();
      await page.getByRole("link", { name: "All namespaces" }).waitFor();
      onlyNetworkErrors(problems);
      assert.equal(problems.failed.length, 3);
      assert.deepEqual(problems.foreign, []);
    } finally {
      await page.close();
      await api.close();
    }
  });
});

// ---------------------------------------------------------------- wrangler:

const WRANGLER = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "node_modules", ".bin", "wrangler");

/** The real wrangler 4 CLI (a devDependency), local mode, in `project`. */
async function wrangler(project, ...args) {
  const { execFile } = await import("node:child_process");
  return new Promise((resolve, reject) => {
    execFile(WRANGLER, args, { cwd: project, env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" }, timeout: 120_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`wrangler ${args.join(" ")}: ${error.message}\n${stdout}\n${stderr}`)) : resolve(stdout.trim()),
    );
  });
}

describe("explorer on a wrangler: store (wrangler 4's .wrangler/state)", () => {
  let project;
  let state;
  let api;
  let page;
  let problems;
  before(async () => {
    project = tmp("wrangler-project");
    state = path.join(project, ".wrangler", "state");
    writeFileSync(
      path.join(project, "wrangler.jsonc"),
      JSON.stringify({ name: "app", main: "worker.js", compatibility_date: "2025-01-01", kv_namespaces: [{ binding: "CACHE", id: "cache-id-123" }] }),
    );
    writeFileSync(path.join(project, "worker.js"), "export default { fetch: () => new Response('ok') };\n");
    // Data wrangler itself wrote (its Miniflare 4 SQLite + blob layout).
    await wrangler(project, "kv", "key", "put", "--local", "--persist-to", state, "--binding", "CACHE", "greeting", "hello from wrangler");
    await wrangler(project, "kv", "key", "put", "--local", "--persist-to", state, "--namespace-id", "other-ns-456", "profile", '{"name":"Ada"}', "--metadata", '{"by":"wrangler"}');
    api = await startKvApi(`wrangler:${state}`, { bindings: new Map([["CACHE", "cache-id-123"]]) });
    // And a namespace made through our own API on the same store.
    const base = `${api.url}/accounts/any/storage/kv/namespaces`;
    const made = await (await fetch(base, { method: "POST", body: JSON.stringify({ title: "made-by-api" }) })).json();
    assert.ok(made.success, JSON.stringify(made));
    await fetch(`${base}/${made.result.id}/values/k`, { method: "PUT", body: "api value" });
    // A second key next to wrangler's (deleting the only key of a namespace
    // that was never registered makes the namespace itself disappear).
    await fetch(`${base}/other-ns-456/values/second`, { method: "PUT", body: "written through our API" });
    ({ page, problems } = await openPage(api));
  });
  after(async () => {
    await page?.close();
    await api?.close();
  });

  test("lists wrangler's namespaces and ours; opens, edits and deletes a key wrangler wrote, and wrangler reads the result", TIMEOUT, async () => {
    const rows = page.locator("tbody tr");
    await page.getByRole("link", { name: "made-by-api" }).waitFor();
    const cache = page.getByRole("row", { name: /cache-id-123/ });
    await cache.getByRole("cell", { name: "CACHE", exact: true }).waitFor(); // the binding from the config
    await cache.getByRole("cell", { name: "1", exact: true }).waitFor(); // its key count
    await page.getByRole("row", { name: /other-ns-456/ }).getByRole("cell", { name: "2", exact: true }).waitFor();
    assert.equal(await rows.count(), 3);

    await page.getByRole("link", { name: "other-ns-456" }).first().click();
    await page.waitForURL(/\/namespaces\/other-ns-456$/);
    await page.getByRole("link", { name: "profile" }).click();
    const panel = page.locator(".key-panel");
    await panel.getByRole("heading", { name: "profile" }).waitFor();
    assert.equal(await panel.getByRole("tab", { name: "JSON" }).getAttribute("aria-selected"), "true");
    assert.match(await panel.getByRole("tabpanel").innerText(), /"name": "Ada"/);
    assert.match(await panel.locator(".facts").innerText(), /"by": "wrangler"/);

    await panel.getByRole("button", { name: "Edit" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByLabel("Text", { exact: true }).check();
    await dialog.getByLabel("Value", { exact: true }).fill("edited in the browser");
    await dialog.getByRole("button", { name: "Save" }).click();
    await panel.getByText("edited in the browser").waitFor();
    assert.equal(await wrangler(project, "kv", "key", "get", "--local", "--persist-to", state, "--namespace-id", "other-ns-456", "profile", "--text"), "edited in the browser");

    await panel.getByRole("button", { name: "Delete key" }).click();
    await dialog.getByRole("button", { name: "Delete key" }).click();
    await page.getByRole("link", { name: "profile" }).waitFor({ state: "detached" });
    assert.deepEqual(await page.locator("tbody tr[data-key]").evaluateAll((trs) => trs.map((tr) => tr.dataset.key)), ["second"]);
    assert.equal(await wrangler(project, "kv", "key", "get", "--local", "--persist-to", state, "--namespace-id", "other-ns-456", "profile", "--text"), "Value not found");
    // wrangler's other key is untouched and still shown.
    await page.goto(`${new URL(api.explorerUrl).origin}/namespaces/cache-id-123?key=greeting`);
    await panel.getByText("hello from wrangler").waitFor();

    assert.deepEqual(problems.console, []);
    assert.deepEqual(problems.foreign, []);
  });

  // As on every other store, namespaces that hold data but were never
  // registered (here: written by wrangler) are marked `unregistered`.
  test("namespaces only wrangler wrote are marked unregistered, as on the other stores", TIMEOUT, async () => {
    await page.goto(new URL(api.explorerUrl).origin + "/");
    await page.getByRole("link", { name: "made-by-api" }).waitFor();
    assert.equal(await page.getByRole("row", { name: /made-by-api/ }).getByText("unregistered").count(), 0);
    await page.getByRole("row", { name: /other-ns-456/ }).getByText("unregistered").waitFor({ timeout: 2000 });
    await page.getByRole("row", { name: /cache-id-123/ }).getByText("unregistered").waitFor({ timeout: 2000 });
  });
});

// ------------------------------------------------------------- 100,000 keys

const BIG = 100_000;
const bigKey = (i) => `user:${String(i).padStart(6, "0")}`;

for (const backend of backends.filter((b) => b.name === "memory" || b.name === "directory")) {
  describe(`explorer on 100,000 keys (${backend.name})`, () => {
    test("no response carries more than one page of keys (≤ 1,000), however the view is paged, searched or counted", TIMEOUT, async () => {
      const persist = await backend.persist();
      const mf = new Miniflare({ kvNamespaces: ["BIG"], ...(persist === false ? {} : { kvPersist: persist }) });
      const kv = await mf.getKVNamespace("BIG");
      for (let i = 0; i < BIG; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => kv.put(bigKey(i + j), `v${i + j}`)));
      if (persist !== false) await mf.dispose();
      const api = await startKvApi(persist === false ? mf : persist);
      const { page, problems } = await openPage(api);
      // Every answer to a key listing, counted from its body.
      const listed = [];
      page.on("response", (response) => {
        if (!/\/keys\?/.test(response.url())) return;
        listed.push(response.json().then((body) => body.result.length, () => null)); // null: aborted while typing
      });
      try {
        await page.getByRole("row", { name: /BIG/ }).getByText("1,000+").waitFor();
        await page.getByRole("link", { name: "BIG", exact: true }).click();
        await page.getByText("Page 1: keys 1–100 (more follow).").waitFor();
        for (const n of [2, 3]) {
          await page.getByRole("button", { name: "Next page →" }).click();
          await page.getByText(`Page ${n}: keys ${(n - 1) * 100 + 1}–${n * 100} (more follow).`).waitFor();
        }
        await page.getByLabel("Keys per page").selectOption("1000");
        await page.getByText("Page 1: keys 1–1,000 (more follow).").waitFor();
        await page.getByRole("button", { name: "Next page →" }).click();
        await page.getByText("Page 2: keys 1,001–2,000 (more follow).").waitFor();

        await page.getByLabel("Search by prefix").pressSequentially("user:0999");
        await page.getByText(/^Page 1: keys 1–100\.$/).waitFor();
        assert.equal(await page.locator("tbody tr[data-key]").first().getAttribute("data-key"), "user:099900");

        // "Delete all keys…" counts a page at a time, then names the count.
        await page.getByLabel("Search by prefix").fill("");
        await page.getByText("Page 1: keys 1–1,000 (more follow).").waitFor();
        await page.getByRole("button", { name: "Delete all keys…" }).click();
        const dialog = page.getByRole("dialog");
        await dialog.getByRole("heading", { name: "Delete all 100,000 keys?" }).waitFor({ timeout: 120_000 });
        await dialog.getByRole("button", { name: "Cancel" }).click();

        const sizes = (await Promise.all(listed)).filter((n) => n !== null);
        assert.ok(sizes.length >= 100 + 6, `only ${sizes.length} listings`); // the count alone takes 100
        assert.ok(sizes.every((n) => n <= 1000), `a listing returned ${Math.max(...sizes)} keys`);
        assert.ok(problems.pages.every((limit) => limit >= 10 && limit <= 1000), String(problems.pages));
        assert.deepEqual(problems.console, []);
        // Nothing was deleted (a persistent store is read back by a new instance).
        const reader = persist === false ? mf : new Miniflare({ kvNamespaces: ["BIG"], kvPersist: persist });
        try {
          const back = await reader.getKVNamespace("BIG");
          assert.equal(await back.get(bigKey(0)), "v0");
          assert.equal(await back.get(bigKey(BIG - 1)), `v${BIG - 1}`);
        } finally {
          if (reader !== mf) await reader.dispose();
        }
      } finally {
        await page.close();
        await api.close();
        await mf.dispose();
      }
    });
  });
}

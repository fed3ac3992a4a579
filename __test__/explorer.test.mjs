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
async function openPage(api) {
  const page = await context.newPage();
  const origin = new URL(api.explorerUrl).origin;
  const problems = { console: [], foreign: [], pages: [] };
  page.on("console", (message) => {
    if (message.type() === "error") problems.console.push(message.text());
  });
  page.on("pageerror", (error) => problems.console.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    const url = request.url();
    if (!url.startsWith(`${origin}/`) && !url.startsWith("blob:") && !url.startsWith("data:")) problems.foreign.push(url);
    // No request asks for more than one page of keys.
    const keys = /\/keys\?(.*)$/.exec(url);
    if (keys) problems.pages.push(Number(new URLSearchParams(keys[1]).get("limit")));
  });
  await page.goto(api.explorerUrl);
  await page.waitForSelector("html[data-ready]");
  return { page, problems };
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
      const bare = await context.newPage();
      await bare.goto(api.explorerUrl.replace(/#.*$/, ""));
      const dialog = bare.getByRole("dialog", { name: "API token needed" });
      await dialog.waitFor();
      await dialog.getByLabel("API token").fill("page-token-123");
      await dialog.getByRole("button", { name: "Use token" }).click();
      await bare.getByRole("link", { name: "SECRET" }).waitFor();
      await bare.close();
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

// kvConsistency: "eventual" (issue 17) under Vitest (every pool): fake timers move the
// per-location caches, and a Worker's requests run in their cf.colo. The
// profile Worker below has the read-after-write bug the README describes: it
// saves, then redirects to a page that reads the profile back from KV.
import { afterEach, expect, test, vi } from "vitest";
import { Miniflare } from "miniflare-kv";

const START = Date.UTC(2030, 0, 1);

const PROFILE_WORKER = `export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (request.method === "POST") {
      await env.PROFILES.put("profile:1", await request.text());
      return Response.redirect(new URL("/profile/1", url).href, 303);
    }
    return new Response((await env.PROFILES.get("profile:1")) ?? "no profile");
  },
};`;

let mf;
afterEach(async () => {
  vi.useRealTimers();
  await mf?.dispose();
  mf = undefined;
});

/** Save at one colo, then follow the redirect, which lands at another. */
async function saveThenView(name) {
  await mf.dispatchFetch("http://localhost/profile/1", { method: "POST", body: name, cf: { colo: "AMS" } });
  return (await mf.dispatchFetch("http://localhost/profile/1", { cf: { colo: "LHR" } })).text();
}

test("the read-after-write bug passes with the default (strong) consistency", async () => {
  mf = new Miniflare({ modules: true, script: PROFILE_WORKER, kvNamespaces: ["PROFILES"] });
  await mf.dispatchFetch("http://localhost/profile/1", { cf: { colo: "LHR" } });
  expect(await saveThenView("Ada")).toBe("Ada");
  expect(await saveThenView("Grace")).toBe("Grace");
});

test("eventual consistency catches it; Vitest's fake clock shows the copy at LHR expiring after 60 s", async () => {
  vi.useFakeTimers();
  vi.setSystemTime(START);
  mf = new Miniflare({ modules: true, script: PROFILE_WORKER, kvNamespaces: ["PROFILES"], kvConsistency: "eventual" });
  expect(await saveThenView("Ada")).toBe("Ada"); // LHR had nothing cached yet
  vi.setSystemTime(START + 5_000);
  expect(await saveThenView("Grace")).toBe("Ada"); // what a user in London would see
  vi.setSystemTime(START + 59_999);
  expect(await (await mf.dispatchFetch("http://localhost/profile/1", { cf: { colo: "LHR" } })).text()).toBe("Ada");
  vi.setSystemTime(START + 60_000);
  expect(await (await mf.dispatchFetch("http://localhost/profile/1", { cf: { colo: "LHR" } })).text()).toBe("Grace");
});

test("namespaces per location, cacheTtl and settleKv() under Vitest's fake timers", async () => {
  vi.useFakeTimers();
  vi.setSystemTime(START);
  mf = new Miniflare({ kvNamespaces: ["NS"], kvConsistency: "eventual" });
  const ams = await mf.getKVNamespace("NS", { location: "AMS" });
  const lhr = await mf.getKVNamespace("NS", { location: "LHR" });
  expect(await lhr.get("flag", { cacheTtl: 300 })).toBeNull(); // "not found" cached for 300 s
  await ams.put("flag", "on");
  expect(await ams.get("flag")).toBe("on");
  vi.setSystemTime(START + 299_000);
  expect(await lhr.get("flag")).toBeNull();
  vi.setSystemTime(START + 300_000);
  expect(await lhr.get("flag")).toBe("on");

  await ams.put("flag", "off");
  expect(await lhr.get("flag")).toBe("on");
  await mf.settleKv();
  expect(await lhr.get("flag")).toBe("off");
});

// The node:test helper of miniflare-kv/testing: useMiniflareKv(options) gives
// this file one Miniflare instance (seeded from a file) with the isolation
// rules of the Jest environment and the Vitest set-up file: the file's and
// the enclosing kv.describe blocks' before hooks' writes are kept, each
// test's are undone. Tests of a file run in order, so a later test sees what
// an earlier one left.
import assert from "node:assert/strict";
import { after, before, beforeEach, mock, test } from "node:test";
import { useMiniflareKv, getMiniflareBindings, getMiniflare } from "miniflare-kv/testing";

const kv = useMiniflareKv({
  kvNamespaces: ["NS"],
  kvSeed: { NS: "__test__/fixtures/testkit/ns.json" }, // relative to the current directory, as new Miniflare() takes it
  modules: true,
  script: `export default { async fetch(request, env) {
    const next = parseInt(await env.NS.get("count")) + 1;
    await env.NS.put("count", String(next));
    return new Response(String(next));
  } }`,
});

let ns;
before(async () => {
  await kv.ready; // Node 20 starts root-level before hooks without waiting for earlier ones
  ns = kv.getMiniflareBindings().NS;
  await ns.put("file-level", "from the file's before");
});

// Registered after useMiniflareKv: runs inside the test's frame.
beforeEach(async () => {
  await ns.put("each", "from beforeEach");
});

test("seeded data and the file-level write are there", async () => {
  assert.deepEqual(await ns.getWithMetadata("greeting"), { value: "hello from the seed", metadata: { seeded: true }, cacheStatus: null });
  assert.equal(await ns.get("file-level"), "from the file's before");
  assert.equal(await ns.get("each"), "from beforeEach");
  // The imported helpers reach the same kit.
  assert.equal(getMiniflareBindings().NS, ns);
  assert.equal(getMiniflare(), kv.getMiniflare());
});

test("a test writes, overwrites and deletes", async () => {
  await ns.put("written", "by a test");
  await ns.put("greeting", "overwritten");
  await ns.delete("file-level");
  assert.equal((await (await kv.getMiniflare().dispatchFetch("http://localhost/")).text()), "2");
});

test("the next test sees none of it", async () => {
  assert.equal(await ns.get("written"), null);
  assert.equal(await ns.get("greeting"), "hello from the seed");
  assert.equal(await ns.get("file-level"), "from the file's before");
  assert.equal(await ns.get("count"), "1");
});

kv.describe("an isolated describe", () => {
  before(async () => {
    await ns.put("outer", "from the describe's before");
  });
  after(async () => {
    // The block's own after hooks still run inside its frame.
    assert.equal(await ns.get("outer"), "from the describe's before");
  });

  test("sees the file's and the describe's before writes", async () => {
    assert.equal(await ns.get("file-level"), "from the file's before");
    assert.equal(await ns.get("outer"), "from the describe's before");
    await ns.put("outer", "changed by a test");
  });

  test("a test's change to describe-level data is undone", async () => {
    assert.equal(await ns.get("outer"), "from the describe's before");
  });

  kv.describe("a nested describe", () => {
    before(async () => {
      await ns.put("inner", "from the nested before");
    });
    test("sees every enclosing before", async () => {
      assert.equal(await ns.get("outer"), "from the describe's before");
      assert.equal(await ns.get("inner"), "from the nested before");
    });
  });

  test("after the nested block its before writes are gone", async () => {
    assert.equal(await ns.get("inner"), null);
  });
});

test("after the describe its before writes are gone", async () => {
  assert.equal(await ns.get("outer"), null);
  assert.equal(await ns.get("file-level"), "from the file's before");
});

test("node:test's mocked Date moves KV time", async (t) => {
  const start = Date.UTC(2030, 0, 1);
  mock.timers.enable({ apis: ["Date"], now: start });
  t.after(() => mock.timers.reset());
  await ns.put("session", "alive", { expirationTtl: 60 });
  assert.deepEqual((await ns.list({ prefix: "session" })).keys, [{ name: "session", expiration: start / 1000 + 60 }]);
  mock.timers.setTime(start + 59_999);
  assert.equal(await ns.get("session"), "alive");
  mock.timers.setTime(start + 60_000);
  assert.equal(await ns.get("session"), null);
  assert.deepEqual((await ns.list({ prefix: "session" })).keys, []);
});

test("the expiring key of the previous test is gone with the real clock too", async () => {
  assert.equal(await ns.get("session"), null);
});

// miniflare-kv as a Vitest user has it: installed into node_modules and
// imported by name from an ES module, with Vitest's fake timers. Run under
// the default pool (forks) and under --pool=threads, where the addon loads
// in worker threads. Named *.spec.js so `node --test __test__/` skips it.
import vm from "node:vm";
import { afterEach, beforeEach, expect, test, vi } from "vitest";
import { Miniflare } from "miniflare-kv";

const START = Date.UTC(2030, 0, 1); // a fixed "now" for the fake clock

let mf;
let ns;

beforeEach(async () => {
  mf = new Miniflare({ kvNamespaces: ["TEST_NAMESPACE"] });
  ns = await mf.getKVNamespace("TEST_NAMESPACE");
});

afterEach(async () => {
  vi.useRealTimers();
  await mf.dispose();
});

test("the counter: put 1, increment, read 2", async () => {
  await ns.put("count", "1");
  const next = parseInt(await ns.get("count")) + 1;
  await ns.put("count", next.toString());
  expect(await ns.get("count")).toBe("2");
});

test("Vitest's fake clock expires a key written with expirationTtl: 60", async () => {
  vi.useFakeTimers();
  vi.setSystemTime(START);

  await ns.put("session", "alive", { expirationTtl: 60 });
  await ns.put("forever", "kept");
  expect(await ns.get("session")).toBe("alive");
  expect((await ns.list()).keys).toEqual([
    { name: "forever" },
    { name: "session", expiration: START / 1000 + 60 },
  ]);

  vi.setSystemTime(START + 61_000);
  expect(await ns.get("session")).toBeNull();
  expect(await ns.getWithMetadata("session")).toEqual({ value: null, metadata: null, cacheStatus: null });
  const page = await ns.list();
  expect(page.keys).toEqual([{ name: "forever" }]);
  expect(page.list_complete).toBe(true);
});

test("arrayBuffer reads are ArrayBuffers of the test's realm", async () => {
  await ns.put("bytes", "\u00e9!"); // UTF-8: c3 a9 21
  const buffer = await ns.get("bytes", "arrayBuffer");
  expect(buffer instanceof ArrayBuffer).toBe(true);
  expect(Array.from(new Uint8Array(buffer))).toEqual([0xc3, 0xa9, 0x21]);

  const { value } = await ns.getWithMetadata("bytes", "arrayBuffer");
  expect(value instanceof ArrayBuffer).toBe(true);
});

test("put accepts an ArrayBuffer and a view created in the test's realm", async () => {
  const buffer = new ArrayBuffer(4);
  new Uint8Array(buffer).set([1, 2, 3, 4]);
  await ns.put("buffer", buffer);
  expect(Array.from(new Uint8Array(await ns.get("buffer", "arrayBuffer")))).toEqual([1, 2, 3, 4]);

  // Only the view's window is stored.
  await ns.put("window", new Uint8Array(buffer, 1, 2));
  expect(Array.from(new Uint8Array(await ns.get("window", "arrayBuffer")))).toEqual([2, 3]);

  // The stored bytes are a copy: changing the buffer afterwards changes nothing.
  new Uint8Array(buffer).fill(0);
  expect(Array.from(new Uint8Array(await ns.get("buffer", "arrayBuffer")))).toEqual([1, 2, 3, 4]);
});

test("put accepts an ArrayBuffer and a view from another realm", async () => {
  const foreignBuffer = vm.runInNewContext("new Uint8Array([5, 6, 7]).buffer");
  expect(foreignBuffer instanceof ArrayBuffer).toBe(false);
  await ns.put("foreign-buffer", foreignBuffer);
  expect(Array.from(new Uint8Array(await ns.get("foreign-buffer", "arrayBuffer")))).toEqual([5, 6, 7]);

  const foreignView = vm.runInNewContext("new DataView(new Uint8Array([8, 9, 10, 11]).buffer, 1, 2)");
  await ns.put("foreign-view", foreignView);
  expect(Array.from(new Uint8Array(await ns.get("foreign-view", "arrayBuffer")))).toEqual([9, 10]);
});

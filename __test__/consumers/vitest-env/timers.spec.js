// Vitest's fake timers move KV time: KV reads Date.now() of the test's realm,
// which vi.useFakeTimers() replaces (in every pool).
import { afterEach, expect, test, vi } from "vitest";
import { getMiniflareBindings } from "miniflare-kv/testing";

const { NS } = getMiniflareBindings();
const START = Date.UTC(2030, 0, 1);

afterEach(() => vi.useRealTimers());

test("a key written with expirationTtl: 60 expires when the fake clock passes it", async () => {
  vi.useFakeTimers();
  vi.setSystemTime(START);
  await NS.put("session", "alive", { expirationTtl: 60 });
  expect((await NS.list({ prefix: "session" })).keys).toStrictEqual([{ name: "session", expiration: START / 1000 + 60 }]);

  vi.setSystemTime(START + 59_000);
  expect(await NS.get("session")).toBe("alive");
  vi.advanceTimersByTime(1_000); // expiration <= now: gone
  expect(await NS.get("session")).toBeNull();
  expect((await NS.list({ prefix: "session" })).keys).toStrictEqual([]);
  expect(await NS.get("greeting")).toBe("hello from the seed"); // seeded keys never expire
});

test("an absolute expiration follows the fake clock too", async () => {
  vi.useFakeTimers({ now: START });
  await NS.put("until", "set", { expiration: START / 1000 + 120 });
  vi.setSystemTime(START + 119_999);
  expect(await NS.get("until")).toBe("set");
  vi.setSystemTime(START + 120_000);
  expect(await NS.get("until")).toBeNull();
});

test("the expiring keys of earlier tests are gone, whatever the clock", async () => {
  vi.useFakeTimers({ now: START });
  expect(await NS.get("session")).toBeNull();
  expect(await NS.get("until")).toBeNull();
});

// Jest's fake timers move KV time: the environment's KV code runs in the
// test's realm, whose Date jest.useFakeTimers() replaces.
const { NS } = getMiniflareBindings();
const START = Date.UTC(2030, 0, 1);

afterEach(() => jest.useRealTimers());

test("a key written with expirationTtl: 60 expires when the fake clock passes it", async () => {
  jest.useFakeTimers();
  jest.setSystemTime(START);
  await NS.put("session", "alive", { expirationTtl: 60 });
  expect((await NS.list({ prefix: "session" })).keys).toStrictEqual([{ name: "session", expiration: START / 1000 + 60 }]);

  jest.setSystemTime(START + 59_000);
  expect(await NS.get("session")).toBe("alive");
  jest.advanceTimersByTime(1_000); // expiration <= now: gone
  expect(await NS.get("session")).toBeNull();
  expect((await NS.list({ prefix: "session" })).keys).toStrictEqual([]);
  expect(await NS.get("greeting")).toBe("hello from the seed"); // seeded keys never expire
});

test("an absolute expiration follows the fake clock too", async () => {
  jest.useFakeTimers({ now: START });
  await NS.put("until", "set", { expiration: START / 1000 + 120 });
  jest.setSystemTime(START + 119_999);
  expect(await NS.get("until")).toBe("set");
  jest.setSystemTime(START + 120_000);
  expect(await NS.get("until")).toBeNull();
});

test("the expiring keys of earlier tests are gone, whatever the clock", async () => {
  jest.useFakeTimers({ now: START });
  expect(await NS.get("session")).toBeNull();
  expect(await NS.get("until")).toBeNull();
});

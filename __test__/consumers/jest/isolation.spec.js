// Per-test isolated storage with Jest's global hooks: data seeded in
// beforeAll is there in every test; whatever a test writes is undone when
// it ends (miniflare-kv/testing's useIsolatedStorage), under Jest's fake
// timers too.
const { Miniflare } = require("miniflare-kv");
const { useIsolatedStorage } = require("miniflare-kv/testing");

const START = Date.UTC(2030, 0, 1);

let mf;
let ns;

beforeAll(async () => {
  mf = new Miniflare({ kvNamespaces: ["NS"] });
  ns = await mf.getKVNamespace("NS");
  await ns.put("seeded", "from beforeAll", { metadata: { seed: 1 } });
});

afterAll(() => mf.dispose());

useIsolatedStorage(() => mf);

afterEach(() => jest.useRealTimers());

test("A: writes keys, overwrites and deletes the seeded one", async () => {
  await ns.put("written-by-a", "A");
  await ns.put("seeded", "overwritten by A");
  await ns.delete("seeded");
  expect((await ns.list()).keys).toEqual([{ name: "written-by-a" }]);
});

test("B: A's keys are gone and the seeded data is back", async () => {
  expect(await ns.get("written-by-a")).toBeNull();
  expect(await ns.getWithMetadata("seeded")).toEqual({
    value: "from beforeAll",
    metadata: { seed: 1 },
    cacheStatus: null,
  });
  expect((await ns.list()).keys).toEqual([{ name: "seeded", metadata: { seed: 1 } }]);
});

test("C: under fake timers, a key that expires in the test is gone afterwards too", async () => {
  jest.useFakeTimers();
  jest.setSystemTime(START);
  await ns.put("session", "alive", { expirationTtl: 60 });
  jest.setSystemTime(START + 61_000);
  expect(await ns.get("session")).toBeNull();
  expect(await ns.get("seeded")).toBe("from beforeAll");
});

describe("a describe with its own seed data", () => {
  // Describe-level isolation by hand: push before seeding, pop after.
  beforeAll(async () => {
    await mf.pushStorage();
    await ns.put("describe-seed", "only inside this describe");
  });
  afterAll(() => mf.popStorage());

  test("D: sees both seeds, and writes", async () => {
    expect(await ns.get("seeded")).toBe("from beforeAll");
    expect(await ns.get("describe-seed")).toBe("only inside this describe");
    await ns.put("written-by-d", "D");
  });

  test("E: D's write is gone, the describe's seed is still there", async () => {
    expect(await ns.get("written-by-d")).toBeNull();
    expect(await ns.get("describe-seed")).toBe("only inside this describe");
  });
});

test("F: after the describe, only the file's seed remains", async () => {
  expect((await ns.list()).keys.map((k) => k.name)).toEqual(["seeded"]);
});

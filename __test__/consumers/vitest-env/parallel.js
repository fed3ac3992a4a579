// Shared by parallel-a.spec.js and parallel-b.spec.js, which Vitest runs at
// the same time in its two workers, on one kvPersist directory (the
// "directory" project's options). The kit scopes each worker's namespaces
// (kvNamespaceScope defaults to true for a persistent kvPersist), so neither
// file sees the other's writes. The files meet at barriers so that both are
// known to be running, and to have written, before they check.
import fs from "node:fs";
import path from "node:path";
import { expect, inject, test } from "vitest";
import { getMiniflareBindings } from "miniflare-kv/testing";

const FILES = ["a", "b"];
const TIMEOUT = 60_000;

async function barrier(phase, me) {
  const dir = inject("barrierDir");
  fs.writeFileSync(path.join(dir, `${phase}-${me}`), "");
  const deadline = Date.now() + TIMEOUT;
  while (FILES.some((f) => !fs.existsSync(path.join(dir, `${phase}-${f}`)))) {
    if (Date.now() > deadline) throw new Error(`parallel-*.spec.js never met at "${phase}": they must run at the same time (maxWorkers: 2).`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function parallelSuite(me) {
  const { NS } = getMiniflareBindings();

  test(`file ${me} writes the same keys as the other file and reads only its own`, async () => {
    expect(await NS.get("greeting")).toBe("hello from the seed");
    await barrier("started", me);
    for (let i = 0; i < 20; i++) await NS.put(`key-${i}`, me);
    await NS.put("greeting", `overwritten by ${me}`);
    await barrier("wrote", me);
    const values = await NS.get(Array.from({ length: 20 }, (_, i) => `key-${i}`));
    expect([...values.values()]).toStrictEqual(Array(20).fill(me));
    expect(await NS.get("greeting")).toBe(`overwritten by ${me}`);
    await barrier("checked", me);
  }, TIMEOUT);

  test(`file ${me}: the test's writes are undone on the directory too`, async () => {
    expect(await NS.get("key-0")).toBeNull();
    expect(await NS.get("greeting")).toBe("hello from the seed");
  });
}

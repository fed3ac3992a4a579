// Compiled (never run) by `npm test -- types`: a Node project's code against
// index.d.ts and lib/testing.d.ts with @types/node and no DOM lib.
import { Miniflare, startKvApi } from "miniflare-kv";
import type { DispatchFetchResponse, KVNamespace } from "miniflare-kv";
import { useIsolatedStorage, testWorkerScope, createKVNamespace, disposeKVNamespace, KVNamespace as StandaloneKVNamespace, MemoryStorage, getMiniflareBindings, getMiniflare, useMiniflareKv } from "miniflare-kv/testing";
import { Readable } from "node:stream";

async function main(): Promise<void> {
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvNamespaceScope: testWorkerScope(), script: "", bindings: { GREETING: "hi" } });
  const ns: KVNamespace = await mf.getKVNamespace("NS");
  await ns.put("k", "v", { expirationTtl: 60 });
  // Node's own web types go in and come out.
  await ns.put("stream", new ReadableStream<Uint8Array>());
  const stream: ReadableStream | null = await ns.get("stream", "stream");
  if (stream !== null) Readable.fromWeb(stream as import("node:stream/web").ReadableStream);
  const byString: DispatchFetchResponse = await mf.dispatchFetch("http://localhost/");
  const byUrl = await mf.dispatchFetch(new URL("http://localhost/"), { method: "POST", body: "x" });
  const byRequest = await mf.dispatchFetch(new Request("http://localhost/", { headers: { a: "b" } }));
  const text: string = await byString.text();
  const status: number = byUrl.status;
  const done: unknown[] = await byRequest.waitUntil();
  // @ts-expect-error dispatchFetch takes a URL string, URL or Request
  await mf.dispatchFetch(42);
  void text, status, done;
  useIsolatedStorage(() => mf, { beforeEach: (fn) => fn(), afterEach: (fn) => fn() });
  const api = await startKvApi(mf, { port: 0 });
  await api.close();
  await mf.dispose();
}
void main;

// The test kit (issue 16).
async function testKit(): Promise<void> {
  const standalone: KVNamespace = createKVNamespace({ kvPersist: "./data", id: "NS" });
  disposeKVNamespace(standalone);
  const compat: KVNamespace = new StandaloneKVNamespace(new MemoryStorage());
  await compat.put("k", "v");
  const { NS } = getMiniflareBindings<{ NS: KVNamespace }>();
  await NS.get("k");
  await getMiniflare().dispatchFetch("http://localhost/");
  const kv = useMiniflareKv({ kvNamespaces: ["NS"], kvSeed: { NS: "fixtures/ns.json" } });
  await kv.ready;
  kv.describe("block", () => {});
}
void testKit;

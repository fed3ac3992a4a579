// Compiled (never run) by `npm test` (tsc -p __test__/types): typical code a
// user writes against index.d.ts must type-check under --strict, and the
// `@ts-expect-error` lines prove wrong code is rejected (tsc fails if one of
// them stops being an error).
import { Miniflare, KVNamespace } from "miniflare-kv";
import type { KVNamespaceListResult, MiniflareOptions } from "miniflare-kv";

/** Compile-time equality of two types: `expectType<Equal<A, B>>(true)`. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
declare function expectType<T extends true>(ok: T): void;

// Options: every documented form.
const optionForms: MiniflareOptions[] = [
  {},
  { kvNamespaces: ["TEST_NAMESPACE"] },
  { kvNamespaces: { USERS: "users-id", CACHE: { id: "cache-id" } } },
  { kvNamespaces: ["A"], kvPersist: true },
  { kvNamespaces: ["A"], kvPersist: "./data/kv" },
  { kvNamespaces: ["A"], kvPersist: "redis://127.0.0.1:6380" },
  { kvNamespaces: ["A"], kvPersist: "sled:./kv.sled" },
];
// @ts-expect-error kvPersist is a boolean or a string
const badPersist: MiniflareOptions = { kvPersist: 1 };
// @ts-expect-error kvNamespaces records map to an id or { id }
const badNamespaces: MiniflareOptions = { kvNamespaces: { A: 1 } };
void optionForms, badPersist, badNamespaces;

// The README counter.
async function counter(): Promise<string | null> {
  const mf = new Miniflare({ kvNamespaces: ["TEST_NAMESPACE"] });
  const ns = await mf.getKVNamespace("TEST_NAMESPACE");
  await ns.put("count", "1");
  const current = await ns.get("count");
  expectType<Equal<typeof current, string | null>>(true);
  await ns.put("count", String(parseInt(current ?? "0") + 1));
  const result = await ns.get("count");
  await mf.setOptions({ kvNamespaces: ["TEST_NAMESPACE", "OTHER"] });
  const env = await mf.getBindings();
  expectType<Equal<typeof env, Record<string, KVNamespace>>>(true);
  await mf.dispose();
  return result;
}
void counter;

interface User {
  name: string;
  admin: boolean;
}
interface UserMeta {
  version: number;
}

async function valueTypes(ns: KVNamespace): Promise<void> {
  // Every way to ask for text.
  const t1 = await ns.get("k");
  const t2 = await ns.get("k", "text");
  const t3 = await ns.get("k", { type: "text", cacheTtl: 60 });
  const t4 = await ns.get("k", { cacheTtl: 60 });
  expectType<Equal<[typeof t1, typeof t2, typeof t3, typeof t4], [string | null, string | null, string | null, string | null]>>(true);

  // json: unknown by default, or the caller's type.
  const anyJson = await ns.get("user:1", "json");
  expectType<Equal<typeof anyJson, unknown>>(true);
  const user = await ns.get<User>("user:1", "json");
  expectType<Equal<typeof user, User | null>>(true);
  const user2 = await ns.get<User>("user:1", { type: "json", cacheTtl: 30 });
  expectType<Equal<typeof user2, User | null>>(true);
  if (user !== null) user.admin satisfies boolean;

  const buffer = await ns.get("blob", "arrayBuffer");
  expectType<Equal<typeof buffer, ArrayBuffer | null>>(true);
  if (buffer) new Uint8Array(buffer);
  const stream = await ns.get("blob", { type: "stream" });
  expectType<Equal<typeof stream, ReadableStream | null>>(true);
  if (stream) await new Response(stream).text();

  // @ts-expect-error "map" is not a value type
  await ns.get("k", "map");
  // @ts-expect-error cacheTtl is a number
  await ns.get("k", { type: "text", cacheTtl: "60" });
}
void valueTypes;

async function metadata(ns: KVNamespace): Promise<void> {
  const plain = await ns.getWithMetadata("k");
  expectType<Equal<typeof plain.value, string | null>>(true);
  expectType<Equal<typeof plain.metadata, unknown>>(true);
  expectType<Equal<typeof plain.cacheStatus, string | null>>(true);

  const withMeta = await ns.getWithMetadata<UserMeta>("k", "text");
  expectType<Equal<typeof withMeta.metadata, UserMeta | null>>(true);
  if (withMeta.metadata) withMeta.metadata.version satisfies number;

  const jsonWithMeta = await ns.getWithMetadata<User, UserMeta>("user:1", { type: "json" });
  expectType<Equal<typeof jsonWithMeta.value, User | null>>(true);
  expectType<Equal<typeof jsonWithMeta.metadata, UserMeta | null>>(true);

  const bytes = await ns.getWithMetadata<UserMeta>("blob", "arrayBuffer");
  expectType<Equal<typeof bytes.value, ArrayBuffer | null>>(true);
  const streamed = await ns.getWithMetadata("blob", { type: "stream", cacheTtl: 30 });
  expectType<Equal<typeof streamed.value, ReadableStream | null>>(true);
}
void metadata;

async function bulk(ns: KVNamespace): Promise<void> {
  const texts = await ns.get(["a", "b"]);
  expectType<Equal<typeof texts, Map<string, string | null>>>(true);
  for (const [key, value] of texts) console.log(key, value?.length);

  const users = await ns.get<User>(["user:1", "user:2"], "json");
  expectType<Equal<typeof users, Map<string, User | null>>>(true);
  const users2 = await ns.get<User>(["user:1"], { type: "json", cacheTtl: 60 });
  expectType<Equal<typeof users2, Map<string, User | null>>>(true);

  const withMeta = await ns.getWithMetadata<User, UserMeta>(["user:1"], "json");
  const entry = withMeta.get("user:1");
  if (entry) {
    expectType<Equal<typeof entry.value, User | null>>(true);
    expectType<Equal<typeof entry.metadata, UserMeta | null>>(true);
  }

  // @ts-expect-error bulk reads are "text" or "json" only
  await ns.get(["a"], "arrayBuffer");
}
void bulk;

async function writes(ns: KVNamespace): Promise<void> {
  await ns.put("s", "text");
  await ns.put("ab", new ArrayBuffer(8));
  await ns.put("view", new Uint8Array([1, 2, 3]));
  await ns.put("dv", new DataView(new ArrayBuffer(4)));
  await ns.put("stream", new Blob(["streamed"]).stream());
  await ns.put("ttl", "v", { expirationTtl: 60 });
  await ns.put("abs", "v", { expiration: Math.floor(Date.now() / 1000) + 120, metadata: { version: 1 } });
  await ns.put("nometa", "v", { metadata: null });
  const deleted = await ns.delete("s");
  expectType<Equal<typeof deleted, void>>(true);

  // @ts-expect-error objects are not values
  await ns.put("k", { an: "object" });
  // @ts-expect-error numbers are not values (they would be stored as text)
  await ns.put("k", 123);
  // @ts-expect-error expirationTtl is a number
  await ns.put("k", "v", { expirationTtl: "60" });
  // @ts-expect-error unknown option
  await ns.put("k", "v", { ttl: 60 });
}
void writes;

// Paging through every key: `cursor` exists only while `list_complete` is false.
async function allKeys(ns: KVNamespace, prefix: string): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page: KVNamespaceListResult<UserMeta> = await ns.list<UserMeta>({ prefix, cursor, limit: 100 });
    for (const key of page.keys) {
      names.push(key.name);
      if (key.expiration !== undefined) key.expiration satisfies number;
      if (key.metadata !== undefined) key.metadata.version satisfies number;
    }
    if (page.list_complete) {
      // @ts-expect-error a complete page has no cursor
      void page.cursor;
      break;
    }
    cursor = page.cursor;
  }
  const first = await ns.list();
  expectType<Equal<typeof first.cacheStatus, string | null>>(true);
  return names;
}
void allKeys;

// Typed keys narrow every method.
async function typedKeys(mf: Miniflare): Promise<void> {
  const ns = await mf.getKVNamespace<"config" | `user:${number}`>("CONFIG");
  await ns.get("config");
  await ns.put("user:1", "x");
  // @ts-expect-error not one of the namespace's keys
  await ns.get("other");
  const page = await ns.list();
  for (const key of page.keys) expectType<Equal<typeof key.name, "config" | `user:${number}`>>(true);
}
void typedKeys;

// @ts-expect-error namespaces come from getKVNamespace(), not a constructor
new KVNamespace();
// @ts-expect-error the binding name is required
void new Miniflare().getKVNamespace();

// Running a Worker against the bindings.
async function workers(): Promise<void> {
  const mf = new Miniflare({
    modules: true,
    script: `export default { async fetch(req, env) { return new Response(await env.NS.get("k")); } }`,
    kvNamespaces: ["NS"],
    modulesRules: [{ type: "Text", include: "**/*.txt" }],
    wranglerConfigPath: false,
  });
  await mf.ready;
  const res = await mf.dispatchFetch("http://localhost:8787/", { method: "GET" });
  expectType<Equal<Awaited<ReturnType<typeof res.text>>, string>>(true);
  await res.waitUntil();
  // @ts-expect-error modules is a boolean
  void new Miniflare({ modules: "yes" });
}
void workers;

// Eventual consistency (issue 17): locations, cf.colo, settleKv.
async function eventual(): Promise<void> {
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvConsistency: "eventual", modules: true, script: "" });
  const ams = await mf.getKVNamespace("NS", { location: "AMS" });
  await ams.put("k", "v");
  const res = await mf.dispatchFetch("http://localhost/", { method: "GET", cf: { colo: "LHR" } });
  void res;
  await mf.settleKv();
  // @ts-expect-error kvConsistency is "strong" or "eventual"
  void new Miniflare({ kvConsistency: "eventually" });
  // @ts-expect-error location is a string
  void mf.getKVNamespace("NS", { location: 1 });
}
void eventual;

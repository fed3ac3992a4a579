// Our KVNamespace and @cloudflare/workers-types' (the global `KVNamespace`
// in this program) must be assignable to each other: Worker code typed with
// workers-types accepts a namespace from Miniflare#getKVNamespace(), and
// test helpers typed with ours accept a real binding.
import { Miniflare } from "miniflare-kv";
import type { KVNamespace as MiniflareKVNamespace } from "miniflare-kv";

declare const ours: MiniflareKVNamespace;
declare const theirs: KVNamespace;

function workerCode(kv: KVNamespace): Promise<string | null> {
  return kv.get("key");
}
function testHelper(kv: MiniflareKVNamespace): Promise<string | null> {
  return kv.get("key");
}
workerCode(ours);
testHelper(theirs);

// With typed keys, in both directions.
type Keys = "config" | `user:${number}`;
const oursTyped: KVNamespace<Keys> = null as unknown as MiniflareKVNamespace<Keys>;
const theirsTyped: MiniflareKVNamespace<Keys> = null as unknown as KVNamespace<Keys>;
void oursTyped, theirsTyped;

// A Worker's Env filled from Miniflare, then used as a Worker would.
interface Env {
  USERS: KVNamespace;
}
async function handle(env: Env): Promise<Response> {
  const stream = await env.USERS.get("avatar", "stream");
  return new Response(stream);
}
async function runWorker(): Promise<Response> {
  const mf = new Miniflare({ kvNamespaces: ["USERS"] });
  const env: Env = { USERS: await mf.getKVNamespace("USERS") };
  // Our stream result is the Worker's ReadableStream here: one global type.
  const stream: ReadableStream | null = await (await mf.getKVNamespace("USERS")).get("avatar", "stream");
  void stream;
  return handle(env);
}
void runWorker;

// The check can fail: a namespace missing a method is not a KV binding.
// @ts-expect-error `list` is missing
const incomplete: KVNamespace = null as unknown as Omit<MiniflareKVNamespace, "list">;
void incomplete;

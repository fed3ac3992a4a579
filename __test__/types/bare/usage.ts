// Compiled (never run): the typings in a program with only `--lib es2022`.
import { Miniflare } from "miniflare-kv";
import { useIsolatedStorage } from "miniflare-kv/testing";

async function main(): Promise<void> {
  const mf = new Miniflare({ kvNamespaces: ["NS"] });
  const ns = await mf.getKVNamespace("NS");
  await ns.put("k", new Uint8Array([1]));
  const value: string | null = await ns.get("k");
  await mf.dispatchFetch("http://localhost/", { method: "GET" });
  useIsolatedStorage(mf, { beforeEach: (fn) => fn(), afterEach: (fn) => fn() });
  void value;
  await mf.dispose();
}
void main;

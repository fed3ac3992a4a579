// The counter from the Miniflare KV docs: put "1", increment, read "2".
// Run with `npm run example` after `npm install`.
import { Miniflare } from "miniflare-kv";

const mf = new Miniflare({ kvNamespaces: ["TEST_NAMESPACE"] });
const ns = await mf.getKVNamespace("TEST_NAMESPACE");

await ns.put("count", "1");
const next = parseInt(await ns.get("count")) + 1;
await ns.put("count", next.toString());
console.log(await ns.get("count")); // 2

await mf.dispose();

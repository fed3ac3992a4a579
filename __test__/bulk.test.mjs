// Contract §2 "Bulk": get / getWithMetadata with an array of keys.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, rejectsAsync, plainError, typeError } from "./helpers/kv.mjs";

const bulkError = (text) => plainError(`KV GET_BULK failed: ${text}`);
const MAX_RESULT = 25 * 1024 * 1024;

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: bulk get`, () => {
    kvTest("resolves a Map in input order; missing keys → null", async (ns) => {
      await ns.put("a", "A");
      await ns.put("b", "B", { metadata: { m: "b" } });
      await ns.put("c", "");
      const result = await ns.get(["c", "missing", "a", "b"]);
      assert.ok(result instanceof Map);
      assert.deepEqual([...result], [["c", ""], ["missing", null], ["a", "A"], ["b", "B"]]);
      const reversed = await ns.get(["b", "a"], "text");
      assert.deepEqual([...reversed.keys()], ["b", "a"]);
      assert.deepEqual([...(await ns.get(["a"], { type: "text" }))], [["a", "A"]]);
    });

    kvTest("getWithMetadata: {value, metadata} per key, null for missing", async (ns) => {
      await ns.put("plain", "p");
      await ns.put("meta", "m", { metadata: { tag: [1, 2] } });
      await ns.put("empty", "", { metadata: 0 });
      const result = await ns.getWithMetadata(["meta", "missing", "plain", "empty"]);
      assert.ok(result instanceof Map);
      assert.deepEqual([...result], [
        ["meta", { value: "m", metadata: { tag: [1, 2] } }],
        ["missing", null],
        ["plain", { value: "p", metadata: null }],
        ["empty", { value: "", metadata: 0 }],
      ]);
    });

    kvTest("json type parses each value", async (ns) => {
      await ns.put("obj", '{"x":[1,2]}');
      await ns.put("num", "7");
      const result = await ns.get(["obj", "num", "missing"], "json");
      assert.deepEqual([...result], [["obj", { x: [1, 2] }], ["num", 7], ["missing", null]]);
      const withMeta = await ns.getWithMetadata(["obj"], { type: "json" });
      assert.deepEqual([...withMeta], [["obj", { value: { x: [1, 2] }, metadata: null }]]);
    });

    kvTest("json with a non-JSON value → 400", async (ns) => {
      await ns.put("good", "1");
      await ns.put("bad", "not json");
      const expected = bulkError("400 At least one of the requested keys corresponds to a non-json value");
      await rejectsAsync(() => ns.get(["good", "bad"], "json"), expected);
      await rejectsAsync(() => ns.getWithMetadata(["bad"], "json"), expected);
      // Missing keys are not values: no error.
      assert.deepEqual([...(await ns.get(["good", "missing"], "json"))], [["good", 1], ["missing", null]]);
    });

    kvTest("1 to 100 keys", async (ns) => {
      const tooFew = bulkError("400 You must request a minimum of 1 key");
      const tooMany = bulkError("400 You can request a maximum of 100 keys");
      await rejectsAsync(() => ns.get([]), tooFew);
      await rejectsAsync(() => ns.getWithMetadata([]), tooFew);
      const keys = Array.from({ length: 101 }, (_, i) => `k${i}`);
      await rejectsAsync(() => ns.get(keys), tooMany);
      await rejectsAsync(() => ns.getWithMetadata(keys, "json"), tooMany);
      await ns.put("k99", "last");
      const hundred = await ns.get(keys.slice(0, 100));
      assert.equal(hundred.size, 100);
      assert.equal(hundred.get("k99"), "last");
      assert.equal(hundred.get("k0"), null);
    });

    kvTest("only text and json types; the given type is quoted", async (ns) => {
      await ns.put("k", "v");
      for (const type of ["arrayBuffer", "stream", "map", "TEXT"]) {
        const expected = bulkError(`400 "${type}" is not a valid type. Use "json" or "text"`);
        await rejectsAsync(() => ns.get(["k"], type), expected);
        await rejectsAsync(() => ns.get(["missing"], { type }), expected);
        await rejectsAsync(() => ns.getWithMetadata(["k"], type), expected);
      }
    });

    kvTest("key rules inside the array", async (ns) => {
      await rejectsAsync(() => ns.get(["ok", ""]), bulkError("400 Key names must not be empty"));
      await rejectsAsync(() => ns.get(["."]), bulkError('400 Illegal key name ".". Please use a different name.'));
      await rejectsAsync(() => ns.getWithMetadata([".."]), bulkError('400 Illegal key name "..". Please use a different name.'));
      await rejectsAsync(() => ns.get(["x".repeat(513)]), bulkError(
        "414 UTF-8 encoded length of 513 exceeds key length limit of 512."));
      await rejectsAsync(() => ns.getWithMetadata(["é".repeat(257)]), bulkError(
        "414 UTF-8 encoded length of 514 exceeds key length limit of 512."));
      await rejectsAsync(() => ns.get(["\udfff"]), bulkError("400 Could not URL-decode key name"));
      // Not single-key errors: those are TypeErrors with other texts.
      await assert.rejects(ns.get([""]), (e) => e.name === "Error");
      const longKey = "x".repeat(512);
      await ns.put(longKey, "long");
      assert.equal((await ns.get([longKey, "..."])).get(longKey), "long");
    });

    kvTest("array elements are converted to strings", async (ns) => {
      await ns.put("null", "n");
      await ns.put("true", "t");
      const result = await ns.get([null, true, { toString: () => "null" }]);
      assert.equal(result.get("null"), "n");
      assert.equal(result.get("true"), "t");
      await rejectsAsync(() => ns.get([Symbol("s")]), typeError("Cannot convert a Symbol value to a string"));
    });

    kvTest("holes in a sparse array are converted like undefined: the key \"undefined\"", async (ns) => {
      await ns.put("undefined", "u");
      await ns.put("a", "A");
      // eslint-disable-next-line no-sparse-arrays
      const result = await ns.get(["a", , "a"]);
      assert.deepEqual([...result], [["a", "A"], ["undefined", "u"]]);
      assert.deepEqual([...(await ns.getWithMetadata(new Array(2)))], [["undefined", { value: "u", metadata: null }]]);
    });

    // Issue 11: production's bulk text drops a leading BOM (single get keeps it).
    kvTest("text decoding: U+FFFD for bad bytes as in single get; a leading BOM dropped", async (ns) => {
      await ns.put("bad", new Uint8Array([0x61, 0xff]));
      await ns.put("bom", new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]));
      assert.deepEqual([...(await ns.get(["bad", "bom"]))], [["bad", "a\ufffd"], ["bom", "{}"]]);
    });

    kvTest("duplicate keys collapse into one Map entry", async (ns) => {
      await ns.put("a", "A");
      const result = await ns.get(["a", "missing", "a"]);
      assert.deepEqual([...result], [["a", "A"], ["missing", null]]);
    });

    kvTest("cacheTtl is validated with GET_BULK", async (ns) => {
      await rejectsAsync(() => ns.get(["k"], { cacheTtl: 10 }), bulkError(
        "400 Invalid cache_ttl of 10. Cache TTL must be at least 30."));
      await rejectsAsync(() => ns.getWithMetadata(["k"], { type: "json", cacheTtl: 0 }), bulkError(
        "400 Invalid cache_ttl of 0. Cache TTL must be at least 30."));
      assert.deepEqual([...(await ns.get(["k"], { cacheTtl: 30 }))], [["k", null]]);
    });

    kvTest("a result of exactly 25 MiB is fine; one byte more → 413", async (ns) => {
      const half = MAX_RESULT / 2;
      await ns.put("a", "a".repeat(half));
      await ns.put("b", "b".repeat(half));
      await ns.put("c", "c");
      const ok = await ns.get(["a", "b"]);
      assert.equal(ok.get("a").length + ok.get("b").length, MAX_RESULT);
      const expected = bulkError("413 Total size of request exceeds the limit of 25MB");
      await rejectsAsync(() => ns.get(["a", "b", "c"]), expected);
      await rejectsAsync(() => ns.getWithMetadata(["a", "c", "b"]), expected);
    });
  });
}

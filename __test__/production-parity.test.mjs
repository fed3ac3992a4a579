// Issue 11 §1: answers that differed from production (workerd) and now match
// it, on every backend. Where storage could lose the difference (a meta file,
// a Redis record), the data is also read back through a second Miniflare on
// the same kvPersist.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import {
  Miniflare,
  kvTestFor,
  rejectsAsync,
  typeError,
  plainError,
  bytes,
  byteArray,
} from "./helpers/kv.mjs";

const MAX_VALUE = 26214400;

function streamOf(chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** A stream that records whether anyone read from it (highWaterMark 0: no
 * pull until a read asks). */
function watchedStream() {
  const state = { pulled: false };
  const stream = new ReadableStream({
    pull(controller) {
      state.pulled = true;
      controller.enqueue(bytes(1));
      controller.close();
    },
  }, { highWaterMark: 0 });
  return { stream, state };
}

/** Runs `fn(ns)` on a second Miniflare over the same storage (memory: nothing to reopen). */
async function reopened(backend, persist, fn) {
  if (backend.name === "memory") return;
  const mf = new Miniflare({ kvNamespaces: ["NS"], kvPersist: persist });
  try {
    await fn(await mf.getKVNamespace("NS"));
  } finally {
    await mf.dispose();
  }
}

const keyTooLong = (op, length) =>
  plainError(`KV ${op} failed: 414 UTF-8 encoded length of ${length} exceeds key length limit of 512.`);
const notUrlDecodable = (op) => plainError(`KV ${op} failed: 400 Could not URL-decode key name`);

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: undefined is a value, not a missing argument`, () => {
    kvTest("the key undefined is the key \"undefined\" for put, get, getWithMetadata and delete", async (ns) => {
      await ns.put(undefined, "v", { metadata: { m: 1 } });
      assert.equal(await ns.get("undefined"), "v");
      assert.equal(await ns.get(undefined), "v");
      assert.equal(await ns.get(undefined, "text"), "v");
      assert.deepEqual(await ns.getWithMetadata(undefined), { value: "v", metadata: { m: 1 }, cacheStatus: null });
      assert.deepEqual((await ns.list()).keys, [{ name: "undefined", metadata: { m: 1 } }]);
      assert.equal(await ns.delete(undefined), undefined);
      assert.equal(await ns.get("undefined"), null);
      assert.deepEqual((await ns.list()).keys, []);
    });

    kvTest("put(key, undefined) stores the text \"undefined\"", async (ns) => {
      await ns.put("k", undefined);
      assert.equal(await ns.get("k"), "undefined");
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [...Buffer.from("undefined")]);
      await ns.put("with-options", undefined, { metadata: "m" });
      assert.deepEqual(await ns.getWithMetadata("with-options"), { value: "undefined", metadata: "m", cacheStatus: null });
    });

    kvTest("only an absent argument is missing (also when spread from an array)", async (ns) => {
      const noArgs = [];
      await rejectsAsync(() => ns.get(...noArgs), typeError(
        "Failed to execute 'get' on 'KvNamespace': parameter 1 is not of type 'string or Array'."));
      await rejectsAsync(() => ns.getWithMetadata(...noArgs), typeError(
        "Failed to execute 'getWithMetadata' on 'KvNamespace': parameter 1 is not of type 'Array or string'."));
      await rejectsAsync(() => ns.delete(...noArgs), typeError(
        "Failed to execute 'delete' on 'KvNamespace': parameter 1 is not of type 'string'."));
      await rejectsAsync(() => ns.put(...noArgs), typeError(
        "Failed to execute 'put' on 'KvNamespace': parameter 1 is not of type 'string'."));
      await rejectsAsync(() => ns.put(...[undefined]), typeError(
        "Failed to execute 'put' on 'KvNamespace': parameter 2 is not of type 'string or JsObject'."));
      assert.deepEqual((await ns.list()).keys, []);
    });
  });

  describe(`${backend.name}: streams may carry strings`, () => {
    kvTest("string chunks are UTF-8 encoded in order", async (ns) => {
      await ns.put("k", streamOf(["ab", "", "c€"]));
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [0x61, 0x62, 0x63, 0xe2, 0x82, 0xac]);
      assert.equal(await ns.get("k"), "abc€");
    });

    kvTest("strings mixed with Uint8Arrays, ArrayBuffers and DataViews", async (ns) => {
      const buffer = bytes(9, 8, 7, 6).buffer;
      await ns.put("k", streamOf([bytes(0xff), "é", new DataView(buffer, 1, 2), "😀", bytes(0).buffer, "", bytes(1)]));
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")),
        [0xff, 0xc3, 0xa9, 8, 7, 0xf0, 0x9f, 0x98, 0x80, 0, 1]);
    });

    kvTest("a lone surrogate in a string chunk becomes U+FFFD (as TextEncoder does)", async (ns) => {
      await ns.put("k", streamOf(["a\ud800", "\udc00b"]));
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [0x61, 0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd, 0x62]);
    });

    kvTest("a stream of only strings counts toward the 25 MiB limit in UTF-8 bytes", async (ns) => {
      const half = "x".repeat(MAX_VALUE / 2);
      // 2 × 12.5 MiB − 2 + 3 bytes for the €: one byte too many.
      await rejectsAsync(() => ns.put("big", streamOf([half, half.slice(2), "€"])),
        plainError(`KV PUT failed: 413 Value length of ${MAX_VALUE + 1} exceeds limit of ${MAX_VALUE}.`));
      assert.equal(await ns.get("big"), null);
    });
  });

  describe(`${backend.name}: metadata that serialises to null`, () => {
    kvTest("NaN, Infinity and a toJSON() giving null: metadata null, listed as metadata: null", async (ns, _mf, persist) => {
      await ns.put("inf", "v", { metadata: Infinity });
      await ns.put("nan", "v", { metadata: NaN });
      await ns.put("none", "v");
      await ns.put("tojson", "v", { metadata: { toJSON: () => null } });
      const check = async (ns) => {
        for (const key of ["inf", "nan", "tojson", "none"]) {
          assert.deepEqual(await ns.getWithMetadata(key), { value: "v", metadata: null, cacheStatus: null });
        }
        const { keys } = await ns.list();
        assert.deepEqual(keys, [
          { name: "inf", metadata: null },
          { name: "nan", metadata: null },
          { name: "none" },
          { name: "tojson", metadata: null },
        ]);
        assert.equal("metadata" in keys[1], true);
        assert.equal("metadata" in keys[2], false);
        assert.deepEqual([...(await ns.getWithMetadata(["nan", "none"]))],
          [["nan", { value: "v", metadata: null }], ["none", { value: "v", metadata: null }]]);
      };
      await check(ns);
      await reopened(backend, persist, check);
    });

    kvTest("with an expiration, and overwritten by a put without metadata", async (ns, _mf, persist) => {
      const expiration = Math.floor(Date.now() / 1000) + 3600;
      await ns.put("k", "v", { metadata: NaN, expiration });
      assert.deepEqual((await ns.list()).keys, [{ name: "k", expiration, metadata: null }]);
      await reopened(backend, persist, async (ns) =>
        assert.deepEqual((await ns.list()).keys, [{ name: "k", expiration, metadata: null }]));
      await ns.put("k", "v2");
      assert.deepEqual((await ns.list()).keys, [{ name: "k" }]);
    });
  });

  describe(`${backend.name}: bulk get as text drops a leading UTF-8 BOM`, () => {
    kvTest("ef bb bf 61 ff reads as \"a\\ufffd\" in bulk, \"\\ufeffa\\ufffd\" alone", async (ns) => {
      await ns.put("bom", bytes(0xef, 0xbb, 0xbf, 0x61, 0xff), { metadata: 1 });
      assert.equal(await ns.get("bom"), "\ufeffa\ufffd");
      assert.equal((await ns.getWithMetadata("bom")).value, "\ufeffa\ufffd");
      assert.deepEqual([...(await ns.get(["bom"]))], [["bom", "a\ufffd"]]);
      assert.deepEqual([...(await ns.get(["bom"], "text"))], [["bom", "a\ufffd"]]);
      assert.deepEqual([...(await ns.getWithMetadata(["bom"]))], [["bom", { value: "a\ufffd", metadata: 1 }]]);
    });

    kvTest("only one BOM, only at the start", async (ns) => {
      await ns.put("two", bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf, 0x62));
      await ns.put("only", bytes(0xef, 0xbb, 0xbf));
      await ns.put("inside", "a\ufeffb");
      await ns.put("cut", bytes(0xef, 0xbb, 0x61)); // not a BOM: an invalid sequence
      assert.deepEqual([...(await ns.get(["two", "only", "inside", "cut"]))],
        [["two", "\ufeffb"], ["only", ""], ["inside", "a\ufeffb"], ["cut", "\ufffda"]]);
    });
  });

  describe(`${backend.name}: a list prefix that is not well-formed UTF-16`, () => {
    kvTest("is accepted and matches nothing", async (ns) => {
      await ns.put("\ud83d\ude00", "emoji");
      await ns.put("\ufffd", "replacement character");
      await ns.put("a\ufffdb", "v");
      await ns.put("a", "v");
      const empty = { keys: [], list_complete: true, cacheStatus: null };
      for (const prefix of ["\ud83d", "\ude00", "\ud800", "a\ud800", "\ude00\ud83d", "a\udfff"]) {
        assert.deepEqual(await ns.list({ prefix }), empty, JSON.stringify(prefix));
        assert.deepEqual(await ns.list({ prefix, limit: 1, cursor: "YQ==" }), empty);
      }
      assert.equal((await ns.list()).keys.length, 4);
    });

    kvTest("the request is still checked: limit first, then the prefix's length", async (ns) => {
      await rejectsAsync(() => ns.list({ prefix: "\ud800", limit: 1001 }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."));
      await rejectsAsync(() => ns.list({ prefix: "x".repeat(510) + "\ud800" }), keyTooLong("GET", 513));
      assert.deepEqual(await ns.list({ prefix: "x".repeat(509) + "\ud800" }),
        { keys: [], list_complete: true, cacheStatus: null });
    });
  });

  describe(`${backend.name}: which error wins when several things are wrong`, () => {
    kvTest("put: key rules before the value's type", async (ns) => {
      await rejectsAsync(() => ns.put("", {}), typeError("Key name cannot be empty."));
      await rejectsAsync(() => ns.put(".", new Map()), typeError("\".\" is not allowed as a key name."));
      await rejectsAsync(() => ns.put("..", new Set()), typeError("\"..\" is not allowed as a key name."));
      await rejectsAsync(() => ns.put("x".repeat(513), {}), keyTooLong("PUT", 513));
      await rejectsAsync(() => ns.put("é".repeat(257), {}), keyTooLong("PUT", 514));
      await rejectsAsync(() => ns.put("x".repeat(510) + "\ud800", {}), keyTooLong("PUT", 513));
      await rejectsAsync(() => ns.put("\ud800", "v"), notUrlDecodable("PUT"));
      assert.deepEqual((await ns.list()).keys, []);
    });

    kvTest("put: a stream under a bad key is not read", async (ns) => {
      for (const key of ["", "..", "x".repeat(513), "\udc00"]) {
        const { stream, state } = watchedStream();
        await assert.rejects(ns.put(key, stream));
        assert.equal(state.pulled, false, JSON.stringify(key.slice(0, 5)));
        assert.equal(stream.locked, false);
      }
      const { stream, state } = watchedStream(); // control: a good key drains it
      await ns.put("ok", stream);
      assert.equal(state.pulled, true);
      assert.deepEqual(byteArray(await ns.get("ok", "arrayBuffer")), [1]);
    });

    kvTest("put: a 25 MiB + 1 value with 2,000 bytes of metadata → the 413 metadata error", async (ns) => {
      const metadata = "m".repeat(1998); // JSON text: 2,000 bytes
      await rejectsAsync(() => ns.put("k", new Uint8Array(MAX_VALUE + 1), { metadata }),
        plainError("KV PUT failed: 413 Metadata length of 2000 exceeds limit of 1024."));
      await rejectsAsync(() => ns.put("k", streamOf([new Uint8Array(MAX_VALUE + 1)]), { metadata }),
        plainError("KV PUT failed: 413 Metadata length of 2000 exceeds limit of 1024."));
      // Each alone still gives its own error.
      await rejectsAsync(() => ns.put("k", new Uint8Array(MAX_VALUE + 1), { metadata: "ok" }),
        plainError(`KV PUT failed: 413 Value length of ${MAX_VALUE + 1} exceeds limit of ${MAX_VALUE}.`));
      assert.equal(await ns.get("k"), null);
    });

    kvTest("get, getWithMetadata, delete: 414 before the lone-surrogate 400", async (ns) => {
      const long = "x".repeat(510) + "\ud800"; // 510 + 3 bytes (U+FFFD)
      await rejectsAsync(() => ns.get(long), keyTooLong("GET", 513));
      await rejectsAsync(() => ns.get(long, "arrayBuffer"), keyTooLong("GET", 513));
      await rejectsAsync(() => ns.getWithMetadata(long), keyTooLong("GET", 513));
      await rejectsAsync(() => ns.delete(long), keyTooLong("DELETE", 513));
      await rejectsAsync(() => ns.get("\udfff".repeat(171)), keyTooLong("GET", 513));
      // 512 bytes ending in a lone surrogate: the 400.
      const fits = "x".repeat(509) + "\ud800";
      await rejectsAsync(() => ns.get(fits), notUrlDecodable("GET"));
      await rejectsAsync(() => ns.getWithMetadata(fits), notUrlDecodable("GET"));
      await rejectsAsync(() => ns.delete(fits), notUrlDecodable("DELETE"));
    });

    kvTest("list: the 400 limit error before the 414 prefix error", async (ns) => {
      await rejectsAsync(() => ns.list({ limit: 1001, prefix: "x".repeat(513) }), plainError(
        "KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000."));
      await rejectsAsync(() => ns.list({ limit: 1000, prefix: "x".repeat(513) }), keyTooLong("GET", 513));
    });
  });

  describe(`${backend.name}: values are read through internal slots`, () => {
    kvTest("a Uint8Array whose own byteLength throws is stored as its real bytes", async (ns) => {
      const view = bytes(1, 2, 3);
      Object.defineProperty(view, "byteLength", { get() { throw new Error("byteLength read"); } });
      await ns.put("k", view);
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [1, 2, 3]);
    });

    kvTest("lying buffer, byteOffset and byteLength properties are ignored (views and stream chunks)", async (ns) => {
      const lie = (view) => Object.defineProperties(view, {
        buffer: { value: new ArrayBuffer(64) },
        byteOffset: { value: 0 },
        byteLength: { value: 64 },
      });
      const backing = bytes(10, 11, 12, 13, 14, 15).buffer;
      await ns.put("typed", lie(new Uint8Array(backing, 1, 2)));
      await ns.put("wide", lie(new Uint16Array(backing, 2, 1)));
      await ns.put("dataview", lie(new DataView(backing, 3, 3)));
      await ns.put("chunks", streamOf([lie(new Uint8Array(backing, 4, 2)), lie(new DataView(backing, 0, 1))]));
      assert.deepEqual(byteArray(await ns.get("typed", "arrayBuffer")), [11, 12]);
      assert.deepEqual(byteArray(await ns.get("wide", "arrayBuffer")), [12, 13]);
      assert.deepEqual(byteArray(await ns.get("dataview", "arrayBuffer")), [13, 14, 15]);
      assert.deepEqual(byteArray(await ns.get("chunks", "arrayBuffer")), [14, 15, 10]);
    });

    kvTest("a view whose prototype was swapped is still a view", async (ns) => {
      const view = Object.setPrototypeOf(bytes(4, 5), {});
      await ns.put("k", view);
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [4, 5]);
    });

    kvTest("an array Proxy passed to get is one key, converted to a string", async (ns) => {
      await ns.put("a", "A", { metadata: "ma" });
      await ns.put("a,b", "AB");
      assert.equal(await ns.get(new Proxy(["a"], {})), "A");
      assert.equal(await ns.get(new Proxy(["a", "b"], {})), "AB");
      assert.equal(await ns.get(new Proxy(["missing"], {}), "json"), null);
      assert.deepEqual(await ns.getWithMetadata(new Proxy(["a"], {})), { value: "A", metadata: "ma", cacheStatus: null });
      // A real array is still a bulk read.
      assert.deepEqual([...(await ns.get(["a"]))], [["a", "A"]]);
    });

    kvTest("a revoked Proxy rejects with the engine's TypeError", async (ns) => {
      const { proxy, revoke } = Proxy.revocable(["a"], {});
      revoke();
      await rejectsAsync(() => ns.get(proxy), (e) => e instanceof TypeError && /revoked/.test(e.message));
      await rejectsAsync(() => ns.getWithMetadata(proxy), (e) => e instanceof TypeError && /revoked/.test(e.message));
    });
  });
}

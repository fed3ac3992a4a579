// Contract §2 "Values for put" and "get types": what put accepts and how each
// get type hands the bytes back.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, rejectsAsync, typeError, plainError, bytes, byteArray, readStream } from "./helpers/kv.mjs";

const NOT_A_VALUE =
  "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.";
const MAX_VALUE = 26_214_400;

class ThrownByStream extends Error {}

function streamOf(chunks) {
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

/** Every kind of ArrayBufferView, each a window (offset 1..) onto a larger buffer. */
function viewWindows() {
  const buffer = new ArrayBuffer(32);
  new Uint8Array(buffer).forEach((_, i, a) => (a[i] = i));
  const window = (Ctor, offset, length) => [Ctor.name, new Ctor(buffer, offset, length), offset, length * (Ctor.BYTES_PER_ELEMENT ?? 1)];
  return [
    window(Int8Array, 1, 3),
    window(Uint8Array, 1, 3),
    window(Uint8ClampedArray, 1, 3),
    window(Int16Array, 2, 3),
    window(Uint16Array, 2, 3),
    window(Int32Array, 4, 2),
    window(Uint32Array, 4, 2),
    window(Float32Array, 4, 2),
    window(Float64Array, 8, 2),
    window(BigInt64Array, 8, 2),
    window(BigUint64Array, 8, 2),
    window(DataView, 3, 5),
    ["Buffer", Buffer.from(buffer, 5, 4), 5, 4],
  ];
}

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: put values`, () => {
    kvTest("strings are stored as UTF-8", async (ns) => {
      await ns.put("k", "héllo 😀");
      assert.equal(await ns.get("k"), "héllo 😀");
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [...Buffer.from("héllo 😀")]);
    });

    kvTest('"" is a valid value, distinct from a missing key', async (ns) => {
      await ns.put("empty", "");
      assert.equal(await ns.get("empty"), "");
      assert.equal((await ns.get("empty", "arrayBuffer")).byteLength, 0);
      assert.deepEqual(await readStream(await ns.get("empty", "stream")), []);
      assert.deepEqual(await ns.getWithMetadata("empty"), { value: "", metadata: null, cacheStatus: null });
      assert.deepEqual((await ns.list()).keys, [{ name: "empty" }]);
      await ns.put("empty-bytes", new ArrayBuffer(0));
      assert.equal(await ns.get("empty-bytes"), "");
    });

    kvTest("an ArrayBuffer is stored whole", async (ns) => {
      await ns.put("k", bytes(0, 1, 2, 255).buffer);
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [0, 1, 2, 255]);
    });

    kvTest("Uint16Array([1, 2]) stores its little-endian bytes 01 00 02 00", async (ns) => {
      await ns.put("k", new Uint16Array([1, 2]));
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [1, 0, 2, 0]);
    });

    kvTest("every ArrayBufferView stores only its byte window", async (ns) => {
      for (const [name, view, offset, length] of viewWindows()) {
        await ns.put(name, view);
        const expected = Array.from({ length }, (_, i) => offset + i);
        assert.deepEqual(byteArray(await ns.get(name, "arrayBuffer")), expected, name);
      }
    });

    kvTest("a ReadableStream of several chunks is drained in order", async (ns) => {
      const buffer = new ArrayBuffer(8);
      new Uint8Array(buffer).set([9, 9, 5, 6, 9, 9, 9, 9]);
      await ns.put("k", streamOf([bytes(1, 2), new Uint8Array(0), bytes(3, 4), new DataView(buffer, 2, 2), bytes(7).buffer]));
      assert.deepEqual(byteArray(await ns.get("k", "arrayBuffer")), [1, 2, 3, 4, 5, 6, 7]);
      await ns.put("empty", streamOf([]));
      assert.equal(await ns.get("empty"), "");
    });

    kvTest("a ReadableStream that produces chunks asynchronously", async (ns) => {
      let n = 0;
      const stream = new ReadableStream({
        async pull(controller) {
          await new Promise((resolve) => setImmediate(resolve));
          if (n === 100) controller.close();
          else controller.enqueue(new TextEncoder().encode(`${n++},`));
        },
      });
      await ns.put("k", stream);
      assert.equal(await ns.get("k"), Array.from({ length: 100 }, (_, i) => `${i},`).join(""));
    });

    kvTest("a locked ReadableStream is rejected and nothing is written", async (ns) => {
      const stream = streamOf([bytes(1)]);
      stream.getReader();
      await rejectsAsync(() => ns.put("k", stream), typeError("The ReadableStream has been locked to a reader."));
      assert.equal(await ns.get("k"), null);
    });

    kvTest("a stream chunk that is not bytes is rejected and nothing is written", async (ns) => {
      for (const chunk of [42, {}, [1, 2], null]) {
        await rejectsAsync(() => ns.put("k", streamOf([bytes(1), chunk])), typeError(
          "Draining read encountered a value that cannot be converted to bytes"));
      }
      assert.equal(await ns.get("k"), null);
    });

    kvTest("a stream that errors: its error propagates and nothing is written", async (ns) => {
      await ns.put("k", "before");
      const error = new ThrownByStream("stream broke");
      let pulls = 0;
      const stream = new ReadableStream({
        pull(controller) {
          if (pulls++ < 3) controller.enqueue(bytes(1, 2, 3));
          else controller.error(error);
        },
      });
      await rejectsAsync(() => ns.put("k", stream), (e) => e === error);
      const throwing = new ReadableStream({ pull() { throw error; } });
      await rejectsAsync(() => ns.put("other", throwing), (e) => e === error);
      assert.equal(await ns.get("k"), "before");
      assert.equal(await ns.get("other"), null);
    });

    kvTest("other primitives are converted to strings", async (ns) => {
      const cases = [[123, "123"], [null, "null"], [true, "true"], [false, "false"], [-0, "0"], [1.5e300, "1.5e+300"], [NaN, "NaN"], [10n, "10"]];
      for (const [value, text] of cases) {
        await ns.put("k", value);
        assert.equal(await ns.get("k"), text, `put(k, ${String(value)})`);
      }
    });

    kvTest("other objects are rejected with the exact message and nothing is written", async (ns) => {
      const rejected = [
        {}, [], [1, 2], new Map(), new Set(), new Blob(["x"]), new String("s"), new Number(1),
        new SharedArrayBuffer(4), new Date(), () => "fn", Promise.resolve("x"), Object.create(null), /re/,
      ];
      for (const value of rejected) {
        await rejectsAsync(() => ns.put("k", value), typeError(NOT_A_VALUE));
      }
      assert.equal(await ns.get("k"), null);
    });

    kvTest("stored bytes are a copy of the source", async (ns) => {
      const source = bytes(1, 2, 3);
      await ns.put("view", source);
      await ns.put("buffer", source.buffer);
      source.fill(9);
      assert.deepEqual(byteArray(await ns.get("view", "arrayBuffer")), [1, 2, 3]);
      assert.deepEqual(byteArray(await ns.get("buffer", "arrayBuffer")), [1, 2, 3]);
      const chunk = bytes(4, 5);
      await ns.put("stream", streamOf([chunk]));
      chunk.fill(0);
      assert.deepEqual(byteArray(await ns.get("stream", "arrayBuffer")), [4, 5]);
    });

    kvTest("exactly 25 MiB is accepted", async (ns) => {
      const value = new Uint8Array(MAX_VALUE).fill(7);
      value[MAX_VALUE - 1] = 8;
      await ns.put("big", value);
      const back = new Uint8Array(await ns.get("big", "arrayBuffer"));
      assert.equal(back.byteLength, MAX_VALUE);
      assert.equal(back[0], 7);
      assert.equal(back[MAX_VALUE - 1], 8);
    });

    kvTest("25 MiB + 1 byte → 413, as bytes, string or stream; nothing written", async (ns) => {
      const expected = plainError(`KV PUT failed: 413 Value length of ${MAX_VALUE + 1} exceeds limit of ${MAX_VALUE}.`);
      await rejectsAsync(() => ns.put("big", new Uint8Array(MAX_VALUE + 1)), expected);
      await rejectsAsync(() => ns.put("big", "x".repeat(MAX_VALUE + 1)), expected);
      const half = new Uint8Array(MAX_VALUE / 2);
      await rejectsAsync(() => ns.put("big", streamOf([half, half, bytes(1)])), expected);
      // Measured in UTF-8 bytes, not UTF-16 units.
      await rejectsAsync(() => ns.put("big", "é".repeat(MAX_VALUE / 2) + "x"), expected);
      assert.equal(await ns.get("big"), null);
    });
  });

  describe(`${backend.name}: get types`, () => {
    kvTest('"text" is the default, by string or options object', async (ns) => {
      await ns.put("k", "value");
      assert.equal(await ns.get("k"), "value");
      assert.equal(await ns.get("k", "text"), "value");
      assert.equal(await ns.get("k", { type: "text" }), "value");
      assert.equal(await ns.get("k", {}), "value");
      assert.equal(await ns.get("k", null), "value");
      assert.equal(await ns.get("k", { cacheTtl: 60 }), "value");
    });

    kvTest("text: invalid UTF-8 becomes U+FFFD and a leading BOM is kept", async (ns) => {
      await ns.put("bad", bytes(0x61, 0xff, 0x62, 0xc3));
      assert.equal(await ns.get("bad"), "a\ufffdb\ufffd");
      await ns.put("bom", bytes(0xef, 0xbb, 0xbf, 0x68, 0x69));
      assert.equal(await ns.get("bom"), "\ufeffhi");
      assert.equal((await ns.getWithMetadata("bom")).value, "\ufeffhi");
    });

    kvTest("json parses the value; a SyntaxError propagates", async (ns) => {
      await ns.put("obj", JSON.stringify({ a: [1, "two", null], b: { c: true } }));
      assert.deepEqual(await ns.get("obj", "json"), { a: [1, "two", null], b: { c: true } });
      assert.deepEqual(await ns.get("obj", { type: "json" }), { a: [1, "two", null], b: { c: true } });
      await ns.put("num", "42");
      assert.equal(await ns.get("num", "json"), 42);
      await ns.put("null", "null");
      assert.equal(await ns.get("null", "json"), null);
      await ns.put("bad", "not json");
      await rejectsAsync(() => ns.get("bad", "json"), SyntaxError);
      await rejectsAsync(() => ns.getWithMetadata("bad", "json"), SyntaxError);
      await ns.put("empty", "");
      await rejectsAsync(() => ns.get("empty", "json"), SyntaxError);
    });

    kvTest("arrayBuffer returns a fresh ArrayBuffer every time", async (ns) => {
      await ns.put("k", bytes(1, 2, 3));
      const first = await ns.get("k", "arrayBuffer");
      assert.ok(first instanceof ArrayBuffer);
      new Uint8Array(first).fill(0);
      const second = await ns.get("k", "arrayBuffer");
      assert.notEqual(first, second);
      assert.deepEqual(byteArray(second), [1, 2, 3]);
      const { value } = await ns.getWithMetadata("k", "arrayBuffer");
      assert.ok(value instanceof ArrayBuffer);
      assert.deepEqual(byteArray(value), [1, 2, 3]);
    });

    kvTest("stream returns a ReadableStream of the bytes", async (ns) => {
      await ns.put("k", bytes(1, 2, 3, 250));
      const stream = await ns.get("k", "stream");
      assert.ok(stream instanceof ReadableStream);
      assert.deepEqual(await readStream(stream), [1, 2, 3, 250]);
      const { value } = await ns.getWithMetadata("k", { type: "stream" });
      assert.ok(value instanceof ReadableStream);
      assert.deepEqual(await readStream(value), [1, 2, 3, 250]);
      // It is a byte stream: a BYOB reader works.
      const reader = (await ns.get("k", "stream")).getReader({ mode: "byob" });
      const { value: chunk } = await reader.read(new Uint8Array(16));
      assert.deepEqual(Array.from(chunk), [1, 2, 3, 250]);
      // A stream read back can be written again.
      await ns.put("copy", await ns.get("k", "stream"));
      assert.deepEqual(byteArray(await ns.get("copy", "arrayBuffer")), [1, 2, 3, 250]);
    });

    kvTest("an unknown type is only an error when the key exists", async (ns) => {
      const unknown = typeError('Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".');
      assert.equal(await ns.get("missing", "map"), null);
      assert.deepEqual(await ns.getWithMetadata("missing", "map"), { value: null, metadata: null, cacheStatus: null });
      await ns.put("k", "v");
      await rejectsAsync(() => ns.get("k", { type: null }), unknown); // converted to "null"
      for (const type of ["map", "TEXT", "", "Text", "arraybuffer"]) {
        await rejectsAsync(() => ns.get("k", type), unknown);
        await rejectsAsync(() => ns.get("k", { type }), unknown);
        await rejectsAsync(() => ns.getWithMetadata("k", type), unknown);
      }
      // A non-object second argument is a type string: 5 → "5".
      await rejectsAsync(() => ns.get("k", 5), unknown);
    });

    kvTest("missing keys read as null in every type", async (ns) => {
      for (const type of ["text", "json", "arrayBuffer", "stream"]) {
        assert.equal(await ns.get("missing", type), null);
        assert.deepEqual(await ns.getWithMetadata("missing", type), { value: null, metadata: null, cacheStatus: null });
      }
    });

    kvTest("getWithMetadata has exactly value, metadata, cacheStatus", async (ns) => {
      await ns.put("k", "v", { metadata: { m: 1 } });
      const result = await ns.getWithMetadata("k");
      assert.deepEqual(Object.keys(result), ["value", "metadata", "cacheStatus"]);
      assert.deepEqual(result, { value: "v", metadata: { m: 1 }, cacheStatus: null });
      const missing = await ns.getWithMetadata("missing");
      assert.deepEqual(Object.keys(missing), ["value", "metadata", "cacheStatus"]);
      assert.deepEqual(missing, { value: null, metadata: null, cacheStatus: null });
    });

    kvTest("cacheTtl below 30 is rejected (existing or missing key); 30 and above are fine", async (ns) => {
      await ns.put("k", "v");
      for (const key of ["k", "missing"]) {
        await rejectsAsync(() => ns.get(key, { cacheTtl: 29 }), plainError(
          "KV GET failed: 400 Invalid cache_ttl of 29. Cache TTL must be at least 30."));
        await rejectsAsync(() => ns.getWithMetadata(key, { cacheTtl: 0 }), plainError(
          "KV GET failed: 400 Invalid cache_ttl of 0. Cache TTL must be at least 30."));
        await rejectsAsync(() => ns.get(key, { type: "json", cacheTtl: -1 }), plainError(
          "KV GET failed: 400 Invalid cache_ttl of -1. Cache TTL must be at least 30."));
      }
      assert.equal(await ns.get("k", { cacheTtl: 30 }), "v");
      assert.equal(await ns.get("k", { cacheTtl: 2147483647 }), "v");
      assert.equal((await ns.getWithMetadata("k", { cacheTtl: 30.9 })).value, "v");
      assert.equal(await ns.get("missing", { cacheTtl: 30 }), null);
    });
  });

  describe(`${backend.name}: delete`, () => {
    kvTest("resolves undefined whether or not the key existed", async (ns) => {
      await ns.put("k", "v", { metadata: { m: 1 } });
      assert.equal(await ns.delete("k"), undefined);
      assert.equal(await ns.get("k"), null);
      assert.deepEqual(await ns.getWithMetadata("k"), { value: null, metadata: null, cacheStatus: null });
      assert.equal(await ns.delete("k"), undefined);
      assert.equal(await ns.delete("never-existed"), undefined);
      assert.deepEqual((await ns.list()).keys, []);
    });

    kvTest("a deleted key can be written again, without its old metadata", async (ns) => {
      await ns.put("k", "v1", { metadata: { old: true } });
      await ns.delete("k");
      await ns.put("k", "v2");
      assert.deepEqual(await ns.getWithMetadata("k"), { value: "v2", metadata: null, cacheStatus: null });
    });
  });
}

// Contract §2 "Keys" and the argument rows of the error catalogue: coercion,
// missing arguments, wrong option kinds, engine errors, key rules.
import { describe } from "node:test";
import assert from "node:assert/strict";
import { backends } from "./helpers/backends.mjs";
import { kvTestFor, rejectsAsync, typeError, plainError } from "./helpers/kv.mjs";

const ONE_OF_FOUR_OPS = [
  ["get", "GET", (ns, k) => ns.get(k)],
  ["getWithMetadata", "GET", (ns, k) => ns.getWithMetadata(k)],
  ["put", "PUT", (ns, k) => ns.put(k, "v")],
  ["delete", "DELETE", (ns, k) => ns.delete(k)],
];

class ThrownByUser extends Error {}

for (const backend of backends) {
  const kvTest = kvTestFor(backend);

  describe(`${backend.name}: key coercion`, () => {
    kvTest("non-string keys are converted to strings", async (ns) => {
      await ns.put(0, "zero");
      assert.equal(await ns.get("0"), "zero");
      assert.equal(await ns.get(0), "zero");
      assert.equal((await ns.getWithMetadata(0)).value, "zero");
      await ns.put("null", "the null key");
      assert.equal(await ns.get(null), "the null key");
      await ns.put(true, "yes");
      assert.equal(await ns.get("true"), "yes");
      await ns.put({ toString: () => "custom" }, "object key");
      assert.equal(await ns.get("custom"), "object key");
      // Only get/getWithMetadata take arrays; put and delete stringify them.
      await ns.put(["x", "y"], "joined");
      assert.equal(await ns.get("x,y"), "joined");
      await ns.delete(["x", "y"]);
      assert.equal(await ns.get("x,y"), null);
      assert.equal(await ns.delete(0), undefined);
      assert.equal(await ns.get("0"), null);
      const { keys } = await ns.list();
      assert.deepEqual(keys.map((k) => k.name), ["custom", "null", "true"]);
    });
  });

  describe(`${backend.name}: missing arguments`, () => {
    kvTest("get() without a key", (ns) =>
      rejectsAsync(() => ns.get(), typeError(
        "Failed to execute 'get' on 'KvNamespace': parameter 1 is not of type 'string or Array'.")));
    kvTest("getWithMetadata() without a key", (ns) =>
      rejectsAsync(() => ns.getWithMetadata(), typeError(
        "Failed to execute 'getWithMetadata' on 'KvNamespace': parameter 1 is not of type 'Array or string'.")));
    kvTest("put() without a key", (ns) =>
      rejectsAsync(() => ns.put(), typeError(
        "Failed to execute 'put' on 'KvNamespace': parameter 1 is not of type 'string'.")));
    kvTest("put(key) without a value writes nothing", async (ns) => {
      await rejectsAsync(() => ns.put("k"), typeError(
        "Failed to execute 'put' on 'KvNamespace': parameter 2 is not of type 'string or JsObject'."));
      assert.equal(await ns.get("k"), null);
    });
    kvTest("delete() without a key", (ns) =>
      rejectsAsync(() => ns.delete(), typeError(
        "Failed to execute 'delete' on 'KvNamespace': parameter 1 is not of type 'string'.")));
  });

  describe(`${backend.name}: options of the wrong kind`, () => {
    for (const options of ["str", "", 5, true]) {
      kvTest(`put options ${JSON.stringify(options)} → PutOptions TypeError, nothing written`, async (ns) => {
        await rejectsAsync(() => ns.put("k", "v", options), typeError(
          "Failed to execute 'put' on 'KvNamespace': parameter 3 is not of type 'PutOptions'."));
        assert.equal(await ns.get("k"), null);
      });
      kvTest(`list options ${JSON.stringify(options)} → ListOptions TypeError`, (ns) =>
        rejectsAsync(() => ns.list(options), typeError(
          "Failed to execute 'list' on 'KvNamespace': parameter 1 is not of type 'ListOptions'.")));
    }
    kvTest("null and undefined options mean none", async (ns) => {
      await ns.put("k", "v", null);
      await ns.put("k2", "v", undefined);
      assert.equal(await ns.get("k", null), "v");
      assert.deepEqual((await ns.list(null)).keys, [{ name: "k" }, { name: "k2" }]);
      assert.deepEqual((await ns.list(undefined)).keys, [{ name: "k" }, { name: "k2" }]);
    });
  });

  describe(`${backend.name}: values that cannot be converted (engine errors)`, () => {
    const symbolMessage = typeError("Cannot convert a Symbol value to a string");
    const bigintMessage = typeError("Cannot convert a BigInt value to a number");
    kvTest("Symbol keys", async (ns) => {
      await rejectsAsync(() => ns.get(Symbol("k")), symbolMessage);
      await rejectsAsync(() => ns.getWithMetadata(Symbol("k")), symbolMessage);
      await rejectsAsync(() => ns.put(Symbol("k"), "v"), symbolMessage);
      await rejectsAsync(() => ns.delete(Symbol("k")), symbolMessage);
      await rejectsAsync(() => ns.get([Symbol("k")]), symbolMessage);
      await rejectsAsync(() => ns.list({ prefix: Symbol("p") }), symbolMessage);
      await rejectsAsync(() => ns.list({ cursor: Symbol("c") }), symbolMessage);
      await rejectsAsync(() => ns.get("k", { type: Symbol("t") }), symbolMessage);
    });
    kvTest("a Symbol value for put", async (ns) => {
      await rejectsAsync(() => ns.put("k", Symbol("v")), symbolMessage);
      assert.equal(await ns.get("k"), null);
    });
    kvTest("BigInt numeric options", async (ns) => {
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: 100n }), bigintMessage);
      await rejectsAsync(() => ns.put("k", "v", { expiration: 100n }), bigintMessage);
      await rejectsAsync(() => ns.get("k", { cacheTtl: 60n }), bigintMessage);
      await rejectsAsync(() => ns.getWithMetadata("k", { cacheTtl: 60n }), bigintMessage);
      await rejectsAsync(() => ns.list({ limit: 10n }), bigintMessage);
      assert.equal(await ns.get("k"), null);
    });
  });

  describe(`${backend.name}: user code that throws propagates unchanged`, () => {
    const thrower = () => {
      const error = new ThrownByUser("from user code");
      return { error, throwIt: () => { throw error; } };
    };
    kvTest("a throwing toString on a key", async (ns) => {
      const { error, throwIt } = thrower();
      for (const call of [
        () => ns.get({ toString: throwIt }),
        () => ns.getWithMetadata({ toString: throwIt }),
        () => ns.put({ toString: throwIt }, "v"),
        () => ns.delete({ toString: throwIt }),
        () => ns.get([{ toString: throwIt }]),
        () => ns.list({ prefix: { toString: throwIt } }),
        () => ns.list({ cursor: { toString: throwIt } }),
      ]) {
        await rejectsAsync(call, (e) => e === error);
      }
    });
    kvTest("a throwing valueOf on a numeric option", async (ns) => {
      const { error, throwIt } = thrower();
      await rejectsAsync(() => ns.put("k", "v", { expirationTtl: { valueOf: throwIt } }), (e) => e === error);
      await rejectsAsync(() => ns.put("k", "v", { expiration: { valueOf: throwIt } }), (e) => e === error);
      await rejectsAsync(() => ns.get("k", { cacheTtl: { valueOf: throwIt } }), (e) => e === error);
      await rejectsAsync(() => ns.list({ limit: { valueOf: throwIt } }), (e) => e === error);
      assert.equal(await ns.get("k"), null);
    });
    kvTest("throwing option getters", async (ns) => {
      const { error, throwIt } = thrower();
      for (const name of ["expiration", "expirationTtl", "metadata"]) {
        await rejectsAsync(() => ns.put("k", "v", Object.defineProperty({}, name, { get: throwIt })), (e) => e === error);
      }
      for (const name of ["type", "cacheTtl"]) {
        await rejectsAsync(() => ns.get("k", Object.defineProperty({}, name, { get: throwIt })), (e) => e === error);
        await rejectsAsync(() => ns.getWithMetadata("k", Object.defineProperty({}, name, { get: throwIt })), (e) => e === error);
      }
      for (const name of ["prefix", "limit", "cursor"]) {
        await rejectsAsync(() => ns.list(Object.defineProperty({}, name, { get: throwIt })), (e) => e === error);
      }
      assert.equal(await ns.get("k"), null);
    });
    kvTest("a throwing toJSON in metadata writes nothing", async (ns) => {
      const { error, throwIt } = thrower();
      await ns.put("k", "old");
      await rejectsAsync(() => ns.put("k", "new", { metadata: { toJSON: throwIt } }), (e) => e === error);
      assert.deepEqual(await ns.getWithMetadata("k"), { value: "old", metadata: null, cacheStatus: null });
    });
    kvTest("a throwing toString on a put value writes nothing", async (ns) => {
      // Only primitives are stringified; an object value is rejected by type,
      // so the thrower here is a key. Values are covered in values.test.mjs.
      const { error, throwIt } = thrower();
      await rejectsAsync(() => ns.put({ toString: throwIt }, "v"), (e) => e === error);
      assert.deepEqual((await ns.list()).keys, []);
    });
  });

  describe(`${backend.name}: key rules`, () => {
    for (const [method, op, call] of ONE_OF_FOUR_OPS) {
      kvTest(`${method}: empty, "." and ".." keys`, async (ns) => {
        await rejectsAsync(() => call(ns, ""), typeError("Key name cannot be empty."));
        await rejectsAsync(() => call(ns, "."), typeError('"." is not allowed as a key name.'));
        await rejectsAsync(() => call(ns, ".."), typeError('".." is not allowed as a key name.'));
      });
      kvTest(`${method}: 513 UTF-8 bytes → KV ${op} failed: 414`, async (ns) => {
        await rejectsAsync(() => call(ns, "x".repeat(513)), plainError(
          `KV ${op} failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.`));
        await rejectsAsync(() => call(ns, "é".repeat(257)), plainError(
          `KV ${op} failed: 414 UTF-8 encoded length of 514 exceeds key length limit of 512.`));
        await rejectsAsync(() => call(ns, "😀".repeat(129)), plainError(
          `KV ${op} failed: 414 UTF-8 encoded length of 516 exceeds key length limit of 512.`));
      });
      kvTest(`${method}: long keys report their whole UTF-8 length, whatever character ends them`, async (ns) => {
        // Around 2 KiB the binding switches from a stack buffer to a heap copy of the key; a
        // multi-byte character straddling that edge must not shorten the reported length.
        for (let ascii = 2040; ascii <= 2050; ascii++) {
          for (const tail of ["", "é", "€", "😀"]) {
            const key = "a".repeat(ascii) + tail;
            const length = Buffer.byteLength(key);
            await rejectsAsync(() => call(ns, key), plainError(
              `KV ${op} failed: 414 UTF-8 encoded length of ${length} exceeds key length limit of 512.`));
          }
        }
      });
      kvTest(`${method}: a lone surrogate → KV ${op} failed: 400`, async (ns) => {
        for (const key of ["\ud800", "a\udc00b", "x\ud83d"]) {
          await rejectsAsync(() => call(ns, key), plainError(`KV ${op} failed: 400 Could not URL-decode key name`));
        }
      });
    }

    kvTest("nothing is written by a rejected key", async (ns) => {
      for (const key of ["", ".", "..", "x".repeat(513), "\ud800"]) {
        await assert.rejects(ns.put(key, "v"));
      }
      assert.deepEqual((await ns.list()).keys, []);
    });

    kvTest("512-byte keys and dotted names that are not exactly . or .. work", async (ns) => {
      const keys = [
        "x".repeat(512),
        "é".repeat(256),
        "😀".repeat(128),
        "a".repeat(509) + "€",
        "...",
        "./",
        "../x",
        ".a",
        " ",
        "\u0000",
      ];
      for (const [i, key] of keys.entries()) await ns.put(key, `value ${i}`);
      for (const [i, key] of keys.entries()) {
        assert.equal(await ns.get(key), `value ${i}`);
        assert.equal((await ns.getWithMetadata(key)).value, `value ${i}`);
      }
      const listed = (await ns.list()).keys.map((k) => k.name);
      assert.deepEqual(listed.toSorted(), keys.toSorted());
      for (const key of keys) assert.equal(await ns.delete(key), undefined);
      assert.deepEqual((await ns.list()).keys, []);
    });
  });
}


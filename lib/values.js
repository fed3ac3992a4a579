"use strict";
// Converting between what a Worker passes or expects (strings, ArrayBuffers,
// views, ReadableStreams) and the bytes the native store holds.

const { types } = require("node:util");

const NOT_A_VALUE =
  "KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.";

// Checks work across realms (Jest runs tests in a vm context with its own
// ArrayBuffer), so no `instanceof ArrayBuffer`.
function isArrayBuffer(v) {
  return types.isArrayBuffer(v);
}

// A view's bytes are read through its internal slots, as workerd does, never
// through properties a caller can redefine (an own `byteLength` getter that
// throws or lies). The intrinsic getters are taken now, at module load; they
// work on views from any realm.
const { apply } = Reflect;
const getterOf = (proto, name) => Object.getOwnPropertyDescriptor(proto, name).get;
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype);
const typedArraySlots = [
  getterOf(TypedArrayPrototype, "buffer"),
  getterOf(TypedArrayPrototype, "byteOffset"),
  getterOf(TypedArrayPrototype, "byteLength"),
];
const dataViewSlots = [
  getterOf(DataView.prototype, "buffer"),
  getterOf(DataView.prototype, "byteOffset"),
  getterOf(DataView.prototype, "byteLength"),
];
const isTypedArray = types.isTypedArray;
const encoder = new TextEncoder();

/** The byte window of an ArrayBufferView (a typed array or a DataView). */
function viewBytes(view) {
  const [buffer, byteOffset, byteLength] = isTypedArray(view) ? typedArraySlots : dataViewSlots;
  return new Uint8Array(apply(buffer, view, []), apply(byteOffset, view, []), apply(byteLength, view, []));
}

function isReadableStream(v) {
  return (
    v instanceof ReadableStream ||
    (typeof v.getReader === "function" && typeof v.locked === "boolean" && typeof v.cancel === "function")
  );
}

/** Bytes or a string for the native put, or a promise of bytes for a stream. */
function toStorable(value) {
  if (typeof value === "string") return value;
  if (typeof value !== "object" && typeof value !== "function") return `${value}`;
  if (value === null) return "null";
  if (isArrayBuffer(value)) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return viewBytes(value);
  if (isReadableStream(value)) return drain(value);
  throw new TypeError(NOT_A_VALUE);
}

async function drain(stream) {
  if (stream.locked) throw new TypeError("The ReadableStream has been locked to a reader.");
  const reader = stream.getReader();
  const chunks = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let bytes;
      // Strings are UTF-8 encoded in order, mixed freely with bytes.
      if (typeof value === "string") bytes = encoder.encode(value);
      else if (isArrayBuffer(value)) bytes = new Uint8Array(value);
      else if (ArrayBuffer.isView(value)) bytes = viewBytes(value);
      else {
        const error = new TypeError("Draining read encountered a value that cannot be converted to bytes");
        await reader.cancel(error).catch(() => {});
        throw error;
      }
      chunks.push(bytes);
      total += bytes.byteLength;
    }
  } finally {
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/** A byte stream that yields the whole value as one chunk (BYOB readers work). */
function toStream(arrayBuffer) {
  return new ReadableStream({
    type: "bytes",
    start(controller) {
      if (arrayBuffer.byteLength > 0) controller.enqueue(new Uint8Array(arrayBuffer));
      controller.close();
    },
  });
}

function unknownType() {
  return new TypeError(
    'Unknown response type. Possible types are "text", "arrayBuffer", "json", and "stream".',
  );
}

module.exports = { toStorable, toStream, unknownType };

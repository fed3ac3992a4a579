"use strict";
// The argument conversions a deployed Worker's KV binding applies before it
// does anything (WebIDL, as workerd implements it). Engine errors (a Symbol
// or BigInt that cannot convert, a throwing getter or toString) propagate
// unchanged because the conversions use the engine's own operators.

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** WebIDL DOMString: `${v}` throws the engine's TypeError for Symbols. */
function toDOMString(value) {
  return typeof value === "string" ? value : `${value}`;
}

/** WebIDL `long` as workerd converts it: NaN/±Infinity → 0, truncate, and a
 * finite value outside int32 is a TypeError. `+v` throws for BigInt. */
function toInt32(value) {
  const n = typeof value === "number" ? value : +value;
  if (!Number.isFinite(n)) return 0;
  const t = Math.trunc(n);
  if (t < INT32_MIN || t > INT32_MAX) {
    throw new TypeError(
      "Value out of range. Must be between -2147483648 and 2147483647 (inclusive).",
    );
  }
  return t === 0 ? 0 : t; // no -0
}

function optionalInt32(value) {
  return value === undefined ? undefined : toInt32(value);
}

/** A dictionary argument: undefined/null mean "none"; objects (and functions)
 * are read; any other primitive is a TypeError naming the dictionary. */
function isDictionary(value, method, position, typeName) {
  if (value === undefined || value === null) return false;
  if (typeof value === "object" || typeof value === "function") return true;
  throw new TypeError(
    `Failed to execute '${method}' on 'KvNamespace': parameter ${position} is not of type '${typeName}'.`,
  );
}

function missingArgument(method, position, typeName) {
  return new TypeError(
    `Failed to execute '${method}' on 'KvNamespace': parameter ${position} is not of type '${typeName}'.`,
  );
}

module.exports = { toDOMString, toInt32, optionalInt32, isDictionary, missingArgument };

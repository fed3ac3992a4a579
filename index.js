"use strict";
// Public entry point. The native addon is loaded by the generated ./binding.js;
// everything here is hand-written (see lib/).

require("./lib/native"); // first: a missing addon fails with one clear message
const { Miniflare } = require("./lib/miniflare");
const { KVNamespace } = require("./lib/namespace");

/** The local REST API (lib/rest-api.js), loaded on the first call: it brings
 * node:http, node:net and the explorer, which a program (or a test file) that
 * only uses bindings never needs. */
function startKvApi(target, ...options) {
  return require("./lib/rest-api").startKvApi(target, ...options);
}

module.exports = { Miniflare, KVNamespace, startKvApi };

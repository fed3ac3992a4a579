"use strict";
// Public entry point. The native addon is loaded by the generated ./binding.js;
// everything here is hand-written (see lib/).

require("./lib/native"); // first: a missing addon fails with one clear message
const { Miniflare } = require("./lib/miniflare");
const { KVNamespace } = require("./lib/namespace");
const { startKvApi } = require("./lib/rest-api");

module.exports = { Miniflare, KVNamespace, startKvApi };

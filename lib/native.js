"use strict";
// Loads the native addon through the generated ./binding.js, replacing its
// generic failure ("npm has a bug related to optional dependencies") with
// what actually happened and what to do. The usual causes: this platform has
// no prebuilt binary in the package and its install script (which builds one
// with cargo) was skipped — npm blocks dependencies' install scripts unless
// they are approved — or failed.

const { platformName } = require("./platform");

let binding;
try {
  binding = require("../binding");
} catch (error) {
  const failure = new Error(
    `miniflare-kv: no native addon for ${platformName()} could be loaded. Build it from source with ` +
      "`node node_modules/miniflare-kv/scripts/install.js` (needs Rust's cargo: https://rustup.rs), " +
      "or approve the package's install script (`npm install-scripts approve miniflare-kv`) and reinstall.",
  );
  failure.cause = error;
  throw failure;
}

module.exports = binding;

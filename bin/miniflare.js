#!/usr/bin/env node
"use strict";
// `miniflare` / `npx miniflare`: see lib/cli.js, or run `miniflare --help`.

// `miniflare kv key list | head`: the reader closing the pipe is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(0);
    throw error;
  });
}

require("../lib/cli")
  .main(process.argv)
  .then(
    (code) => process.exit(code),
    (error) => {
      console.error(error && error.stack ? error.stack : String(error));
      process.exit(1);
    },
  );

#!/usr/bin/env node
"use strict";
// `miniflare` / `npx miniflare`: see lib/cli.js, or run `miniflare --help`.

require("../lib/cli")
  .main(process.argv)
  .then(
    (code) => process.exit(code),
    (error) => {
      console.error(error && error.stack ? error.stack : String(error));
      process.exit(1);
    },
  );

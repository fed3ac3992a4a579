// Typings for `miniflare-kv/vitest-setup` (lib/testing/vitest-setup.mjs), a
// set-up file; its helpers are also exported by `miniflare-kv/testing`.
export { getMiniflareBindings, getMiniflare } from "./index.js";

declare module "vitest" {
  interface ProvidedContext {
    /** The test kit's options: what `new Miniflare()` takes. */
    miniflareKv: import("../../index").MiniflareOptions;
  }
}

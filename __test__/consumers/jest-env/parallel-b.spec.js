/**
 * @jest-environment-options {"kvPersist": "./.mf/parallel-kv"}
 */
// Runs at the same time as parallel-a.spec.js: see parallel.js.
require("./parallel").parallelSuite("b");

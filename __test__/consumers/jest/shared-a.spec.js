// Runs alongside shared-b.spec.js in another Jest worker: see shared-storage.js.
const { sharedStorageSuite } = require("./shared-storage");

sharedStorageSuite("a");

// Runs alongside shared-a.spec.js in another Jest worker: see shared-storage.js.
const { sharedStorageSuite } = require("./shared-storage");

sharedStorageSuite("b");

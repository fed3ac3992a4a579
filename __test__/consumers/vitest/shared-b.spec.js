// Runs alongside shared-a.spec.js in another Vitest worker: see shared-storage.js.
import { sharedStorageSuite } from "./shared-storage.js";

sharedStorageSuite("b");

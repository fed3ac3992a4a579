// Runs at the same time as parallel-b.spec.js: see parallel.js.
import { parallelSuite } from "./parallel.js";

parallelSuite("a");

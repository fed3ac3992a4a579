// Runs at the same time as parallel-a.spec.js: see parallel.js.
import { parallelSuite } from "./parallel.js";

parallelSuite("b");

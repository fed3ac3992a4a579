// `setupFiles: ["miniflare-kv/vitest-setup"]`: one Miniflare instance per test
// file, built from the options provided as `miniflareKv`
// (`test: { provide: { miniflareKv: { kvNamespaces: ["NS"], kvSeed: … } } }`,
// the names `new Miniflare()` takes), with Miniflare 2's isolation:
//
//   the file         aroundAll (registered here, the outermost hook)
//   every describe   aroundAll, added to each collected suite before it runs
//   every test       aroundEach (registered here, so it wraps beforeEach,
//                    the test and afterEach of tests at every depth)
//
// Each wrapper pushes a storage frame and pops it when the block ends, so a
// test sees what the file's and its enclosing describes' beforeAll hooks
// wrote, and nothing another test wrote. Concurrent tests and suites
// (test.concurrent, describe.concurrent) overlap, so they get no frame of
// their own. Vitest runs a set-up file again for every test file, in the
// test's realm (every pool, vm pools included), so KV time is the Date that
// vi.useFakeTimers() fakes. Needs Vitest 4.1 (aroundAll/aroundEach).
import { aroundAll, aroundEach, inject, TestRunner } from "vitest";
import testing from "./index.js";
import kitModule from "./kit.js";
import api from "../../index.js";

const { TestKit, installKit, uninstallKit } = kitModule;

if (typeof aroundAll !== "function" || typeof aroundEach !== "function" || typeof TestRunner?.getSuiteHooks !== "function") {
  throw new Error("miniflare-kv/vitest-setup needs Vitest 4.1 or later (aroundAll, aroundEach): npm install --save-dev vitest@^4.1");
}

const kit = new TestKit(api.Miniflare, inject("miniflareKv") ?? {});
await kit.open(); // now, so a test file can call getMiniflareBindings() at its top level
installKit(globalThis, kit);

/** Stored in each describe suite's aroundAll list, outermost: Vitest calls
 * such hooks as (runSuite, suite). */
const describeFrame = (runSuite) => kit.frame(runSuite);

function addDescribeFrames(suite) {
  for (const task of suite.tasks) {
    if (task.type !== "suite") continue;
    if (task.concurrent !== true) TestRunner.getSuiteHooks(task).aroundAll.unshift(describeFrame);
    addDescribeFrames(task);
  }
}

aroundAll(async (runSuite, {}, file) => {
  try {
    addDescribeFrames(file);
    await kit.frame(runSuite);
  } finally {
    uninstallKit(globalThis, kit);
    await kit.close();
  }
});

aroundEach(async (runTest, { task }) => {
  if (task.concurrent === true) return runTest();
  return kit.frame(runTest);
});

export const { getMiniflareBindings, getMiniflare } = testing;

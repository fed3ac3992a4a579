// The `miniflare` command as users run it: a real child process on a free
// port, real HTTP requests, Ctrl-C (SIGINT) to stop.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, describe, test } from "node:test";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.join(here, "..", "bin", "miniflare.js");
const { version } = JSON.parse(readFileSync(path.join(here, "..", "package.json"), "utf8"));
const fixtures = path.join(here, "fixtures");
// A hung server fails its test instead of hanging the suite.
const TIMEOUT = { timeout: 30_000 };

const root = mkdtempSync(path.join(os.tmpdir(), "miniflare-kv-cli-"));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;
function project(files) {
  const dir = path.join(root, `${++count}`);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

// The seed's counter, starting from an empty namespace.
const COUNTER = `import { format } from "./format.mjs";
export default {
  async fetch(request, env, ctx) {
    const value = parseInt((await env.TEST_NAMESPACE.get("count")) ?? "0") + 1;
    await env.TEST_NAMESPACE.put("count", value.toString());
    return new Response(format(value));
  },
};
`;
const FORMAT = "export const format = (n) => n.toString();\n";

const running = new Set();
after(() => {
  for (const child of running) child.kill("SIGKILL");
});

/** Runs the CLI; resolves with its output and exit status. */
function run(args, { cwd = root } = {}) {
  const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  const cli = { child, stdout: "", stderr: "", cursor: 0 };
  const waiters = [];
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = waiter.regex.exec(cli.stdout.slice(cli.cursor));
      if (match) {
        cli.cursor += match.index + match[0].length;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout.setEncoding("utf8").on("data", (text) => {
    cli.stdout += text;
    check();
  });
  child.stderr.setEncoding("utf8").on("data", (text) => {
    cli.stderr += text;
  });
  cli.exited = new Promise((resolve) => {
    child.on("close", (code, signal) => {
      running.delete(child);
      for (const waiter of waiters) {
        waiter.reject(new Error(`miniflare exited (${code ?? signal}) before printing ${waiter.regex}\nstdout:\n${cli.stdout}\nstderr:\n${cli.stderr}`));
      }
      resolve({ code, signal, stdout: cli.stdout, stderr: cli.stderr });
    });
  });
  /** Waits for the next stdout text matching `regex` (after the previous match). */
  cli.next = (regex) =>
    new Promise((resolve, reject) => {
      waiters.push({ regex, resolve, reject });
      check();
    });
  /** Starts and resolves with the address it listens on. */
  cli.listening = async () => new URL((await cli.next(/Listening on (http:\/\/\S+)/))[1]);
  /** Ctrl-C, then the exit status. */
  cli.interrupt = async () => {
    child.kill("SIGINT");
    return cli.exited;
  };
  return cli;
}

async function text(url, init) {
  const res = await fetch(url, init);
  return res.text();
}

describe("miniflare --help and --version", () => {
  test("--help documents every flag", TIMEOUT, async () => {
    const { code, stdout } = await run(["--help"]).exited;
    assert.equal(code, 0);
    for (const flag of ["[script]", "-k, --kv <name>", "--kv-persist [path]", "-m, --modules", "-H, --host <host>",
      "-p, --port <port>", "8787", "-c, --wrangler-config <path>", "-e, --env <name>", "-w, --watch",
      "-V, --version", "-h, --help", "--persist-to <location>", "--local", "--api-port <port>", "--api-token <token>"]) {
      assert.ok(stdout.includes(flag), `--help does not mention ${flag}:\n${stdout}`);
    }
  });

  test("--version prints the package version", TIMEOUT, async () => {
    const { code, stdout } = await run(["--version"]).exited;
    assert.equal(code, 0);
    assert.equal(stdout.trim(), version);
  });
});

describe("serving the counter", () => {
  test("count 1 → 2 over HTTP; the startup lines; Ctrl-C exits cleanly", TIMEOUT, async () => {
    const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
    const cli = run(["counter.mjs", "--kv", "TEST_NAMESPACE", "--port", "0"], { cwd: dir });
    const url = await cli.listening();
    assert.equal(url.hostname, "127.0.0.1");
    assert.match(cli.stdout, /^KV Namespaces: TEST_NAMESPACE$/m);
    assert.match(cli.stdout, /^KV Persistence: in memory/m);

    assert.equal(await text(url), "1");
    assert.equal(await text(new URL("/anything?x=1", url), { method: "POST", body: "ignored" }), "2");

    const { code, signal, stdout, stderr } = await cli.interrupt();
    assert.equal(signal, null);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /SIGINT received: shutting down/);
    assert.equal(stderr, "");
  });

  test("--kv-persist <dir>: the count survives a restart", TIMEOUT, async (t) => {
    const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
    const args = ["counter.mjs", "-k", "TEST_NAMESPACE", "--kv-persist", "data", "-p", "0"];
    const first = run(args, { cwd: dir });
    let url;
    try {
      url = await first.listening();
    } catch (error) {
      if (/not supported yet/.test(first.stderr)) return t.skip("directory backend not wired yet");
      throw error;
    }
    assert.match(first.stdout, new RegExp(`^KV Persistence: ${path.join(dir, "data")}$`, "m"));
    assert.equal(await text(url), "1");
    assert.equal(await text(url), "2");
    assert.equal((await first.interrupt()).code, 0);
    assert.ok(existsSync(path.join(dir, "data")));

    const second = run(args, { cwd: dir });
    const url2 = await second.listening();
    assert.equal(await text(url2), "3");
    assert.equal((await second.interrupt()).code, 0);
  });

  test("--kv-persist without a value persists to ./.mf/kv", TIMEOUT, async (t) => {
    const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
    const cli = run(["counter.mjs", "-k", "TEST_NAMESPACE", "-p", "0", "--kv-persist"], { cwd: dir });
    try {
      await cli.listening();
    } catch (error) {
      if (/not supported yet/.test(cli.stderr)) return t.skip("directory backend not wired yet");
      throw error;
    }
    assert.match(cli.stdout, new RegExp(`^KV Persistence: ${path.join(dir, ".mf", "kv")}$`, "m"));
    assert.equal((await cli.interrupt()).code, 0);
  });

  test("--watch reloads on an edit of the script or of a file it imports, keeping KV data", TIMEOUT, async () => {
    const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
    const cli = run(["counter.mjs", "-k", "TEST_NAMESPACE", "-p", "0", "--watch"], { cwd: dir });
    const url = await cli.listening();
    assert.equal(await text(url), "1");

    writeFileSync(path.join(dir, "format.mjs"), "export const format = (n) => `count=${n}`;\n");
    await cli.next(/Reloaded the Worker \(format\.mjs changed\)/);
    assert.equal(await text(url), "count=2");

    writeFileSync(path.join(dir, "counter.mjs"), COUNTER.replace("format(value)", '"v2 " + format(value)'));
    await cli.next(/Reloaded the Worker \(counter\.mjs changed\)/);
    assert.equal(await text(url), "v2 count=3");
    assert.equal((await cli.interrupt()).code, 0);
  });

  test("an exception in the Worker is a 500 with its stack; the server keeps serving", TIMEOUT, async () => {
    const dir = project({
      "worker.mjs": `export default {\n  fetch(request) {\n    if (request.url.endsWith("/boom")) throw new Error("boom");\n    return new Response("fine");\n  },\n};\n`,
    });
    const cli = run(["worker.mjs", "-p", "0"], { cwd: dir });
    const url = await cli.listening();
    const res = await fetch(new URL("/boom", url));
    assert.equal(res.status, 500);
    assert.match(await res.text(), /Error: boom\n\s+at .*worker\.mjs[^:\n]*:3:/);
    assert.equal(await text(url), "fine");
    assert.equal((await cli.interrupt()).code, 0);
  });
});

describe("other workers", () => {
  test("a service-worker script: PUT stores the body, GET reads it back", TIMEOUT, async () => {
    const cli = run([path.join(fixtures, "service-worker", "worker.js"), "-k", "TEST_NAMESPACE1", "-p", "0"]);
    const url = await cli.listening();
    const put = await fetch(new URL("/?key=greeting", url), { method: "PUT", body: "hello over HTTP" });
    assert.equal(put.status, 201);
    assert.equal(await text(new URL("/?key=greeting", url)), "hello over HTTP");
    assert.equal((await cli.interrupt()).code, 0);
  });

  test("the Hono session worker: login, then the token cookie authenticates", TIMEOUT, async () => {
    const cli = run(["src/index.js", "-k", "AUTH_TOKENS", "-p", "0"], { cwd: path.join(fixtures, "hono-session") });
    const url = await cli.listening();
    const login = await fetch(new URL("/login", url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ userId: 1 }),
    });
    const { token } = await login.json();
    const res = await fetch(url, { headers: { cookie: `auth_token=${token}` } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), "*");
    assert.deepEqual(await res.json(), { authenticated: true, message: "Authentication successful", data: { userId: 1 } });
    assert.equal((await fetch(url)).status, 403);
    assert.equal((await cli.interrupt()).code, 0);
  });

  test("wrangler.toml: main and the environment's namespaces (-e)", TIMEOUT, async () => {
    const dir = project({
      "wrangler.toml": `main = "src/worker.mjs"
kv_namespaces = [{ binding = "SESSIONS", id = "dev" }]
[env.staging]
kv_namespaces = [{ binding = "SESSIONS", id = "staging" }, { binding = "CACHE", id = "staging-cache" }]
`,
      "src/worker.mjs": "export default { fetch: (req, env) => new Response(Object.keys(env).sort().join(',')) }",
    });
    const top = run(["-p", "0"], { cwd: dir });
    const url = await top.listening();
    assert.match(top.stdout, /^KV Namespaces: SESSIONS$/m);
    assert.equal(await text(url), "SESSIONS");
    assert.equal((await top.interrupt()).code, 0);

    const staging = run(["-p", "0", "-e", "staging"], { cwd: dir });
    const url2 = await staging.listening();
    assert.match(staging.stdout, /^KV Namespaces: SESSIONS, CACHE$/m);
    assert.equal(await text(url2), "CACHE,SESSIONS");
    assert.equal((await staging.interrupt()).code, 0);
  });
});

describe("errors: one clear line and a non-zero exit", () => {
  async function oneLineFailure(args, cwd, pattern) {
    const { code, stdout, stderr } = await run(args, { cwd }).exited;
    assert.notEqual(code, 0);
    assert.equal(stdout, "");
    const lines = stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], pattern);
  }

  test("port in use", TIMEOUT, async () => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = blocker.address();
      const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
      await oneLineFailure(["counter.mjs", "-p", String(port)], dir,
        new RegExp(`^miniflare: 127\\.0\\.0\\.1:${port} is already in use: stop the other server or pass another --port\\.$`));
    } finally {
      blocker.close();
    }
  });

  test("missing script", TIMEOUT, async () => {
    await oneLineFailure(["nope.js"], project({}), /^miniflare: script not found: nope\.js$/);
  });

  test("no script and no wrangler config", TIMEOUT, async () => {
    await oneLineFailure(["-k", "NS"], project({}), /^miniflare: no Worker script: pass one/);
  });

  test("unknown flag", TIMEOUT, async () => {
    await oneLineFailure(["worker.js", "--kvv", "NS"], project({}), /^miniflare: unknown option '--kvv' \(Did you mean --kv\?\)$/);
  });

  test("a malformed wrangler.toml names the file and line", TIMEOUT, async () => {
    const dir = project({ "wrangler.toml": 'main = "w.mjs"\nkv_namespaces = [\n  { binding = "A" id = "x" },\n]\n' });
    const { code, stderr } = await run([], { cwd: dir }).exited;
    assert.equal(code, 1);
    assert.match(stderr.split("\n")[0], new RegExp(`^miniflare: ${path.join(dir, "wrangler.toml")}:3:\\d+: `));
  });

  test("a Worker with a syntax error fails to start, naming the file", TIMEOUT, async () => {
    const dir = project({ "worker.mjs": "export default {\n  fetch() { return new Response(; }\n};\n" });
    const { code, stderr } = await run(["worker.mjs", "-p", "0"], { cwd: dir }).exited;
    assert.equal(code, 1);
    assert.match(stderr, /^miniflare: the Worker failed to load:/);
    assert.ok(stderr.includes(path.join(dir, "worker.mjs")), stderr);
  });
});

describe("Ctrl-C lets requests in progress finish", () => {
  // The Worker awaits a slow operation (longer than the 2 s the server used to
  // allow), then uses KV: storage must still be open.
  const SLOW = `export default {
  async fetch(request, env) {
    console.log("request started");
    await new Promise((resolve) => setTimeout(resolve, Number(new URL(request.url).searchParams.get("ms"))));
    await env.NS.put("k", "written after the wait");
    return new Response("finished: " + (await env.NS.get("k")));
  },
};
`;

  /** A GET on a new connection: resolves its body, or the connection error. */
  function get(url) {
    return new Promise((resolve) => {
      http.get(url, { agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode, body, connection: res.headers.connection }));
        res.on("error", (error) => resolve({ error }));
      }).on("error", (error) => resolve({ error }));
    });
  }

  test("SIGINT mid-request: the response completes, new connections are refused, then storage closes and the exit is clean", TIMEOUT, async () => {
    const dir = project({ "slow.mjs": SLOW });
    const cli = run(["slow.mjs", "-k", "NS", "-p", "0"], { cwd: dir });
    const url = await cli.listening();
    const slow = get(new URL("/?ms=2600", url));
    await cli.next(/request started/);
    cli.child.kill("SIGINT");
    await cli.next(/SIGINT received: shutting down \(letting 1 request in progress finish; Ctrl-C again to stop now\)/);
    const refused = await get(new URL("/?ms=0", url));
    assert.equal(refused.error?.code, "ECONNREFUSED");
    const reply = await slow;
    assert.equal(reply.error, undefined, String(reply.error));
    assert.equal(reply.status, 200);
    assert.equal(reply.body, "finished: written after the wait");
    assert.equal(reply.connection, "close");
    const { code, signal, stderr } = await cli.exited;
    assert.equal(signal, null);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, "");
  });

  test("SIGTERM does the same; a second signal stops at once", TIMEOUT, async () => {
    const dir = project({ "slow.mjs": SLOW });
    const cli = run(["slow.mjs", "-k", "NS", "-p", "0"], { cwd: dir });
    const url = await cli.listening();
    const stuck = get(new URL("/?ms=600000", url));
    await cli.next(/request started/);
    cli.child.kill("SIGTERM");
    await cli.next(/SIGTERM received: shutting down \(letting 1 request in progress finish; SIGTERM again to stop now\)/);
    cli.child.kill("SIGINT");
    const { code, stderr } = await cli.exited;
    assert.equal(code, 130);
    assert.match(stderr, /^miniflare: SIGINT again: exiting now, cutting 1 request off\.$/m);
    assert.ok((await stuck).error, "the stuck request was cut off");
  });
});

describe("flags shared with wrangler and `miniflare kv`", () => {
  test("--persist-to is --kv-persist; --local is accepted; both persistence flags at once are an error", TIMEOUT, async () => {
    const dir = project({ "counter.mjs": COUNTER, "format.mjs": FORMAT });
    const args = ["counter.mjs", "-k", "TEST_NAMESPACE", "--persist-to", "data", "--local", "-p", "0"];
    const first = run(args, { cwd: dir });
    const url = await first.listening();
    assert.match(first.stdout, new RegExp(`^KV Persistence: ${path.join(dir, "data")}$`, "m"));
    assert.equal(await text(url), "1");
    assert.equal((await first.interrupt()).code, 0);
    assert.ok(existsSync(path.join(dir, "data")));
    const second = run(["counter.mjs", "-k", "TEST_NAMESPACE", "--kv-persist", "data", "-p", "0"], { cwd: dir });
    assert.equal(await text(await second.listening()), "2");
    assert.equal((await second.interrupt()).code, 0);

    const both = await run(["counter.mjs", "--persist-to", "a", "--kv-persist", "b"], { cwd: dir }).exited;
    assert.equal(both.code, 1);
    assert.equal(both.stderr, "miniflare: Conflicting options: --persist-to and --kv-persist cannot be used together. Please provide only one.\n");
  });

  test("-c ../wrangler.toml: main and kv_persist resolve against the file's folder", TIMEOUT, async () => {
    const dir = project({
      "wrangler.toml": 'main = "src/worker.mjs"\nkv_namespaces = [{ binding = "NS", id = "ns-id" }]\n[miniflare]\nkv_persist = "data"\n',
      "src/worker.mjs": "export default { fetch: async (req, env) => new Response((await env.NS.get('k')) ?? 'none') };\n",
      "sub/.keep": "",
    });
    const sub = path.join(dir, "sub");
    const cli = run(["-c", "../wrangler.toml", "-p", "0"], { cwd: sub });
    const url = await cli.listening();
    assert.match(cli.stdout, new RegExp(`^KV Persistence: ${path.join(dir, "data")}$`, "m"));
    assert.match(cli.stdout, new RegExp(`^Worker: ${path.join("..", "src", "worker.mjs").replace(/\./g, "\\.")}$`, "m"));
    assert.equal(await text(url), "none");
    assert.equal((await cli.interrupt()).code, 0);
    assert.ok(existsSync(path.join(dir, "data")));
    assert.ok(!existsSync(path.join(sub, "data")));
  });
});

describe("the banner points at data the server does not read", () => {
  test("in memory while ./.mf/kv holds data for its bindings: a note with the flag that serves it", TIMEOUT, async () => {
    const dir = project({
      "wrangler.toml": 'main = "worker.mjs"\nkv_namespaces = [{ binding = "NS", id = "ns-id" }, { binding = "EMPTY", id = "empty-id" }]\n',
      "worker.mjs": "export default { fetch: async (req, env) => new Response((await env.NS.get('k')) ?? 'null') };\n",
    });
    // Before anything is written: no note, and the server creates nothing.
    const before = run(["-p", "0"], { cwd: dir });
    await before.listening();
    assert.doesNotMatch(before.stdout, /Note:/);
    assert.equal((await before.interrupt()).code, 0);
    assert.ok(!existsSync(path.join(dir, ".mf")));

    const put = await run(["kv", "key", "put", "--binding", "NS", "k", "seeded"], { cwd: dir }).exited;
    assert.equal(put.code, 0, put.stderr);
    const memory = run(["-p", "0"], { cwd: dir });
    const url = await memory.listening();
    assert.match(memory.stdout, /^KV Persistence: in memory/m);
    const [, flag] = /^Note: \.\/\.mf\/kv holds KV data for NS \(written by `miniflare kv`\), which this in-memory server does not read: restart with (--kv-persist \S+) to serve it\.$/m.exec(memory.stdout) ?? [];
    assert.equal(flag, "--kv-persist ./.mf/kv", memory.stdout);
    assert.equal(await text(url), "null");
    assert.equal((await memory.interrupt()).code, 0);

    // The flag it names serves the data.
    const served = run(["-p", "0", ...flag.split(" ")], { cwd: dir });
    assert.equal(await text(await served.listening()), "seeded");
    assert.doesNotMatch(served.stdout, /Note:/);
    assert.equal((await served.interrupt()).code, 0);
  });
});

describe("output into a closed pipe", () => {
  test("`miniflare --help | head -1`: the reader closing early is not an error", TIMEOUT, async () => {
    const child = spawn(process.execPath, [BIN, "--help"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    // Like `head -1`: read one chunk, then close our end before the rest is written.
    child.stdout.once("data", () => child.stdout.destroy());
    const code = await new Promise((resolve) => child.on("close", (c) => resolve(c)));
    assert.equal(code, 0, `exit code 0, stderr:\n${stderr}`);
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
  });
});

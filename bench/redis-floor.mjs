#!/usr/bin/env node
// How fast can Node itself do sequential Redis round trips? A bare net.Socket
// writes `GET` and awaits each reply (nothing parsed, no promise per call
// beyond the await), next to `redis-benchmark -c 1 -P 1 -t get` on the same
// server: the ceiling for any Node.js client, against which bench/redis.mjs's
// "vs redis-benchmark" column reads.
//
//   REDIS_URL=redis://127.0.0.1:6390 node bench/redis-floor.mjs [--n 20000] [--reps 3]
import { spawnSync } from "node:child_process";
import net from "node:net";

const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6390");
const port = Number(url.port) || 6379;
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const n = option("--n", 20000);
const reps = option("--reps", 3);

const socket = net.connect(port, url.hostname);
await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
socket.setNoDelay(true);
let replied;
socket.on("data", () => replied());
const get = Buffer.from("*2\r\n$3\r\nGET\r\n$14\r\nkvbench:floor1\r\n");
for (let rep = 1; rep <= reps; rep++) {
  const bench = spawnSync("redis-benchmark", ["-h", url.hostname, "-p", String(port), "-c", "1", "-P", "1", "-t", "get", "-n", String(n), "--csv"], { encoding: "utf8" });
  const limit = Number(/"GET","([\d.]+)"/.exec(bench.stdout)?.[1]);
  const started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    const reply = new Promise((resolve) => (replied = resolve));
    socket.write(get);
    await reply;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const bare = n / seconds;
  console.log(`rep ${rep}: bare Node socket ${Math.round(bare)} GET/s, redis-benchmark ${Math.round(limit)} GET/s: ${(bare / limit).toFixed(2)}×`);
}
socket.end();

// A minimal Redis client for tests: one connection per call, binary-safe
// arguments (strings or Buffers), full RESP2 replies. Used to inspect and
// seed Redis behind the package's back (CLIENT LIST, raw SET … PX, KEYS).
import net from "node:net";

/** Sends one command; resolves its reply (string for +OK, number, Buffer
 * or null for bulk strings, array) or rejects with the server's -ERR. */
export function respCommand(url, ...args) {
  const { hostname, port } = new URL(url);
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg), "utf8");
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from("\r\n"));
  }
  return new Promise((resolve, reject) => {
    let received = Buffer.alloc(0);
    const sock = net.connect(Number(port) || 6379, hostname, () => sock.write(Buffer.concat(parts)));
    sock.setTimeout(5000, () => sock.destroy(new Error(`no reply from ${url}`)));
    sock.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseReply(received, 0);
      if (parsed === undefined) return; // incomplete: wait for more
      sock.end();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    });
    sock.on("error", reject);
  });
}

/** Parses one reply at `offset`: { value, next } or undefined if incomplete. */
function parseReply(buf, offset) {
  const lineEnd = buf.indexOf("\r\n", offset);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[offset]);
  const line = buf.toString("utf8", offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, next };
    case "-":
      return { value: new Error(line), next };
    case ":":
      return { value: Number(line), next };
    case "$": {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.subarray(next, next + length), next: next + length + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      return { value: new Error(`unexpected RESP reply type ${JSON.stringify(type)}`), next: buf.length };
  }
}

/** How many clients are connected, not counting the connection asking. */
export async function otherClientCount(url) {
  const list = (await respCommand(url, "CLIENT", "LIST")).toString("utf8");
  return list.split("\n").filter((line) => line.trim() !== "").length - 1;
}

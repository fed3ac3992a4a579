"use strict";
// A local Cloudflare v4 REST API for Workers KV, so HTTP clients written for
// api.cloudflare.com (curl scripts, the official `cloudflare` npm client with
// `baseURL` pointed here) work against local data:
//
//   GET    /client/v4/accounts/:account/storage/kv/namespaces             list (page, per_page, order, direction)
//   POST   …/namespaces                          {title}                    create
//   GET    …/namespaces/:ns                                                 get
//   PUT    …/namespaces/:ns                      {title}                    rename
//   DELETE …/namespaces/:ns                                                 delete (with its data)
//   GET    …/namespaces/:ns/keys                 ?prefix&limit&cursor       list keys
//   GET    …/namespaces/:ns/values/:key                                     read (raw body, `expiration` header)
//   PUT    …/namespaces/:ns/values/:key          ?expiration&expiration_ttl raw body or multipart (value, metadata)
//   DELETE …/namespaces/:ns/values/:key                                     delete
//   GET    …/namespaces/:ns/metadata/:key                                   metadata
//   PUT    …/namespaces/:ns/bulk                 [{key, value, …}]          bulk write
//   POST   …/namespaces/:ns/bulk/delete, DELETE …/namespaces/:ns/bulk      bulk delete
//   POST   …/namespaces/:ns/bulk/get             {keys, type, withMetadata} bulk read
//   GET    /client/v4/memberships, /accounts, /user, /user/tokens/verify        the one local account (lib/http/account.js)
//   GET    /, /namespaces/:ns, /explorer/*                                  the KV explorer page (lib/http/explorer/)
//
// JSON answers use Cloudflare's envelope {success, errors, messages, result,
// result_info}. Any account id is accepted. A namespace exists when it is
// registered (created here or by `miniflare kv namespace create`), bound by the
// Miniflare instance served, or holds data.
//
// Who may call (see `guardFor`): web pages may not. A request carrying an
// `Origin` other than this server's own is refused, and so is one whose `Host`
// is neither the address listened on nor a loopback name (DNS rebinding), each
// with a 403 before anything is read or changed. Clients that send no Origin
// (curl, wrangler, the `cloudflare` SDK) are unaffected. On a loopback address
// any credentials are accepted unless a token is given; on any other address a
// token is always required (`Authorization: Bearer <token>`): the caller's, or
// one generated here and returned as `token`.

const crypto = require("node:crypto");
const http = require("node:http");
const net = require("node:net");
const os = require("node:os");
const { NativeStore } = require("../binding");
const { KVNamespace, CONSTRUCT } = require("./namespace");
const { KV_STORE } = require("./miniflare");
const { resolvePersist } = require("./persist");
const { accountRoute } = require("./http/account");
const { serveExplorer } = require("./http/explorer/serve");

/** What the explorer page reads about the store: where it is, which bindings. */
const EXPLORER_INFO = "/explorer/info";

/** A location for people: no Redis password. */
function describeLocation(location) {
  if (/^rediss?:/i.test(location)) {
    try {
      const url = new URL(location);
      if (url.password) url.password = "***";
      return url.href;
    } catch {
      return location;
    }
  }
  return location;
}

/** Cloudflare API error codes used here (production-kv-and-tooling.md §3). */
const ERROR_CODES = {
  /** Anything else: a storage failure, an unknown route. */
  GENERIC: 10000,
  /** A request that is not acceptable: its body, parameters or limits. */
  BAD_REQUEST: 10001,
  KEY_NOT_FOUND: 10009,
  NAMESPACE_NOT_FOUND: 10013,
  NAMESPACE_TITLE_EXISTS: 10014,
};

/** Largest request body read: a 100 MB bulk write, plus room for framing. */
const MAX_BODY_BYTES = 101 * 1000 * 1000;
const ROUTE = /^\/client\/v4\/accounts\/([^/]+)\/storage\/kv\/namespaces(?:\/(.*))?$/;

class ApiError extends Error {
  constructor(status, code, message, pointer) {
    super(message);
    this.status = status;
    this.code = code;
    this.pointer = pointer;
  }
}

const notFound = (id) => new ApiError(404, ERROR_CODES.NAMESPACE_NOT_FOUND, `KV namespace "${id}" not found.`);
const badRequest = (message, pointer) => new ApiError(400, ERROR_CODES.BAD_REQUEST, message, pointer);

/** A core or binding error → HTTP status, Cloudflare code and message. */
function toApiError(error) {
  if (error instanceof ApiError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (/^KV namespace ".*" not found\.$/s.test(message)) return new ApiError(404, ERROR_CODES.NAMESPACE_NOT_FOUND, message);
  if (/^A KV namespace with the title .* already exists\.$/s.test(message)) {
    return new ApiError(400, ERROR_CODES.NAMESPACE_TITLE_EXISTS, message);
  }
  const entry = /^Invalid bulk entry \[(\d+)\](?:, field "([^"]+)")?/.exec(message);
  if (entry) return badRequest(message, `/${entry[1]}${entry[2] ? `/${entry[2]}` : ""}`);
  if (/^Invalid bulk request: \d+ bytes;/.test(message)) return new ApiError(413, ERROR_CODES.BAD_REQUEST, message);
  if (/^Invalid (bulk request|KV namespace title)/.test(message)) return badRequest(message);
  // The binding's own errors: "KV PUT failed: 413 Value length of …".
  const failed = /^KV \w+ failed: (\d{3}) (.*)$/s.exec(message);
  if (failed) {
    const status = Number(failed[1]);
    return new ApiError(status, status < 500 ? ERROR_CODES.BAD_REQUEST : ERROR_CODES.GENERIC, failed[2]);
  }
  if (error instanceof TypeError) return badRequest(message);
  return new ApiError(500, ERROR_CODES.GENERIC, message);
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function sendResult(res, result, resultInfo) {
  const body = { success: true, errors: [], messages: [], result };
  if (resultInfo !== undefined) body.result_info = resultInfo;
  sendJson(res, 200, body);
}

function sendError(res, error) {
  const problem = { code: error.code, message: error.message };
  if (error.pointer !== undefined) problem.source = { pointer: error.pointer };
  sendJson(res, error.status, { success: false, errors: [problem], messages: [], result: null });
}

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES) {
    throw new ApiError(413, ERROR_CODES.BAD_REQUEST, `Request body of ${size} bytes exceeds the limit of ${MAX_BODY_BYTES}.`);
  }
  return Buffer.concat(chunks);
}

function parseJson(body) {
  try {
    return JSON.parse(body.toString("utf8"));
  } catch (error) {
    throw badRequest(`Request body is not valid JSON (${error.message}).`);
  }
}

function decodeKey(raw) {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest("Could not URL-decode key name");
  }
}

/** An optional whole-number query parameter. */
function intParam(url, name, { min, max } = {}) {
  const text = url.searchParams.get(name);
  if (text === null || text === "") return undefined;
  if (!/^-?\d+$/.test(text)) throw badRequest(`${name} must be a whole number; got ${JSON.stringify(text)}.`);
  const value = Number(text);
  if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
    throw badRequest(`${name} must be between ${min} and ${max}; got ${value}.`);
  }
  return value;
}

/** The value and metadata of a value write: multipart (parts `value`,
 * `metadata`) or the raw body. */
async function readValueWrite(req) {
  const body = await readBody(req);
  const type = req.headers["content-type"] ?? "";
  if (!/^multipart\/form-data/i.test(type)) return { value: body, metadata: undefined };
  let form;
  try {
    form = await new Request("http://localhost/", { method: "PUT", headers: { "content-type": type }, body }).formData();
  } catch (error) {
    throw badRequest(`Could not parse the multipart body (${error.message}).`);
  }
  const part = form.get("value");
  if (part === null) throw badRequest('The multipart body has no "value" part.', "/value");
  const value = typeof part === "string" ? part : Buffer.from(await part.arrayBuffer());
  const metadataPart = form.get("metadata");
  let metadata;
  if (metadataPart !== null) {
    const text = typeof metadataPart === "string" ? metadataPart : await metadataPart.text();
    try {
      metadata = JSON.parse(text);
    } catch {
      throw badRequest("metadata must be valid json", "/metadata");
    }
  }
  return { value, metadata };
}

/** Where the data comes from: a Miniflare instance (its store and bindings)
 * or a store this API opened itself. */
function sourceFor(target, bindings = new Map()) {
  if (target !== null && typeof target === "object" && typeof target[KV_STORE] === "function") {
    return { get: () => target[KV_STORE](), close() {} };
  }
  const location = resolvePersist(target);
  let opening = null;
  let store = null;
  return {
    async get() {
      opening ??= (async () => {
        store = /^rediss?:\/\//i.test(location) ? await NativeStore.connect(location) : new NativeStore(location);
        return store;
      })();
      opening.catch(() => (opening = null)); // a Redis that comes back later is picked up
      return { store: await opening, bindings };
    },
    close() {
      store?.dispose();
    },
  };
}

/** The namespaces the API lists: registered ones, then bound ones that are
 * not registered (titled by their binding name), then those that only hold
 * data (titled by their id). The last two carry `unregistered: true` (not a
 * Cloudflare field; naming one with PUT registers it). */
async function allNamespaces(store, bindings) {
  const list = (await store.namespaces()).map(({ id, title }) => ({ id, title, supports_url_encoding: true }));
  const seen = new Set(list.map((ns) => ns.id));
  for (const [binding, id] of bindings) {
    if (seen.has(id)) continue;
    seen.add(id);
    list.push({ id, title: binding, supports_url_encoding: true, unregistered: true });
  }
  for (const id of await store.dataNamespaces(Date.now())) {
    if (seen.has(id)) continue;
    seen.add(id);
    list.push({ id, title: id, supports_url_encoding: true, unregistered: true });
  }
  return list;
}

async function namespaceInfo(store, bindings, id) {
  const found = (await allNamespaces(store, bindings)).find((ns) => ns.id === id);
  if (found) return found;
  if (await store.namespaceExists(id, Date.now())) return { id, title: id, supports_url_encoding: true };
  throw notFound(id);
}

async function requireNamespace(store, bindings, id) {
  if ([...bindings.values()].includes(id)) return;
  if (!(await store.namespaceExists(id, Date.now()))) throw notFound(id);
}

async function listNamespaces(res, url, store, bindings) {
  const page = intParam(url, "page", { min: 1, max: Number.MAX_SAFE_INTEGER }) ?? 1;
  const perPage = intParam(url, "per_page", { min: 1, max: 1000 }) ?? 20;
  const order = url.searchParams.get("order") ?? "id";
  const direction = url.searchParams.get("direction") ?? "asc";
  if (order !== "id" && order !== "title") throw badRequest(`order must be "id" or "title"; got ${JSON.stringify(order)}.`);
  if (direction !== "asc" && direction !== "desc") {
    throw badRequest(`direction must be "asc" or "desc"; got ${JSON.stringify(direction)}.`);
  }
  const list = await allNamespaces(store, bindings);
  list.sort((a, b) => (a[order] < b[order] ? -1 : a[order] > b[order] ? 1 : 0) * (direction === "asc" ? 1 : -1));
  const result = list.slice((page - 1) * perPage, page * perPage);
  sendResult(res, result, {
    page,
    per_page: perPage,
    count: result.length,
    total_count: list.length,
    total_pages: Math.ceil(list.length / perPage),
  });
}

async function handleNamespace(req, res, url, store, bindings, id, rest) {
  const ns = () => new KVNamespace(CONSTRUCT, store.namespace(id));
  const method = req.method;
  const [section, ...tail] = rest;
  if (section === undefined) {
    if (method === "GET") return sendResult(res, await namespaceInfo(store, bindings, id));
    if (method === "PUT") {
      const { title } = parseJson(await readBody(req)) ?? {};
      if (typeof title !== "string") throw badRequest('The body must be {"title": string}.', "/title");
      const info = await store.renameNamespace(id, title);
      return sendResult(res, { ...info, supports_url_encoding: true });
    }
    if (method === "DELETE") {
      await store.deleteNamespace(id, Date.now());
      return sendResult(res, {});
    }
  }
  if (section === "keys" && tail.length === 0 && method === "GET") {
    await requireNamespace(store, bindings, id);
    const limit = intParam(url, "limit", { min: 10, max: 1000 });
    const page = await ns().list({
      prefix: url.searchParams.get("prefix") ?? undefined,
      cursor: url.searchParams.get("cursor") || undefined,
      limit,
    });
    const keys = page.keys.map(({ name, expiration, metadata }) => {
      const key = { name };
      if (expiration !== undefined) key.expiration = expiration;
      if (metadata !== undefined) key.metadata = metadata;
      return key;
    });
    return sendResult(res, keys, { count: keys.length, cursor: page.list_complete ? "" : page.cursor });
  }
  if ((section === "values" || section === "metadata") && tail.length > 0) {
    const key = decodeKey(tail.join("/"));
    await requireNamespace(store, bindings, id);
    const keyNotFound = () => new ApiError(404, ERROR_CODES.KEY_NOT_FOUND, "get: 'key not found'");
    if (section === "metadata" && method === "GET") {
      const { value, metadata } = await ns().getWithMetadata(key, "arrayBuffer");
      if (value === null) throw keyNotFound();
      return sendResult(res, metadata);
    }
    if (method === "GET") {
      const value = await ns().get(key, "arrayBuffer");
      if (value === null) throw keyNotFound();
      const headers = { "content-type": "application/octet-stream", "content-length": value.byteLength };
      // The key itself is the first key with itself as prefix.
      const [listed] = (await ns().list({ prefix: key, limit: 1 })).keys;
      if (listed?.name === key && listed.expiration !== undefined) headers.expiration = String(listed.expiration);
      res.writeHead(200, headers);
      return res.end(Buffer.from(value));
    }
    if (method === "PUT") {
      const expiration = intParam(url, "expiration");
      const expirationTtl = intParam(url, "expiration_ttl");
      const { value, metadata } = await readValueWrite(req);
      await ns().put(key, value, { expiration, expirationTtl, metadata });
      return sendResult(res, {});
    }
    if (method === "DELETE") {
      await ns().delete(key);
      return sendResult(res, {});
    }
  }
  if (section === "bulk") {
    const sub = tail.join("/");
    const bulkDelete = (sub === "delete" && method === "POST") || (sub === "" && method === "DELETE");
    if ((sub === "" && method === "PUT") || bulkDelete) {
      await requireNamespace(store, bindings, id);
      const text = (await readBody(req)).toString("utf8");
      const outcome = bulkDelete ? await store.deleteBulk(id, text, 0, false) : await store.putBulk(id, text, 0, Date.now(), false);
      return sendResult(res, { successful_key_count: outcome.count, unsuccessful_keys: [] });
    }
    if (sub === "get" && method === "POST") {
      await requireNamespace(store, bindings, id);
      const { keys, type = "text", withMetadata = false } = parseJson(await readBody(req)) ?? {};
      if (!Array.isArray(keys)) throw badRequest('The body must be {"keys": [string, …]}.', "/keys");
      const found = withMetadata ? await ns().getWithMetadata(keys, { type }) : await ns().get(keys, { type });
      const values = {};
      for (const [key, value] of found) values[key] = value;
      return sendResult(res, { values });
    }
  }
  throw new ApiError(404, ERROR_CODES.GENERIC, `No route for ${method} ${url.pathname}`);
}

// ------------------------------------------------------------- who may call

const forbidden = (message) => new ApiError(403, ERROR_CODES.GENERIC, message);

/** 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses. */
function isLoopbackAddress(address) {
  const plain = address.replace(/^\[|\]$/g, "").toLowerCase();
  if (plain === "::1") return true;
  const v4 = plain.startsWith("::ffff:") ? plain.slice(7) : plain;
  return net.isIPv4(v4) && v4.startsWith("127.");
}

/** A hostname as a browser puts it in Host/Origin: lower case, IPv6 without brackets. */
const normalHost = (hostname) => hostname.toLowerCase().replace(/^\[|\]$/g, "").replace(/\.$/, "");

/** Host names a request to this server may carry: loopback names, the address
 * listened on (every local interface's when that is 0.0.0.0 or ::), and the
 * host the caller asked to listen on as written (e.g. a machine name). */
function allowedHostnames(listenedOn, requestedHost) {
  const names = new Set(["localhost", normalHost(listenedOn), normalHost(requestedHost)]);
  if (listenedOn === "0.0.0.0" || listenedOn === "::") {
    for (const addresses of Object.values(os.networkInterfaces())) {
      for (const { address } of addresses ?? []) names.add(normalHost(address.replace(/%.*$/, "")));
    }
  }
  return names;
}

/**
 * The checks run on every request before it is routed, so a refused request
 * reads and changes nothing. Throws the ApiError to answer with.
 */
function guardFor({ port, listenedOn, requestedHost, token }) {
  const hostnames = allowedHostnames(listenedOn, requestedHost);
  const allowed = (hostname) => hostnames.has(hostname) || isLoopbackAddress(hostname);
  const shown = listenedOn.includes(":") ? `[${listenedOn}]` : listenedOn;
  const ownOrigin = `http://${isLoopbackAddress(listenedOn) || listenedOn === "0.0.0.0" || listenedOn === "::" ? "127.0.0.1" : shown}:${port}`;
  const expected = token === undefined ? null : crypto.createHash("sha256").update(`Bearer ${token}`).digest();
  return (req, { page = false } = {}) => {
    // DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example.
    const host = req.headers.host;
    if (host !== undefined) {
      let hostname = null;
      try {
        hostname = normalHost(new URL(`http://${host}`).hostname);
      } catch {
        // not a host[:port]: refused below
      }
      if (hostname === null || !allowed(hostname)) {
        throw forbidden(
          `Refused: the Host header ${JSON.stringify(host)} is not this server's address (${shown}) or a loopback name ` +
            "(localhost, 127.x.x.x, [::1]). The local KV API answers only requests addressed to it, so that a web page cannot reach it by DNS rebinding.",
        );
      }
    }
    // A cross-site form or fetch (even a "simple" text/plain POST that needs no
    // preflight) carries its page's Origin; sandboxed pages and files send "null".
    const origin = req.headers.origin;
    if (origin !== undefined) {
      let same = false;
      try {
        const parsed = new URL(origin);
        same = parsed.protocol === "http:" && allowed(normalHost(parsed.hostname)) && Number(parsed.port || 80) === port;
      } catch {
        // "null" and anything else that is not a URL
      }
      if (!same) {
        throw forbidden(
          `Refused: the request comes from a web page (Origin: ${origin}). The local KV API answers clients that send no Origin ` +
            `(curl, wrangler, the cloudflare SDK) and pages of its own origin (${ownOrigin}), so that other sites cannot read or change your KV data.`,
        );
      }
    }
    if (expected !== null && !page) {
      const given = crypto.createHash("sha256").update(req.headers.authorization ?? "").digest();
      // Hashes of equal length: a constant-time comparison of any two headers.
      if (!crypto.timingSafeEqual(given, expected)) {
        throw forbidden(
          "Authentication error: this local KV API needs the header `Authorization: Bearer <token>` with the token it was started with " +
            "(printed by `miniflare --api-port` at startup, --api-token, or startKvApi's apiToken / returned token).",
        );
      }
    }
  };
}

async function handle(req, res, source, guard) {
  const url = new URL(req.url, "http://localhost");
  // The explorer page (lib/http/explorer/) holds no data: Host and Origin are
  // checked, the token is not (a browser navigation cannot send one).
  guard(req, { page: !url.pathname.startsWith("/client/") && url.pathname !== EXPLORER_INFO });
  if (serveExplorer(req, res, url.pathname)) return;
  const identity = accountRoute(req.method, url);
  if (identity) return sendResult(res, identity.result, identity.resultInfo);
  if (url.pathname === EXPLORER_INFO && req.method === "GET") {
    const { store, bindings } = await source.get();
    return sendResult(res, { location: describeLocation(store.location), bindings: Object.fromEntries(bindings) });
  }
  const match = ROUTE.exec(url.pathname);
  if (!match) throw new ApiError(404, ERROR_CODES.GENERIC, `No route for ${req.method} ${url.pathname}`);
  const { store, bindings } = await source.get();
  if (match[2] === undefined || match[2] === "") {
    if (req.method === "GET") return listNamespaces(res, url, store, bindings);
    if (req.method === "POST") {
      const { title } = parseJson(await readBody(req)) ?? {};
      if (typeof title !== "string") throw badRequest('The body must be {"title": string}.', "/title");
      const info = await store.createNamespace(title);
      return sendResult(res, { ...info, supports_url_encoding: true });
    }
    throw new ApiError(404, ERROR_CODES.GENERIC, `No route for ${req.method} ${url.pathname}`);
  }
  const [rawId, ...rest] = match[2].split("/");
  return handleNamespace(req, res, url, store, bindings, decodeKey(rawId), rest);
}

/** A token for a server that must have one: 32 random bytes, URL-safe. */
const generateToken = () => crypto.randomBytes(32).toString("base64url");

/**
 * Serves the KV REST API over `target`: a Miniflare instance (same data as
 * its bindings, including in memory) or a `kvPersist` value (a directory,
 * `sled:<path>`, a redis:// URL). Resolves `{ url, explorerUrl, port, token, close() }`;
 * `url` is the base URL for clients (`…/client/v4`), `explorerUrl` the KV
 * explorer page's (with the token, if any, in its fragment). With `apiToken`, or on
 * an address that is not loopback (where one is generated when not given),
 * requests need `Authorization: Bearer <token>`; `token` is that token
 * (undefined when none is required). `bindings` (binding name → namespace id)
 * names the namespaces of a store given as a location, as a Miniflare
 * instance's bindings do.
 */
async function startKvApi(target, { port = 0, host = "127.0.0.1", apiToken, bindings } = {}) {
  if (apiToken !== undefined && (typeof apiToken !== "string" || apiToken === "" || /[\s]/.test(apiToken))) {
    throw new TypeError("apiToken must be a non-empty string without spaces (sent as `Authorization: Bearer <token>`).");
  }
  // `bindings` (binding → id, for a store opened here): names shown next to ids.
  const source = sourceFor(target, new Map(bindings instanceof Map ? bindings : Object.entries(bindings ?? {})));
  let guard = null; // set once the address is known, before any request is read
  let token;
  const inFlight = new Set(); // requests being answered, for a graceful close()
  let drained = null;
  const server = http.createServer((req, res) => {
    const done = handle(req, res, source, guard).catch((error) => {
      if (res.headersSent) res.destroy();
      else sendError(res, toApiError(error));
      // Unread request bodies are drained so the connection stays usable.
      req.resume();
    });
    inFlight.add(done);
    done.finally(() => {
      inFlight.delete(done);
      if (inFlight.size === 0) drained?.();
    });
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const { address, port: bound } = server.address();
      // Anything but loopback is reachable from other machines: never without a token.
      token = apiToken ?? (isLoopbackAddress(address) ? undefined : generateToken());
      guard = guardFor({ port: bound, listenedOn: address, requestedHost: host, token });
      resolve();
    });
  });
  const address = server.address();
  const shownHost = address.address.includes(":") ? `[${address.address}]` : address.address;
  let closing = null;
  const origin = `http://${shownHost === "[::]" ? "[::1]" : shownHost === "0.0.0.0" ? "127.0.0.1" : shownHost}:${address.port}`;
  return {
    url: `http://${shownHost}:${address.port}/client/v4`,
    // The token rides in the fragment, which browsers never send: the page
    // moves it to sessionStorage and takes it off the address bar.
    explorerUrl: `${origin}/${token === undefined ? "" : `#token=${encodeURIComponent(token)}`}`,
    port: address.port,
    token,
    /** Stops accepting connections, lets requests being answered finish, then
     * closes every connection and the storage opened here. */
    close() {
      closing ??= (async () => {
        const closed = new Promise((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        if (inFlight.size > 0) await new Promise((resolve) => (drained = resolve));
        server.closeAllConnections();
        await closed;
        source.close();
      })();
      return closing;
    },
  };
}

module.exports = { startKvApi, ERROR_CODES };

// Talks to the local Cloudflare v4 API on this page's own origin. Every read
// and edit of the explorer goes through here, so it is exactly as validated as
// any other client's.
//
// The token: when the server requires one (off loopback, or --api-token), the
// URL it prints carries it once in the fragment (#token=…), which browsers never
// send to a server or put in a Referer. The page moves it to sessionStorage
// (this tab only, gone when the tab closes) and takes it off the address bar.
// Without one, a 403 asks for it (see app.js).

const TOKEN_KEY = "miniflare-kv-explorer:token";
/** Any account id is accepted by the local API; this is its own. */
const ACCOUNT = "00000000000000000000000000000000";
const BASE = `/client/v4/accounts/${ACCOUNT}/storage/kv/namespaces`;

export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
  /** The server wants a (different) token. */
  get needsToken() {
    return this.status === 403 && /^Authentication error/.test(this.message);
  }
}

export function takeTokenFromUrl() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token === null) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  params.delete("token");
  const rest = params.toString();
  history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

async function send(path, { method = "GET", body, headers = {}, signal } = {}) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const all = { ...headers };
  if (token) all.authorization = `Bearer ${token}`;
  return fetch(path, { method, body, headers: all, signal, credentials: "omit", cache: "no-store" });
}

async function failure(res) {
  let json = null;
  try {
    json = await res.json();
  } catch {
    // not JSON: the status says it all
  }
  const problem = json?.errors?.[0];
  return new ApiError(res.status, problem?.message ?? `${res.status} ${res.statusText}`, problem?.code);
}

/** A JSON call: the envelope `{ result, result_info }`, or throws ApiError. */
export async function call(path, options = {}) {
  const init = { ...options };
  if (init.json !== undefined) {
    init.body = JSON.stringify(init.json);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  const res = await send(path, init);
  if (!res.ok) throw await failure(res);
  const json = await res.json();
  if (!json.success) throw new ApiError(res.status, json.errors?.[0]?.message ?? "Request failed", json.errors?.[0]?.code);
  return json;
}

export const namespacesPath = () => BASE;
export const namespacePath = (id) => `${BASE}/${encodeURIComponent(id)}`;
export const valuePath = (id, key) => `${namespacePath(id)}/values/${encodeURIComponent(key)}`;
export const metadataPath = (id, key) => `${namespacePath(id)}/metadata/${encodeURIComponent(key)}`;

export const explorerInfo = async () => (await call("/explorer/info")).result;

/** Every namespace: pages of 1,000 (the API's largest). */
export async function listNamespaces() {
  const all = [];
  for (let page = 1; ; page++) {
    const { result, result_info: info } = await call(`${BASE}?per_page=1000&page=${page}&order=title`);
    all.push(...result);
    if (result.length === 0 || page * 1000 >= info.total_count) return all;
  }
}

/** One page of keys: `{ keys, cursor }` (cursor "" on the last page). */
export async function listKeys(id, { prefix = "", cursor = "", limit = 100, signal } = {}) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (prefix) query.set("prefix", prefix);
  if (cursor) query.set("cursor", cursor);
  const { result, result_info: info } = await call(`${namespacePath(id)}/keys?${query}`, { signal });
  return { keys: result, cursor: info?.cursor ?? "" };
}

/** A value's bytes and expiration (unix seconds, or null). */
export async function readValue(id, key) {
  const res = await send(valuePath(id, key));
  if (!res.ok) throw await failure(res);
  const expiration = res.headers.get("expiration");
  return { bytes: new Uint8Array(await res.arrayBuffer()), expiration: expiration ? Number(expiration) : null };
}

export const readMetadata = async (id, key) => (await call(metadataPath(id, key))).result ?? null;

/**
 * Writes a key. `value`: a string or a Blob; `metadata`: any JSON value or
 * undefined; `expiry`: { ttl } or { at } (unix seconds) or {}.
 */
export async function putValue(id, key, value, { metadata, expiry = {} } = {}) {
  const query = new URLSearchParams();
  if (expiry.ttl !== undefined) query.set("expiration_ttl", String(expiry.ttl));
  if (expiry.at !== undefined) query.set("expiration", String(expiry.at));
  const path = `${valuePath(id, key)}${query.size ? `?${query}` : ""}`;
  let body = value;
  if (metadata !== undefined) {
    // As Cloudflare's API: multipart with the parts "value" and "metadata".
    body = new FormData();
    body.append("value", typeof value === "string" ? new Blob([value]) : value);
    body.append("metadata", JSON.stringify(metadata));
  }
  return call(path, { method: "PUT", body });
}

export const deleteValue = (id, key) => call(valuePath(id, key), { method: "DELETE" });

/** The API's bulk limit per request. */
export const BULK_LIMIT = 10000;

export async function bulkPut(id, entries) {
  return (await call(`${namespacePath(id)}/bulk`, { method: "PUT", json: entries })).result;
}

export async function bulkDelete(id, keys) {
  return (await call(`${namespacePath(id)}/bulk/delete`, { method: "POST", json: keys })).result;
}

export const createNamespace = async (title) => (await call(BASE, { method: "POST", json: { title } })).result;
export const renameNamespace = async (id, title) =>
  (await call(namespacePath(id), { method: "PUT", json: { title } })).result;
export const deleteNamespace = (id) => call(namespacePath(id), { method: "DELETE" });
export const namespaceInfo = async (id) => (await call(namespacePath(id))).result;

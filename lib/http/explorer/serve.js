"use strict";
// Serves the KV explorer page (the files beside this one) from the server that
// startKvApi starts, so the page and the REST API under /client/v4 share one
// origin and one set of checks. The page is a shell: it holds no data, so it is
// served without the API token (a browser cannot send one on a navigation);
// every read and edit it makes goes to the API and carries the token.
//
// Page routes: `/` (namespaces) and `/namespaces/<id>[?prefix=…&key=…]` both get
// index.html, which routes in the browser. Assets live under /explorer/.

const fs = require("node:fs");
const path = require("node:path");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

/** Nothing from another origin, no inline script; values shown as images come
 * from blob: URLs the page makes from bytes it fetched. */
const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "cache-control": "no-cache",
};

/** The page's files, read once: name → { type, body }. */
let assets = null;
function loadAssets() {
  if (assets) return assets;
  assets = new Map();
  for (const name of fs.readdirSync(__dirname)) {
    const type = TYPES[path.extname(name)];
    if (type && name !== "serve.js") assets.set(name, { type, body: fs.readFileSync(path.join(__dirname, name)) });
  }
  return assets;
}

/** The explorer file for a request path, or null when the path is not the page's. */
function explorerAsset(pathname) {
  const files = loadAssets();
  if (pathname === "/" || pathname === "/index.html" || /^\/namespaces\/[^/]+\/?$/.test(pathname)) {
    return files.get("index.html");
  }
  const asset = /^\/explorer\/([a-z0-9-]+\.[a-z]+)$/.exec(pathname);
  return asset ? (files.get(asset[1]) ?? null) : null;
}

/** Answers GET/HEAD of a page route; false when `pathname` is not one. */
function serveExplorer(req, res, pathname) {
  if (req.method !== "GET" && req.method !== "HEAD") return false;
  const asset = explorerAsset(pathname);
  if (!asset) return false;
  res.writeHead(200, { ...SECURITY_HEADERS, "content-type": asset.type, "content-length": asset.body.length });
  res.end(req.method === "HEAD" ? undefined : asset.body);
  return true;
}

module.exports = { serveExplorer, SECURITY_HEADERS };

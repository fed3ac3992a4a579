"use strict";
// The account and token endpoints of the local Cloudflare v4 API.
//
// With no account id configured (no CLOUDFLARE_ACCOUNT_ID, no `account_id`),
// wrangler asks `GET /memberships` to pick the account, and `wrangler whoami`
// asks `GET /user/tokens/verify`, `GET /user` and `GET /accounts`. The local API
// has exactly one account, so every answer names it; any token that passes the
// server's own check (see guardFor in lib/rest-api.js) is "active". Every other
// route accepts any account id, so wrangler may also be given one.

/** The one local account. An id of 32 hex digits, as Cloudflare's, so tools that
 * check the shape accept it; the zeros say it is not a real account. */
const LOCAL_ACCOUNT = Object.freeze({ id: "00000000000000000000000000000000", name: "Local KV (miniflare-kv)" });

/** A made-up address (.invalid is reserved for that), so `wrangler whoami`
 * prints an email instead of asking for the User Details permission. */
const LOCAL_USER = Object.freeze({ id: "00000000000000000000000000000000", email: "local-user@miniflare-kv.invalid" });

const CREATED_ON = "2020-01-01T00:00:00Z";

function account() {
  return { id: LOCAL_ACCOUNT.id, name: LOCAL_ACCOUNT.name, type: "standard", settings: {}, created_on: CREATED_ON };
}

function membership() {
  return {
    id: LOCAL_ACCOUNT.id,
    status: "accepted",
    account: { id: LOCAL_ACCOUNT.id, name: LOCAL_ACCOUNT.name },
    roles: ["Administrator"],
    permissions: { workers_kv_storage: { read: true, write: true } },
  };
}

/** One list of one item, with the paging fields wrangler reads (it stops when
 * page × per_page reaches total_count). */
function onePage(item, url) {
  const page = Math.max(1, Number.parseInt(url.searchParams.get("page") ?? "1", 10) || 1);
  const perPage = Math.max(1, Number.parseInt(url.searchParams.get("per_page") ?? "20", 10) || 20);
  const result = page === 1 ? [item] : [];
  return { result, resultInfo: { page, per_page: perPage, count: result.length, total_count: 1, total_pages: 1 } };
}

/**
 * The answer for an account/user route, or null when `pathname` is not one.
 * Only GET is served: these describe the local setup and change nothing.
 */
function accountRoute(method, url) {
  if (method !== "GET") return null;
  const path = url.pathname.replace(/\/+$/, "");
  switch (path) {
    case "/client/v4/memberships":
      return onePage(membership(), url);
    case "/client/v4/accounts":
      return onePage(account(), url);
    case "/client/v4/user":
      return { result: { ...LOCAL_USER, first_name: null, last_name: null, suspended: false } };
    case "/client/v4/user/tokens/verify":
      return { result: { id: LOCAL_USER.id, status: "active" } };
    default:
  }
  // Any account id: the one a user configured is as good as the local one.
  const one = /^\/client\/v4\/accounts\/([^/]+)(\/tokens\/verify)?$/.exec(path);
  if (one && one[2]) return { result: { id: LOCAL_USER.id, status: "active" } };
  if (one) {
    let id = one[1];
    try {
      id = decodeURIComponent(id);
    } catch {
      // not %-encoded text: answered as written
    }
    return { result: { ...account(), id } };
  }
  return null;
}

module.exports = { accountRoute, LOCAL_ACCOUNT };

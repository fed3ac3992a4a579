// The KV explorer: a small single-page app over the local REST API (api.js).
//
// Views, each with its own URL so it can be linked and reloaded:
//   /                                   every namespace of the store
//   /namespaces/<id>?prefix=…&key=…     a namespace's keys (one page at a time,
//                                       paged by cursor) and, with `key`, a key
//
// Everything the store holds is shown with textContent, never as HTML.

import * as api from "./api.js";
import {
  absoluteTime,
  asJson,
  asText,
  bytes,
  count,
  fileNameFor,
  hexDump,
  imageType,
  plural,
  relativeTime,
  toLocalInput,
} from "./format.js";

const main = document.getElementById("main");
const statusLine = document.getElementById("status");
const dialog = document.getElementById("dialog");

/** Keys per page in the namespace view (the API allows 10–1,000). */
const PAGE_SIZES = [50, 100, 500, 1000];
/** Largest part of a value rendered as text or hex (the download has it all). */
const SHOWN_BYTES = 1024 * 1024;
const HEX_BYTES = 64 * 1024;

let info = { location: "", bindings: {} };

// ------------------------------------------------------------------ helpers

/** Builds an element: h("button", { class: "x", onclick }, "text", child…). */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

function say(message) {
  statusLine.textContent = message;
}

function bindingsOf(id) {
  return Object.entries(info.bindings)
    .filter(([, bound]) => bound === id)
    .map(([name]) => name);
}

const namespaceUrl = (id, params = {}) => {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value) query.set(name, value);
  const text = query.toString();
  return `/namespaces/${encodeURIComponent(id)}${text ? `?${text}` : ""}`;
};

function navigate(url, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  route();
}

/** An API failure in a view: the API's own message; a token form when it wants one. */
function showFailure(error, where = main) {
  if (error instanceof api.ApiError && error.needsToken) return askForToken();
  where.replaceChildren(h("p", { class: "error", role: "alert" }, error.message));
}

function expirationCell(expiration) {
  if (expiration === undefined || expiration === null) return h("span", { class: "muted" }, "never");
  return h(
    "time",
    { datetime: new Date(expiration * 1000).toISOString(), title: `unix time ${expiration}` },
    `${absoluteTime(expiration)} `,
    h("span", { class: "muted" }, `(${relativeTime(expiration)})`),
  );
}

function metadataText(metadata) {
  if (metadata === undefined) return "";
  const text = JSON.stringify(metadata);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

// ------------------------------------------------------------------ dialogs

/**
 * Shows a modal form. `build(form)` returns the fields; `submit(form)` runs on
 * submit and may throw to show its message in the dialog (the dialog stays).
 */
function openForm({ title, submitLabel, build, submit, danger = false }) {
  return new Promise((resolve) => {
    const error = h("p", { class: "error", role: "alert", id: "dialog-error" });
    const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
    const ok = h("button", { type: "submit", class: danger ? "danger" : "primary" }, submitLabel);
    const form = h("form", { method: "dialog", "aria-describedby": "dialog-error" });
    form.append(h("h2", { id: "dialog-title" }, title), ...build(form), error, h("div", { class: "actions" }, cancel, ok));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      ok.disabled = true;
      try {
        const result = await submit(form);
        dialog.close("done");
        resolve(result ?? true);
      } catch (failure) {
        if (failure instanceof api.ApiError && failure.needsToken) {
          dialog.close("cancel");
          askForToken();
          return;
        }
        error.textContent = failure.message;
      } finally {
        ok.disabled = false;
      }
    });
    dialog.onclose = () => {
      if (dialog.returnValue !== "done") resolve(null);
    };
    dialog.replaceChildren(form);
    dialog.returnValue = "";
    dialog.showModal();
    (form.querySelector("[autofocus]") ?? form.querySelector("input, textarea, select, button"))?.focus();
  });
}

const confirmAction = (title, text, submitLabel) =>
  openForm({ title, submitLabel, danger: true, build: () => [h("p", {}, text)], submit: () => true });

function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2)}`;
  control.id = id;
  const hintEl = hint ? h("small", { id: `${id}-hint`, class: "muted" }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

function askForToken() {
  openForm({
    title: "API token needed",
    submitLabel: "Use token",
    build: () => [
      h(
        "p",
        {},
        "This KV API requires a token (it was printed when the server started, or given with --api-token). " +
          "It is kept for this tab only.",
      ),
      field("API token", h("input", { name: "token", type: "password", autocomplete: "off", required: true, autofocus: true })),
    ],
    submit: (form) => {
      api.setToken(form.elements.token.value.trim());
    },
  }).then((done) => done && route());
}

// --------------------------------------------------------- namespaces view

async function showNamespaces() {
  document.title = "Namespaces · KV Explorer";
  const list = await api.listNamespaces();
  const rows = list.map((ns) => {
    const keysCell = h("td", { class: "num" }, h("span", { class: "muted" }, "…"));
    const bound = bindingsOf(ns.id);
    return {
      ns,
      keysCell,
      row: h(
        "tr",
        {},
        h("th", { scope: "row" }, h("a", { href: namespaceUrl(ns.id), "data-link": true }, ns.title)),
        h("td", {}, h("code", {}, ns.id)),
        h("td", {}, bound.length ? bound.join(", ") : h("span", { class: "muted" }, "—")),
        keysCell,
        h("td", {}, ns.unregistered ? h("span", { class: "tag" }, "unregistered") : "registered"),
        h(
          "td",
          { class: "row-actions" },
          h("button", { type: "button", onclick: () => renameNamespace(ns), "aria-label": `Rename ${ns.title}` }, "Rename"),
          h(
            "button",
            { type: "button", class: "danger", onclick: () => deleteNamespace(ns), "aria-label": `Delete ${ns.title}` },
            "Delete",
          ),
        ),
      ),
    };
  });
  const table = list.length
    ? h(
        "table",
        { class: "grid" },
        h("caption", { class: "visually-hidden" }, "Namespaces"),
        h(
          "thead",
          {},
          h("tr", {}, ...["Title", "ID", "Binding", "Keys", "Status", "Actions"].map((name) => h("th", { scope: "col" }, name))),
        ),
        h("tbody", {}, rows.map((r) => r.row)),
      )
    : h("p", { class: "muted" }, "This store has no namespaces yet. Create one, or write keys with the Node API or `miniflare kv`.");
  main.replaceChildren(
    h(
      "div",
      { class: "heading" },
      h("h1", {}, "Namespaces"),
      h("button", { type: "button", class: "primary", onclick: createNamespace }, "Create namespace"),
    ),
    table,
  );
  say(`${plural(list.length, "namespace")}.`);
  // Key counts: one page of up to 1,000 keys each, a few at a time; more is "1,000+".
  const queue = [...rows];
  const worker = async () => {
    for (let next = queue.shift(); next; next = queue.shift()) {
      try {
        const page = await api.listKeys(next.ns.id, { limit: 1000 });
        next.keysCell.textContent = page.cursor ? "1,000+" : count(page.keys.length);
      } catch {
        next.keysCell.textContent = "?";
      }
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

async function createNamespace() {
  const created = await openForm({
    title: "Create namespace",
    submitLabel: "Create",
    build: () => [field("Title", h("input", { name: "title", required: true, maxlength: 512, autofocus: true }))],
    submit: (form) => api.createNamespace(form.elements.title.value),
  });
  if (created) {
    say(`Created namespace “${created.title}”.`);
    navigate(namespaceUrl(created.id));
  }
}

async function renameNamespace(ns) {
  const renamed = await openForm({
    title: `Rename “${ns.title}”`,
    submitLabel: "Rename",
    build: () => [
      ns.unregistered ? h("p", { class: "muted" }, "Giving this namespace a title registers it.") : null,
      field("New title", h("input", { name: "title", required: true, maxlength: 512, value: ns.title, autofocus: true })),
    ],
    submit: (form) => api.renameNamespace(ns.id, form.elements.title.value),
  });
  if (renamed) {
    say(`Renamed to “${renamed.title}”.`);
    route();
  }
}

async function deleteNamespace(ns) {
  const yes = await confirmAction(
    `Delete namespace “${ns.title}”?`,
    `This deletes the namespace ${ns.id} and every key in it. It cannot be undone.`,
    "Delete namespace",
  );
  if (!yes) return;
  try {
    await api.deleteNamespace(ns.id);
    say(`Deleted namespace “${ns.title}”.`);
    navigate("/", { replace: location.pathname === "/" });
  } catch (error) {
    showFailure(error);
  }
}

// ---------------------------------------------------------- namespace view

/** The namespace view's state; rebuilt when its namespace changes. */
let view = null;

async function showNamespace(id, params) {
  if (!view || view.id !== id) {
    let ns;
    try {
      ns = await api.namespaceInfo(id);
    } catch (error) {
      if (error instanceof api.ApiError && error.status === 404) {
        main.replaceChildren(
          h("p", { class: "error", role: "alert" }, error.message),
          h("p", {}, h("a", { href: "/", "data-link": true }, "All namespaces")),
        );
        return;
      }
      throw error;
    }
    view = buildNamespaceView(ns);
  }
  const prefix = params.get("prefix") ?? "";
  if (view.search.value !== prefix) view.search.value = prefix;
  document.title = `${view.ns.title} · KV Explorer`;
  if (!main.contains(view.root)) main.replaceChildren(view.root);
  if (prefix !== view.prefix || view.stale) {
    view.stale = false;
    await view.load(prefix, 0);
  }
  const key = params.get("key");
  if (key !== null) await view.openKey(key);
  else view.closeKey();
}

function buildNamespaceView(ns) {
  const state = {
    id: ns.id,
    ns,
    prefix: null,
    cursors: [""], // cursors[i] starts page i
    page: 0,
    keys: [],
    limit: 100,
    loading: null, // AbortController of the page being fetched
    stale: false,
  };
  const search = h("input", {
    type: "search",
    name: "prefix",
    placeholder: "Key prefix",
    autocomplete: "off",
    spellcheck: "false",
  });
  const pageSize = h(
    "select",
    { name: "limit" },
    PAGE_SIZES.map((n) => h("option", { value: String(n), selected: n === state.limit }, String(n))),
  );
  const tbody = h("tbody");
  const summary = h("p", { class: "muted", id: "keys-summary", "aria-live": "polite" });
  const prev = h("button", { type: "button", disabled: true }, "← Previous page");
  const next = h("button", { type: "button", disabled: true }, "Next page →");
  const deletePrefix = h("button", { type: "button", class: "danger" }, "Delete keys…");
  const panel = h("section", { class: "key-panel", hidden: true, "aria-labelledby": "key-title", tabindex: "-1" });

  const bound = bindingsOf(ns.id);
  const root = h(
    "div",
    { class: "namespace" },
    h("nav", { "aria-label": "Breadcrumb", class: "crumbs" }, h("a", { href: "/", "data-link": true }, "Namespaces"), " / "),
    h(
      "div",
      { class: "heading" },
      h("h1", {}, ns.title),
      h(
        "p",
        { class: "muted" },
        h("code", {}, ns.id),
        bound.length ? ` · binding ${bound.join(", ")}` : "",
        ns.unregistered ? " · " : "",
        ns.unregistered ? h("span", { class: "tag" }, "unregistered") : "",
      ),
    ),
    h(
      "div",
      { class: "toolbar", role: "toolbar", "aria-label": "Keys" },
      field("Search by prefix", search),
      field("Keys per page", pageSize),
      h("button", { type: "button", class: "primary", onclick: () => editKey(state, null) }, "Put key"),
      h("button", { type: "button", onclick: () => bulkUpload(state) }, "Bulk upload"),
      deletePrefix,
    ),
    h(
      "div",
      { class: "split" },
      h(
        "div",
        { class: "keys" },
        h(
          "table",
          { class: "grid", "aria-describedby": "keys-summary" },
          h("caption", { class: "visually-hidden" }, `Keys of ${ns.title}`),
          h("thead", {}, h("tr", {}, ...["Key", "Expiration", "Metadata"].map((name) => h("th", { scope: "col" }, name)))),
          tbody,
        ),
        summary,
        h("div", { class: "pager" }, prev, next),
      ),
      panel,
    ),
  );

  async function load(prefix, page) {
    state.loading?.abort();
    const controller = new AbortController();
    state.loading = controller;
    if (prefix !== state.prefix) state.cursors = [""];
    state.prefix = prefix;
    deletePrefix.textContent = prefix ? `Delete keys starting with “${prefix}”…` : "Delete all keys…";
    summary.textContent = "Loading…";
    let result;
    try {
      result = await api.listKeys(state.id, { prefix, cursor: state.cursors[page], limit: state.limit, signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      if (error instanceof api.ApiError && error.needsToken) return askForToken();
      summary.textContent = "";
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 3, class: "error", role: "alert" }, error.message)));
      return;
    }
    if (state.loading !== controller) return; // a newer search won
    state.loading = null;
    state.page = page;
    state.keys = result.keys;
    state.cursors.length = page + 1;
    if (result.cursor) state.cursors.push(result.cursor);
    tbody.replaceChildren(
      ...result.keys.map((key) =>
        h(
          "tr",
          { "data-key": key.name },
          h(
            "th",
            { scope: "row" },
            h(
              "a",
              {
                href: namespaceUrl(state.id, { prefix, key: key.name }),
                "data-link": true,
                class: "key-name",
              },
              key.name,
            ),
          ),
          h("td", {}, expirationCell(key.expiration)),
          h("td", {}, h("code", { class: "meta" }, metadataText(key.metadata))),
        ),
      ),
    );
    if (result.keys.length === 0) {
      tbody.replaceChildren(
        h("tr", {}, h("td", { colspan: 3, class: "muted" }, prefix ? `No keys start with “${prefix}”.` : "This namespace has no keys.")),
      );
    }
    const first = page * state.limit + 1;
    summary.textContent = result.keys.length
      ? `Page ${count(page + 1)}: keys ${count(first)}–${count(first + result.keys.length - 1)}${result.cursor ? " (more follow)" : ""}.`
      : "";
    prev.disabled = page === 0;
    next.disabled = !result.cursor;
  }

  // As you type: wait for a pause, then one request (an older one is aborted).
  let typing = null;
  search.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      const params = new URLSearchParams(location.search);
      if (search.value) params.set("prefix", search.value);
      else params.delete("prefix");
      params.delete("key");
      const query = params.toString();
      history.replaceState(null, "", `${location.pathname}${query ? `?${query}` : ""}`);
      closeKey();
      load(search.value, 0);
    }, 150);
  });
  pageSize.addEventListener("change", () => {
    state.limit = Number(pageSize.value);
    state.cursors = [""];
    load(state.prefix, 0);
  });
  prev.addEventListener("click", () => load(state.prefix, state.page - 1));
  next.addEventListener("click", () => load(state.prefix, state.page + 1));
  deletePrefix.addEventListener("click", () => deleteByPrefix(state));

  let opened = null; // the key shown in the panel
  let imageUrl = null;
  function closeKey() {
    opened = null;
    panel.hidden = true;
    panel.replaceChildren();
    if (imageUrl) URL.revokeObjectURL(imageUrl);
    imageUrl = null;
    for (const row of tbody.querySelectorAll("tr[aria-current]")) row.removeAttribute("aria-current");
  }

  async function openKey(key) {
    if (opened === key && !panel.hidden) return;
    closeKey();
    opened = key;
    for (const row of tbody.querySelectorAll("tr[data-key]")) {
      if (row.dataset.key === key) row.setAttribute("aria-current", "true");
    }
    panel.hidden = false;
    panel.replaceChildren(h("p", { class: "muted" }, "Loading…"));
    let value;
    let metadata;
    try {
      [value, metadata] = await Promise.all([api.readValue(state.id, key), api.readMetadata(state.id, key)]);
    } catch (error) {
      if (opened !== key) return;
      const close = h("button", { type: "button", onclick: () => leaveKey() }, "Close");
      if (error instanceof api.ApiError && error.needsToken) return askForToken();
      panel.replaceChildren(h("h2", { id: "key-title" }, key), h("p", { class: "error", role: "alert" }, error.message), close);
      return;
    }
    if (opened !== key) return;
    const entry = { name: key, bytes: value.bytes, expiration: value.expiration, metadata };
    panel.replaceChildren(...keyDetails(state, entry, (url) => (imageUrl = url)));
    panel.focus({ preventScroll: true });
  }

  function leaveKey() {
    const params = new URLSearchParams(location.search);
    params.delete("key");
    const query = params.toString();
    navigate(`${location.pathname}${query ? `?${query}` : ""}`);
  }
  state.leaveKey = leaveKey;
  state.refresh = () => load(state.prefix, state.page);
  state.reopen = async (key) => {
    opened = null;
    await state.refresh();
    await openKey(key);
  };

  return Object.assign(state, { root, search, load, openKey, closeKey });
}

/** The key panel: value (text, JSON, hex, image), metadata, expiration, actions. */
function keyDetails(state, entry, keepImageUrl) {
  const data = entry.bytes;
  const text = asText(data.length > SHOWN_BYTES ? data.subarray(0, SHOWN_BYTES) : data);
  const json = data.length <= SHOWN_BYTES ? asJson(text) : undefined;
  const image = imageType(data, text);
  const tabs = [];
  if (image) {
    const url = URL.createObjectURL(new Blob([data], { type: image }));
    keepImageUrl(url);
    tabs.push({ name: "Image", render: () => h("img", { src: url, alt: `Image value of ${entry.name} (${image})`, class: "preview" }) });
  }
  if (json !== undefined) tabs.push({ name: "JSON", render: () => h("pre", { class: "value" }, JSON.stringify(json, null, 2)) });
  if (text !== null) {
    const note = data.length > SHOWN_BYTES ? `Showing the first ${bytes(SHOWN_BYTES)}; download for all of it.` : null;
    tabs.push({ name: "Text", render: () => h("div", {}, note ? h("p", { class: "muted" }, note) : null, h("pre", { class: "value" }, text)) });
  }
  tabs.push({
    name: "Hex",
    render: () =>
      h(
        "div",
        {},
        data.length > HEX_BYTES ? h("p", { class: "muted" }, `Showing the first ${bytes(HEX_BYTES)} of ${bytes(data.length)}.`) : null,
        h("pre", { class: "value hex" }, data.length ? hexDump(data, HEX_BYTES) : "(empty)"),
      ),
  });

  const tabList = h("div", { role: "tablist", "aria-label": "Show the value as" });
  const tabPanel = h("div", { role: "tabpanel", id: "value-panel", tabindex: "0" });
  const buttons = tabs.map((tab, i) =>
    h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tab-${tab.name.toLowerCase()}`,
        "aria-controls": "value-panel",
        onclick: () => select(i),
      },
      tab.name,
    ),
  );
  function select(i) {
    buttons.forEach((button, j) => {
      button.setAttribute("aria-selected", String(i === j));
      button.tabIndex = i === j ? 0 : -1;
    });
    tabPanel.setAttribute("aria-labelledby", buttons[i].id);
    tabPanel.replaceChildren(tabs[i].render());
  }
  // Arrow keys move between tabs (the WAI-ARIA tabs pattern).
  tabList.addEventListener("keydown", (event) => {
    const current = buttons.indexOf(document.activeElement);
    if (current < 0) return;
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    const target = event.key === "Home" ? 0 : event.key === "End" ? buttons.length - 1 : step ? (current + step + buttons.length) % buttons.length : null;
    if (target === null) return;
    event.preventDefault();
    select(target);
    buttons[target].focus();
  });
  tabList.append(...buttons);
  select(0);

  const download = () => {
    const url = URL.createObjectURL(new Blob([data], { type: image ?? "application/octet-stream" }));
    const link = h("a", { href: url, download: fileNameFor(entry.name), hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };

  return [
    h(
      "div",
      { class: "heading" },
      h("h2", { id: "key-title", class: "key-name" }, entry.name),
      h("button", { type: "button", onclick: () => state.leaveKey(), "aria-label": "Close the key" }, "Close"),
    ),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Size"),
      h("dd", {}, bytes(data.length)),
      h("dt", {}, "Expiration"),
      h("dd", {}, expirationCell(entry.expiration)),
      h("dt", {}, "Metadata"),
      h("dd", {}, entry.metadata === null ? h("span", { class: "muted" }, "none") : h("pre", { class: "value meta" }, JSON.stringify(entry.metadata, null, 2))),
    ),
    h(
      "div",
      { class: "actions" },
      h("button", { type: "button", onclick: download }, "Download raw value"),
      h("button", { type: "button", onclick: () => editKey(state, { ...entry, text, json }) }, "Edit"),
      h("button", { type: "button", class: "danger", onclick: () => deleteKey(state, entry.name) }, "Delete key"),
    ),
    tabList,
    tabPanel,
  ];
}

// ------------------------------------------------------------------- edits

/** Put a new key (`entry` null) or edit one. */
async function editKey(state, entry) {
  const editing = entry !== null;
  const kind = !editing ? "text" : entry.json !== undefined ? "json" : entry.text !== null ? "text" : "file";
  const written = await openForm({
    title: editing ? `Edit “${entry.name}”` : "Put key",
    submitLabel: "Save",
    build: (form) => {
      const valueArea = h("textarea", { name: "value", rows: 8, spellcheck: "false" });
      if (editing && entry.text !== null) valueArea.value = entry.json !== undefined ? JSON.stringify(entry.json, null, 2) : entry.text;
      const file = h("input", { type: "file", name: "file" });
      const fileField = field("File", file, editing && kind === "file" ? "Leave empty to keep the current bytes." : undefined);
      const textField = field("Value", valueArea);
      const kinds = h(
        "fieldset",
        { class: "choices" },
        h("legend", {}, "Value type"),
        ...[
          ["text", "Text"],
          ["json", "JSON"],
          ["file", "File"],
        ].map(([value, label]) =>
          h("label", {}, h("input", { type: "radio", name: "kind", value, checked: value === kind }), ` ${label}`),
        ),
      );
      const sync = () => {
        const chosen = form.elements.kind.value;
        textField.hidden = chosen === "file";
        fileField.hidden = chosen !== "file";
      };
      kinds.addEventListener("change", sync);
      queueMicrotask(sync);
      const metadata = h("textarea", { name: "metadata", rows: 3, spellcheck: "false", placeholder: '{"owner": "me"}' });
      if (editing && entry.metadata !== null) metadata.value = JSON.stringify(entry.metadata, null, 2);
      const expiryKind = editing && entry.expiration ? "at" : "never";
      const expiry = h(
        "fieldset",
        { class: "choices" },
        h("legend", {}, "Expiry"),
        ...[
          ["never", "Never"],
          ["ttl", "After (TTL)"],
          ["at", "At"],
        ].map(([value, label]) =>
          h("label", {}, h("input", { type: "radio", name: "expiry", value, checked: value === expiryKind }), ` ${label}`),
        ),
      );
      const ttl = field(
        "TTL in seconds",
        h("input", { name: "ttl", type: "number", inputmode: "numeric", step: "1", value: "3600" }),
        "At least 60 seconds.",
      );
      const at = field(
        "Expires at (local time)",
        h("input", {
          name: "at",
          type: "datetime-local",
          step: "1",
          value: editing && entry.expiration ? toLocalInput(entry.expiration) : toLocalInput(Math.floor(Date.now() / 1000) + 3600),
        }),
      );
      const syncExpiry = () => {
        ttl.hidden = form.elements.expiry.value !== "ttl";
        at.hidden = form.elements.expiry.value !== "at";
      };
      expiry.addEventListener("change", syncExpiry);
      queueMicrotask(syncExpiry);
      return [
        field("Key", h("input", { name: "key", required: !editing, value: editing ? entry.name : "", autofocus: !editing, spellcheck: "false", readonly: editing })),
        kinds,
        textField,
        fileField,
        field("Metadata (JSON, optional)", metadata),
        expiry,
        ttl,
        at,
      ];
    },
    submit: async (form) => {
      const els = form.elements;
      const key = editing ? entry.name : els.key.value;
      const chosen = els.kind.value;
      let value;
      if (chosen === "file") {
        const picked = els.file.files[0];
        if (picked) value = picked;
        else if (editing && kind === "file") value = new Blob([entry.bytes]);
        else throw new Error("Choose a file to upload.");
      } else {
        value = els.value.value;
        if (chosen === "json") {
          try {
            value = JSON.stringify(JSON.parse(value));
          } catch (error) {
            throw new Error(`The value is not valid JSON: ${error.message}`);
          }
        }
      }
      let metadata;
      if (els.metadata.value.trim() !== "") {
        try {
          metadata = JSON.parse(els.metadata.value);
        } catch (error) {
          throw new Error(`The metadata is not valid JSON: ${error.message}`);
        }
      }
      const expiry = {};
      // Sent as typed: the API checks them and its message is shown.
      if (els.expiry.value === "ttl") expiry.ttl = els.ttl.value.trim();
      if (els.expiry.value === "at") {
        const when = new Date(els.at.value).getTime();
        if (Number.isNaN(when)) throw new Error("Choose the date and time the key expires.");
        expiry.at = Math.floor(when / 1000);
      }
      await api.putValue(state.id, key, value, { metadata, expiry });
      return key;
    },
  });
  if (written) {
    say(`Saved “${written}”.`);
    const params = new URLSearchParams(location.search);
    params.set("key", written);
    history.replaceState(null, "", `${location.pathname}?${params}`);
    await state.reopen(written);
  }
}

async function deleteKey(state, key) {
  const yes = await confirmAction(`Delete “${key}”?`, `The key “${key}” and its value are deleted. This cannot be undone.`, "Delete key");
  if (!yes) return;
  try {
    await api.deleteValue(state.id, key);
    say(`Deleted “${key}”.`);
    state.stale = true;
    state.leaveKey();
  } catch (error) {
    showFailure(error);
  }
}

/** Counts the keys of the prefix (a page at a time), asks, then deletes exactly those. */
async function deleteByPrefix(state) {
  const prefix = state.prefix;
  const names = [];
  try {
    let cursor = "";
    do {
      const page = await api.listKeys(state.id, { prefix, cursor, limit: 1000 });
      names.push(...page.keys.map((key) => key.name));
      cursor = page.cursor;
      say(`Counting keys… ${count(names.length)}`);
    } while (cursor);
  } catch (error) {
    return showFailure(error);
  }
  say("");
  if (names.length === 0) {
    say(prefix ? `No keys start with “${prefix}”.` : "This namespace has no keys.");
    return;
  }
  const what = prefix ? `${plural(names.length, "key")} starting with “${prefix}”` : `all ${plural(names.length, "key")}`;
  const yes = await confirmAction(
    `Delete ${what}?`,
    `This deletes ${what} from “${state.ns.title}” (keys written after this count are kept). It cannot be undone.`,
    `Delete ${plural(names.length, "key")}`,
  );
  if (!yes) return;
  try {
    for (let i = 0; i < names.length; i += api.BULK_LIMIT) {
      await api.bulkDelete(state.id, names.slice(i, i + api.BULK_LIMIT));
      say(`Deleted ${count(Math.min(i + api.BULK_LIMIT, names.length))} of ${count(names.length)}…`);
    }
  } catch (error) {
    return showFailure(error);
  }
  say(`Deleted ${plural(names.length, "key")}.`);
  state.closeKey();
  await state.load(prefix, 0);
}

/** A `kv bulk put` file: a JSON array of {key, value, …}, sent 10,000 entries a request. */
async function bulkUpload(state) {
  const done = await openForm({
    title: "Bulk upload",
    submitLabel: "Upload",
    build: () => [
      h(
        "p",
        {},
        "A JSON file as for ",
        h("code", {}, "miniflare kv bulk put"),
        " and ",
        h("code", {}, "wrangler kv bulk put"),
        ": an array of ",
        h("code", {}, '{"key", "value", "expiration"?, "expiration_ttl"?, "metadata"?, "base64"?}'),
        ".",
      ),
      field("Bulk file", h("input", { type: "file", name: "file", accept: ".json,application/json", required: true, autofocus: true })),
    ],
    submit: async (form) => {
      const file = form.elements.file.files[0];
      if (!file) throw new Error("Choose a file.");
      let entries;
      try {
        entries = JSON.parse(await file.text());
      } catch (error) {
        throw new Error(`${file.name} is not valid JSON: ${error.message}`);
      }
      if (!Array.isArray(entries)) throw new Error(`${file.name} must hold a JSON array of {"key", "value"} objects.`);
      let written = 0;
      for (let i = 0; i < entries.length; i += api.BULK_LIMIT) {
        const batch = entries.slice(i, i + api.BULK_LIMIT);
        try {
          written += (await api.bulkPut(state.id, batch)).successful_key_count;
        } catch (error) {
          if (entries.length <= api.BULK_LIMIT) throw error;
          // Entry numbers in the API's message count from the start of this request.
          throw new api.ApiError(error.status, `Entries ${i}–${i + batch.length - 1}: ${error.message}${written ? ` (${count(written)} written before)` : ""}`);
        }
      }
      return { written, name: file.name };
    },
  });
  if (done) {
    say(`Wrote ${plural(done.written, "key")} from ${done.name}.`);
    await state.load(state.prefix, 0);
  }
}

// ------------------------------------------------------------------ router

async function route() {
  const path = location.pathname;
  const match = /^\/namespaces\/([^/]+)\/?$/.exec(path);
  try {
    if (match) {
      await showNamespace(decodeURIComponent(match[1]), new URLSearchParams(location.search));
    } else {
      view = null;
      await showNamespaces();
    }
  } catch (error) {
    showFailure(error);
  }
}

// Same-page links: no reload, the history keeps each view.
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[data-link]");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

api.takeTokenFromUrl();
try {
  info = await api.explorerInfo();
  document.getElementById("store").textContent = info.location;
} catch (error) {
  if (error instanceof api.ApiError && error.needsToken) askForToken();
}
await route();
document.documentElement.dataset.ready = "true";

// The event store console: one page, hash routes, the API on this origin (the local runtime, or the
// `eventstore console` proxy, which signs). Data reaches the DOM only as text (never as HTML).

const API_HEADER = { "X-Eventstore-Console": "1" };
const EVENTS_PER_PAGE = 20;
const STREAMS_PER_PAGE = 50;
const FEED_POLL_MS = 1000;
const FEED_KEEP = 200; // rows the live feed keeps on screen
const LAG_PAGES = 10; // a checkpoint's lag is counted up to this many feed pages of 1000
const WATCHED_KEY = "eventstore-console.checkpoints";

const state = { allowWrites: false, stop: null, routed: false };

// --- DOM helpers ---------------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const enc = encodeURIComponent;
const main = () => document.getElementById("main");

function streamHref(type, id) { return `#/streams/${enc(type)}/${enc(id)}`; }
function typeHref(type) { return `#/types/${enc(type)}`; }
function feedHref(type) { return type ? `#/feed/${enc(type)}` : "#/feed"; }

function json(value) { return el("pre", { class: "json", tabindex: "0" }, JSON.stringify(value, null, 2)); }

function time(iso) { return el("time", { datetime: iso }, iso); }

function showError(error) {
  const box = document.getElementById("errors");
  box.replaceChildren(el("p", {}, error instanceof ApiError ? error.describe() : String(error)));
}

function clearError() { document.getElementById("errors").replaceChildren(); }

function page(title, ...content) {
  const heading = el("h1", { tabindex: "-1" }, title);
  main().replaceChildren(heading, ...content);
  document.title = `${title} · Event store console`;
  // After a route change, focus goes to the new view (screen readers announce it); on the first load it
  // stays at the top, where the skip link is.
  if (state.routed) heading.focus();
  state.routed = true;
}

function status(text) { return el("p", { class: "status", role: "status" }, text); }

// --- API -----------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }

  describe() {
    const p = this.problem || {};
    const params = (p["invalid-params"] || []).map((x) => `${x.name}: ${x.reason}`).join("; ");
    return [`${this.status} ${p.title || p.message || "error"}`, p.detail, params].filter(Boolean).join(" — ");
  }
}

async function api(method, path, { query, body } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json, application/problem+json", ...API_HEADER };
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { detail: text.slice(0, 300) }; }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// --- Views ---------------------------------------------------------------------------------------

async function viewTypes() {
  page("Stream types",
    el("p", { class: "lead" }, "Every stream type that has streams. Choose one to list its streams."),
    status("Loading…"));
  const types = [];
  let after;
  for (;;) {
    const { streamTypePage } = await api("GET", "/stream-types", { query: { "after-stream-type": after } });
    types.push(...streamTypePage.streamTypes);
    if (!streamTypePage.hasMore || !streamTypePage.lastStreamType) break;
    after = streamTypePage.lastStreamType;
  }
  types.sort((a, b) => a.streamType.localeCompare(b.streamType));
  const rows = types.map((t) => el("tr", {},
    el("td", {}, el("a", { href: typeHref(t.streamType) }, t.streamType)),
    el("td", {}, time(t.firstSeenAt)),
    el("td", {}, el("a", { href: feedHref(t.streamType), "aria-label": `Live feed of ${t.streamType}` }, "live feed"))));
  main().querySelector("[role=status]").replaceWith(
    types.length === 0 ? el("p", {}, "No streams yet.") : el("table", { "aria-label": "Stream types" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Stream type"), el("th", { scope: "col" }, "First seen"),
        el("th", { scope: "col" }, "Feed"))),
      el("tbody", {}, rows)),
    state.allowWrites ? createForm() : null);
}

function createForm() {
  const form = el("form", { class: "stacked", "aria-labelledby": "create-heading" },
    el("h2", { id: "create-heading" }, "Create a stream"),
    el("label", {}, "Stream type", el("input", { name: "streamType", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_.:\\-]*" })),
    ...eventFields("Create stream"));
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    const data = new FormData(form);
    try {
      const event = newEvent(data);
      const { stream } = await api("POST", `/streams/${enc(data.get("streamType"))}`, { body: { events: [event] } });
      window.location.hash = streamHref(stream.streamType, stream.streamId);
    } catch (error) { showError(error); }
  });
  return form;
}

function eventFields(action) {
  return [
    el("label", {}, "Event type", el("input", { name: "eventType", required: true })),
    el("label", {}, "Payload (JSON)", el("textarea", { name: "payload", spellcheck: "false" }, "{}")),
    el("label", {}, "Data subject (optional)", el("input", { name: "dataSubject" })),
    el("button", { type: "submit" }, action),
  ];
}

function newEvent(data) {
  let payload;
  try { payload = JSON.parse(String(data.get("payload") || "null")); } catch (error) {
    throw new Error(`The payload is not JSON: ${error.message}`);
  }
  const event = { eventType: String(data.get("eventType")), payload };
  if (data.get("dataSubject")) event.dataSubject = String(data.get("dataSubject"));
  return event;
}

async function viewStreams(type, params) {
  const updatedAfter = params.get("updated-after") || "";
  const filter = el("form", { class: "inline", role: "search", "aria-label": "Filter streams" },
    el("label", {}, "Updated after (RFC 3339)",
      el("input", { name: "updated-after", value: updatedAfter, placeholder: "2026-01-01T00:00:00Z", size: "28" })),
    el("button", { type: "submit" }, "Filter"));
  filter.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const value = new FormData(filter).get("updated-after");
    window.location.hash = value ? `${typeHref(type)}?updated-after=${enc(value)}` : typeHref(type);
  });
  const body = el("tbody");
  const table = el("table", { "aria-label": `Streams of ${type}` },
    el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Stream"), el("th", { scope: "col", class: "num" }, "Revision"),
      el("th", { scope: "col" }, "Updated"))),
    body);
  const more = el("button", { type: "button", class: "secondary", hidden: true }, "Next page");
  const info = status("Loading…");
  page(`Streams of ${type}`,
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "Stream types"), " · ",
      el("a", { href: feedHref(type) }, `Live feed of ${type}`)),
    filter, info, table, more);
  let key;
  let shown = 0;
  const load = async () => {
    const { streamPage } = await api("GET", `/streams/${enc(type)}`,
      { query: { "updated-after": updatedAfter, "stream-next-page-key": key, limit: STREAMS_PER_PAGE } });
    for (const s of streamPage.streams) {
      body.append(el("tr", {},
        el("td", {}, el("a", { href: streamHref(type, s.streamId), class: "mono" }, s.streamId)),
        el("td", { class: "num" }, s.revision),
        el("td", {}, time(s.updatedAt))));
    }
    shown += streamPage.streams.length;
    key = streamPage.nextPageKey;
    more.hidden = !streamPage.hasMore;
    info.textContent = `${shown} stream${shown === 1 ? "" : "s"}${streamPage.hasMore ? " so far" : ""}` +
      (streamPage.settledUntil ? ` (complete up to ${streamPage.settledUntil})` : "");
  };
  more.addEventListener("click", () => load().catch(showError));
  await load();
}

function eventArticle(e, { withStream = false } = {}) {
  const erased = e.payloadErased === true;
  const details = [
    ["Event id", el("span", { class: "mono" }, e.eventId)],
    ["Created", time(e.createdAt)],
  ];
  if (withStream) details.unshift(["Stream", el("a", { href: streamHref(e.streamType, e.streamId), class: "mono" }, `${e.streamType}/${e.streamId}`)]);
  if (e.dataSubject) details.push(["Data subject", e.dataSubject]);
  return el("article", { class: "event", "aria-label": `Revision ${e.revision}: ${e.eventType}`, "data-revision": e.revision },
    el("header", {}, el("span", { class: "rev" }, `#${e.revision}`), el("span", { class: "etype" }, e.eventType),
      erased ? el("span", { class: "erased", "data-payload-erased": "true" }, "payload erased") : null),
    el("dl", {}, details.map(([name, value]) => [el("dt", {}, name), el("dd", {}, value)])),
    el("h3", { class: "sr-only" }, "Payload"),
    erased ? el("p", { class: "hint" }, "The data subject was erased: the payload is gone for good.") : json(e.payload),
    el("details", {}, el("summary", {}, "Metadata"), json(e.metadata)));
}

async function viewStream(type, id) {
  const list = el("section", { "aria-label": "Events" });
  const more = el("button", { type: "button", class: "secondary", hidden: true }, "Next page");
  const info = status("Loading…");
  page(`${type} / ${id}`,
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "Stream types"), " · ",
      el("a", { href: typeHref(type) }, `Streams of ${type}`)),
    info, list, more);
  const { stream } = await api("GET", `/streams/${enc(type)}/${enc(id)}/details`);
  let after = 0;
  let shown = 0;
  const load = async () => {
    const { eventPage } = await api("GET", `/streams/${enc(type)}/${enc(id)}/events`,
      { query: { "after-revision": after, limit: EVENTS_PER_PAGE } });
    list.append(...eventPage.events.map((e) => eventArticle({ ...e, streamType: type })));
    shown += eventPage.events.length;
    after = eventPage.lastEvaluatedRevision;
    more.hidden = !eventPage.hasMore;
    info.textContent = `Revision ${stream.revision}, updated ${stream.updatedAt}; showing events 1–${shown}.`;
  };
  more.addEventListener("click", () => load().catch(showError));
  await load();
  if (state.allowWrites) main().append(appendForm(type, id, stream.revision), deleteForm(type, id));
}

function appendForm(type, id, revision) {
  const form = el("form", { class: "stacked", "aria-labelledby": "append-heading" },
    el("h2", { id: "append-heading" }, "Append an event"),
    el("p", { class: "hint" }, `Appended at revision ${revision + 1} (refused if the stream moved on).`),
    ...eventFields("Append event"));
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    try {
      const event = newEvent(new FormData(form));
      await api("POST", `/streams/${enc(type)}/${enc(id)}/events`, { body: { expectedRevision: revision, events: [event] } });
      clearError();
      await route();
    } catch (error) { showError(error); }
  });
  return form;
}

function deleteForm(type, id) {
  const confirm = el("input", { type: "checkbox", name: "confirm", required: true });
  const form = el("form", { class: "stacked", "aria-labelledby": "delete-heading" },
    el("h2", { id: "delete-heading" }, "Delete this stream"),
    el("p", { class: "hint" }, "Deletes every event of the stream; it disappears from reads, listings and feeds."),
    el("label", { class: "check" }, confirm, `I want to delete ${type}/${id} for good`),
    el("button", { type: "submit", class: "danger" }, "Delete stream"));
  form.addEventListener("submit", async (submitted) => {
    submitted.preventDefault();
    if (!confirm.checked) return;
    try {
      await api("DELETE", `/streams/${enc(type)}/${enc(id)}`);
      window.location.hash = typeHref(type);
    } catch (error) { showError(error); }
  });
  return form;
}

async function viewFeed(type) {
  const title = type ? `Live feed of ${type}` : "Live feed of all types";
  const body = el("tbody", { "aria-live": "off" });
  const info = el("p", { class: "status", role: "status", "aria-live": "polite" }, "Reading from the beginning…");
  const pause = el("button", { type: "button", class: "secondary", "aria-pressed": "false" }, "Pause");
  page(title,
    el("p", { class: "crumbs" }, el("a", { href: "#/" }, "Stream types"),
      type ? [" · ", el("a", { href: typeHref(type) }, `Streams of ${type}`), " · ", el("a", { href: feedHref(null) }, "all types")] : null),
    el("p", { class: "lead" }, `Every event in feed order, newest first (the last ${FEED_KEEP} kept on screen); new events appear as they are appended.`),
    el("div", { class: "toolbar" }, pause, info),
    el("table", { "aria-label": title },
      el("thead", {}, el("tr", {}, ["Position", "Stream", "Revision", "Event type", "Created", "Payload"].map(
        (name) => el("th", { scope: "col" }, name)))),
      body));
  let after;
  let total = 0;
  let paused = false;
  let timer = null;
  let stopped = false;
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) poll();
  });
  const path = type ? `/streams/${enc(type)}/feed` : "/feed";
  const poll = async () => {
    clearTimeout(timer);
    if (stopped || paused) return;
    try {
      for (;;) {
        const { feedPage } = await api("GET", path, { query: { "after-position": after, limit: 1000 } });
        if (stopped) return;
        for (const e of feedPage.events) body.prepend(feedRow(e));
        while (body.rows.length > FEED_KEEP) body.lastElementChild.remove();
        total += feedPage.events.length;
        after = feedPage.lastPosition || after;
        if (!feedPage.hasMore) break;
      }
      info.textContent = `${total} event${total === 1 ? "" : "s"} so far; watching for more.`;
    } catch (error) { showError(error); }
    if (!stopped) timer = setTimeout(poll, FEED_POLL_MS);
  };
  state.stop = () => { stopped = true; clearTimeout(timer); };
  await poll();
}

function feedRow(e) {
  return el("tr", { class: "feed-row", "data-position": e.position },
    el("td", { class: "mono" }, e.position),
    el("td", {}, el("a", { href: streamHref(e.streamType, e.streamId), class: "mono" }, `${e.streamType}/${e.streamId.slice(0, 8)}…`)),
    el("td", { class: "num" }, e.revision),
    el("td", {}, e.eventType),
    el("td", {}, time(e.createdAt)),
    el("td", { class: "payload" }, e.payloadErased ? el("span", { class: "erased" }, "payload erased") : json(e.payload)));
}

function watched() {
  try { return JSON.parse(localStorage.getItem(WATCHED_KEY) || "[]").filter((x) => typeof x === "string"); } catch { return []; }
}

async function viewCheckpoints(params) {
  const names = [...new Set([...params.getAll("name"), ...watched()])];
  const form = el("form", { class: "inline", "aria-label": "Watch a checkpoint" },
    el("label", {}, "Checkpoint name", el("input", { name: "name", required: true, pattern: "[A-Za-z0-9._:\\-]+" })),
    el("button", { type: "submit" }, "Watch"));
  form.addEventListener("submit", (submitted) => {
    submitted.preventDefault();
    const name = String(new FormData(form).get("name"));
    localStorage.setItem(WATCHED_KEY, JSON.stringify([...new Set([...watched(), name])]));
    route();
  });
  const body = el("tbody");
  page("Checkpoints",
    el("p", { class: "lead" }, "Consumers' stored feed positions and how far each is behind the head of its feed. The API cannot list checkpoints: name the ones to watch (remembered in this browser)."),
    form,
    el("table", { "aria-label": "Checkpoints" },
      el("thead", {}, el("tr", {}, ["Checkpoint", "Feed", "Position", "Updated", "Behind the head", ""].map(
        (name) => el("th", { scope: "col" }, name)))),
      body));
  const types = await knownTypes();
  for (const name of names) {
    const row = el("tr", {}, el("td", {}, name), el("td", { colspan: "5" }, "…"));
    body.append(row);
    checkpointRow(name, types).then((cells) => row.replaceChildren(el("td", {}, name), ...cells, forgetCell(name)))
      .catch((error) => row.replaceChildren(el("td", {}, name), el("td", { colspan: "4" }, error instanceof ApiError ? error.describe() : String(error)), forgetCell(name)));
  }
}

function forgetCell(name) {
  return el("td", {}, el("button", {
    type: "button", class: "secondary", "aria-label": `Stop watching ${name}`,
    onclick: () => { localStorage.setItem(WATCHED_KEY, JSON.stringify(watched().filter((x) => x !== name))); route(); },
  }, "Forget"));
}

async function knownTypes() {
  const types = [];
  let after;
  for (;;) {
    const { streamTypePage } = await api("GET", "/stream-types", { query: { "after-stream-type": after } });
    types.push(...streamTypePage.streamTypes.map((t) => t.streamType));
    if (!streamTypePage.hasMore || !streamTypePage.lastStreamType) return types;
    after = streamTypePage.lastStreamType;
  }
}

// Positions are opaque; a feed refuses another feed's position (400), which tells which feed this one is.
async function checkpointRow(name, types) {
  const { checkpoint } = await api("GET", `/checkpoints/${enc(name)}`);
  for (const type of [null, ...types]) {
    const path = type ? `/streams/${enc(type)}/feed` : "/feed";
    let behind = 0;
    let after = checkpoint.position;
    let capped = false;
    try {
      for (let pages = 0; ; pages += 1) {
        if (pages === LAG_PAGES) { capped = true; break; }
        const { feedPage } = await api("GET", path, { query: { "after-position": after, limit: 1000 } });
        behind += feedPage.events.length;
        after = feedPage.lastPosition || after;
        if (!feedPage.hasMore) break;
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 400) continue;
      throw error;
    }
    const lag = behind === 0
      ? el("span", { class: "badge ok" }, "at the head")
      : el("span", { class: "badge behind" }, `${capped ? "≥ " : ""}${behind} event${behind === 1 ? "" : "s"} behind`);
    return [
      el("td", {}, el("a", { href: feedHref(type) }, type || "all types")),
      el("td", { class: "mono" }, checkpoint.position),
      el("td", {}, time(checkpoint.updatedAt)),
      el("td", {}, lag),
    ];
  }
  return [el("td", {}, "no known feed"), el("td", { class: "mono" }, checkpoint.position), el("td", {}, time(checkpoint.updatedAt)), el("td", {}, "–")];
}

// --- Routing -------------------------------------------------------------------------------------

function parseHash() {
  const [path, query = ""] = window.location.hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query) };
}

async function route() {
  if (state.stop) { state.stop(); state.stop = null; }
  clearError();
  const { parts, params } = parseHash();
  const section = { types: "types", streams: "types", feed: "feed", checkpoints: "checkpoints" }[parts[0]] || "types";
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  try {
    if (parts[0] === "types" && parts.length === 2) await viewStreams(parts[1], params);
    else if (parts[0] === "streams" && parts.length === 3) await viewStream(parts[1], parts[2]);
    else if (parts[0] === "feed") await viewFeed(parts[1]);
    else if (parts[0] === "checkpoints") await viewCheckpoints(params);
    else await viewTypes();
  } catch (error) { showError(error); }
}

async function start() {
  try {
    const config = await (await fetch("config.json", { cache: "no-store", credentials: "omit" })).json();
    state.allowWrites = config.allowWrites === true;
  } catch { state.allowWrites = false; }
  document.getElementById("mode").textContent = state.allowWrites ? "Writes allowed" : "Read-only";
  window.addEventListener("hashchange", route);
  await route();
}

start();

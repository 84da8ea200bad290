// Quartermaster dashboard: plain ES module, no framework. Every figure comes from the
// API with the operator's token, and every rule about who may see what is the server's;
// the page only hides controls a token could not use anyway.

const TOKEN_KEY = "qm-token";
const FEED_KEPT = 100;
const KNOWN_METRICS = ["api_calls", "tokens", "cost", "storage", "compute_ms"];
const CLASSES = ["immediate", "fast", "normal", "batch", "deferred"];
const PALETTE = ["#2f5fd0", "#23935b", "#c98a04", "#8e44ad", "#c8372d", "#16a0b5"];

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

let token = null;
let me = null;
let socket = null;
let currentTab = "fleet";
let refreshTimer = null;
let pollTimer = null;
let conflictId = null;
let openAlerts = new Map();
const charts = new Map();
const revealed = new Map();

// ---- formatting -------------------------------------------------------------------------

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const fine = new Intl.NumberFormat("en-US", {
  style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 6,
});
const count = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1 });

/** Money arrives as a decimal number of dollars; shown as $1,384.10 (sub-cent amounts keep their digits). */
export function money(amount) {
  const value = Number(amount ?? 0);
  if (value !== 0 && Math.abs(value) < 0.01) return fine.format(value);
  return dollars.format(value);
}

function when(instant) {
  if (!instant) return "–";
  const d = new Date(instant);
  const year = d.getFullYear() === new Date().getFullYear() ? undefined : "numeric";
  return d.toLocaleString("en-GB", { day: "numeric", month: "short", year, hour: "2-digit", minute: "2-digit" });
}

function clock(instant) {
  return new Date(instant).toLocaleTimeString("en-GB", { hour12: false });
}

function secs(value) {
  const v = Number(value ?? 0);
  if (v < 1) return `${(v * 1000).toFixed(0)} ms`;
  if (v < 120) return `${v.toFixed(1)} s`;
  return `${(v / 60).toFixed(1)} min`;
}

function pct(ratio) {
  return `${Math.round(Number(ratio ?? 0) * 100)}%`;
}

// ---- DOM helpers (text only: names and secrets never become markup) -----------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    // Through the CSSOM: the page's content security policy refuses style attributes.
    else if (key === "style") el.style.cssText = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fill(target, ...children) {
  const el = typeof target === "string" ? $(target) : target;
  el.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return el;
}

function empty(text) {
  return h("div", { class: "empty" }, text);
}

/** Headers: a leading `$` or `#` right-aligns a column, a leading `~` hides it on a narrow window. */
function table(headers, rows) {
  if (rows.length === 0) return empty("Nothing yet.");
  const narrowHidden = headers.map((x) => x.startsWith("~"));
  const names = headers.map((x) => x.replace(/^~/, ""));
  for (const row of rows) {
    [...row.children].forEach((cell, i) => { if (narrowHidden[i]) cell.classList.add("hide-narrow"); });
  }
  return h("div", { class: "table-wrap" },
    h("table", {},
      h("thead", {}, h("tr", {}, names.map((x, i) => h("th", {
        class: `${x.startsWith("$") || x.startsWith("#") ? "num" : ""} ${narrowHidden[i] ? "hide-narrow" : ""}`,
      }, x.replace(/^[$#]/, ""))))),
      h("tbody", {}, rows)));
}

// ---- the API ------------------------------------------------------------------------------

class ApiFailure extends Error {
  constructor(status, body) {
    super(body?.error ?? `HTTP ${status}`);
    this.status = status;
    this.field = body?.field ?? null;
    this.conflict = body?.conflict ?? null;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch { parsed = { error: text }; }
  if (!response.ok) throw new ApiFailure(response.status, parsed);
  return parsed;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "";
}

// ---- forms: values out, the server's errors back next to the field they name -------------

function formValues(form) {
  const values = {};
  for (const input of $$("input[name], select[name]", form)) {
    const kind = input.dataset.type;
    if (input.type === "checkbox") { values[input.name] = input.checked; continue; }
    const text = input.value.trim();
    if (text === "") continue;
    if (kind === "number") {
      // Sent as typed when it is not a number, so the server's error names the field.
      values[input.name] = /^-?\d+(\.\d+)?$/.test(text) ? Number(text) : text;
    } else if (kind === "instant") {
      const d = new Date(text);
      values[input.name] = Number.isNaN(d.getTime()) ? text : d.toISOString();
    } else if (kind === "list") {
      values[input.name] = text.split(",").map((s) => s.trim()).filter(Boolean);
    } else {
      values[input.name] = text;
    }
  }
  return values;
}

function clearErrors(form) {
  for (const el of $$(".field-error", form)) el.remove();
  for (const el of $$(".field.invalid", form)) el.classList.remove("invalid");
  const general = $(".form-error", form);
  if (general) general.textContent = "";
}

/** The field a server error names: `resource[gpu-1].cost_per_hour` → `cost_per_hour`. */
function fieldFor(form, name) {
  if (!name) return null;
  const candidates = [name, name.split(/[.\]]/).filter(Boolean).pop(), name.replace(/\[\d+\]/g, "")];
  for (const field of $$(".field", form)) {
    if (field.hidden || field.offsetParent === null) continue;
    const names = (field.dataset.fields ?? "").split(/\s+/);
    if (candidates.some((c) => names.includes(c))) return field;
  }
  return null;
}

function showError(form, error, fallbackField) {
  const field = fieldFor(form, error.field) ?? fieldFor(form, fallbackField);
  if (field) {
    field.classList.add("invalid");
    field.append(h("div", { class: "field-error", role: "alert" }, error.message));
  } else {
    $(".form-error", form).textContent = error.message;
  }
}

function bindForm(form, submit, fallbackField) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = $("button[type=submit]", form);
    button.disabled = true;
    try {
      await submit(formValues(form), form);
    } catch (error) {
      if (!(error instanceof ApiFailure)) throw error;
      showError(form, error, typeof fallbackField === "function" ? fallbackField(error) : fallbackField);
    } finally {
      button.disabled = false;
    }
  });
}

// ---- charts (uPlot) -------------------------------------------------------------------------

function chart(id, options, data) {
  const host = document.getElementById(id);
  charts.get(id)?.destroy();
  charts.delete(id);
  host.replaceChildren();
  const width = Math.max(260, host.clientWidth || host.parentElement.clientWidth - 32);
  const plot = new uPlot({ width, height: 220, ...options }, data, host);
  plot.fixedHeight = options.height ?? 220;
  charts.set(id, plot);
  return plot;
}

window.addEventListener("resize", () => {
  for (const [id, plot] of charts) {
    const host = document.getElementById(id);
    if (host && host.clientWidth > 0) plot.setSize({ width: Math.max(260, host.clientWidth), height: plot.fixedHeight });
  }
});

const compact = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", notation: "compact", maximumFractionDigits: 1 });
const moneyAxis = { values: (_, ticks) => ticks.map((t) => compact.format(t)), size: 60 };

// ---- overview -----------------------------------------------------------------------------

function setStat(id, text, level) {
  const el = document.getElementById(id);
  el.textContent = text;
  el.parentElement.classList.toggle("warn", level === "warn");
  el.parentElement.classList.toggle("bad", level === "bad");
}

async function alertsNow() {
  // Another part of the server may not offer alerts (yet): no endpoint, or not for this
  // token, is an empty panel, not a failure.
  try {
    const body = await api("GET", "/admin/alerts");
    const list = Array.isArray(body) ? body : body?.alerts ?? [];
    return list.filter((a) => !a.resolved_at && (a.status ?? a.state ?? "open") === "open");
  } catch (error) {
    if (error instanceof ApiFailure) return null;
    throw error;
  }
}

async function refreshOverview() {
  const [credentials, resources, bookings, costs, quotas, alerts] = await Promise.all([
    api("GET", "/api/credentials"),
    api("GET", "/api/resources"),
    api("GET", "/api/bookings?status=confirmed"),
    api("GET", "/api/costs?limit=0"),
    api("GET", "/api/quotas"),
    alertsNow(),
  ]);
  const now = Date.now();
  setStat("ov-credentials", count.format(credentials.length));
  setStat("ov-resources", count.format(resources.length));
  setStat("ov-bookings", count.format(bookings.filter((b) => new Date(b.end).getTime() > now).length));
  setStat("ov-cost", money(costs.total));
  const warnings = quotas.filter((q) => (q.usage_ratio ?? 0) >= q.warning_threshold).length;
  setStat("ov-quota-warnings", count.format(warnings), warnings ? "warn" : null);
  if (alerts) openAlerts = new Map(alerts.map((a) => [alertKey(a), a]));
  setStat("ov-alerts", count.format(openAlerts.size), openAlerts.size ? "bad" : null);
}

// ---- fleet --------------------------------------------------------------------------------

function gauge({ name, right, ratio, mark, markLabel, foot, extra }) {
  const level = ratio >= 0.95 ? "bad" : mark !== undefined && ratio >= mark ? "warn" : ratio >= 0.8 ? "warn" : "";
  return h("div", { class: "gauge" },
    h("div", { class: "gauge-head" }, h("span", { class: "name" }, name), h("span", { class: "num" }, right)),
    h("div", { class: "gauge-bar" },
      h("div", { class: `gauge-fill ${level}`, style: `width:${Math.min(100, Math.max(0, ratio * 100)).toFixed(1)}%` }),
      mark !== undefined ? h("div", { class: "gauge-mark", style: `left:${(mark * 100).toFixed(1)}%`, "data-label": markLabel, title: `warning at ${pct(mark)}` }) : null),
    h("div", { class: "gauge-foot" }, foot),
    extra);
}

function renderPools(pools) {
  if (pools.length === 0) return fill("#pools", empty("No pools registered."));
  fill("#pools", pools.map((p) => {
    const unit = p.kind === "slot" ? "slots" : "tokens";
    const foot = [
      h("span", {}, p.kind === "slot"
        ? `${count.format(p.in_use)} of ${count.format(p.size)} slots busy`
        : `${count.format(p.available)} of ${count.format(p.size)} tokens left · refills ${count.format(p.refill_per_sec)}/s`),
      h("span", {}, `${money(p.price)} / ${p.price_per === "hour" ? "hour" : "1K tokens"}`
        + (p.autoscale ? ` · scales ${p.autoscale.min}–${p.autoscale.max} ${unit}` : "")),
    ];
    return gauge({ name: `${p.id} (${p.kind})`, right: pct(p.utilisation), ratio: p.utilisation, foot });
  }));
  const events = pools.flatMap((p) => p.scaling.map((e) => ({ ...e, pool: p.id })))
    .sort((a, b) => (a.at < b.at ? 1 : -1)).slice(0, 20);
  fill("#scaling", events.length === 0 ? empty("No resizes yet.") : table(
    ["When", "Pool", "Size", "Why"],
    events.map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.pool),
      h("td", {}, `${count.format(e.from)} → ${count.format(e.to)}`), h("td", {}, e.reason)))));
}

function renderQueue(q) {
  fill("#queue",
    h("div", { class: "total-line" }, h("span", { class: "big" }, count.format(q.total_queued)), h("span", { class: "muted" }, `queued · ${count.format(q.running)} running`)),
    table(["Class", "#Queued", "~#Started", "#Wait p50", "~#p90", "#p99", "~#Max"],
      CLASSES.map((c) => {
        const w = q.waits[c] ?? {};
        const n = (v) => h("td", { class: "num" }, w.started ? secs(v) : "–");
        return h("tr", {}, h("td", {}, c), h("td", { class: "num" }, count.format(q.queued[c] ?? 0)),
          h("td", { class: "num" }, count.format(w.started ?? 0)), n(w.p50), n(w.p90), n(w.p99), n(w.max));
      })));
}

function renderUtilisation(series) {
  const host = $("#util-chart");
  for (const id of [...charts.keys()].filter((k) => k.startsWith("util-"))) {
    charts.get(id).destroy();
    charts.delete(id);
  }
  if (series.samples.length < 2) {
    return fill(host, empty("Waiting for the monitor's samples (one every sampling interval)."));
  }
  // One small chart per pool: its utilisation beside its size, each on its own axis, so
  // an autoscaled pool's resizes show against the load that caused them.
  const xs = series.samples.map((s) => new Date(s.at).getTime() / 1000);
  fill(host, series.pools.map((pool, i) => h("div", { class: "pool-chart" },
    h("div", { class: "pool-chart-name" }, pool), h("div", { id: `util-${i}` }))));
  series.pools.forEach((pool, i) => {
    const colour = PALETTE[i % PALETTE.length];
    chart(`util-${i}`, {
      height: 150,
      legend: { live: false },
      series: [{}, { label: "utilisation %", stroke: colour, width: 2, scale: "%", fill: `${colour}22` },
        { label: "size", stroke: "#5f6b7a", width: 1.5, dash: [5, 4], scale: "size" }],
      scales: { "%": { range: [0, 100] }, size: { range: (_, min, max) => [0, Math.max(1, max * 1.25)] } },
      axes: [{}, { scale: "%", values: (_, t) => t.map((v) => `${v}%`), size: 52 },
        { scale: "size", side: 1, grid: { show: false }, size: 64, values: (_, t) => t.map((v) => count.format(v)) }],
    }, [xs, series.samples.map((s) => (s.pools[i] ? s.pools[i].utilisation * 100 : null)),
      series.samples.map((s) => (s.pools[i] ? s.pools[i].size : null))]);
  });
}

function renderForecast(series) {
  const f = series.forecast;
  const start = new Date(f.period_start).getTime() / 1000;
  const end = new Date(f.period_end).getTime() / 1000;
  const now = new Date(f.now).getTime() / 1000;
  const xs = [];
  const spent = [];
  const projected = [];
  const budget = [];
  let running = 0;
  for (const b of series.buckets) {
    const t = new Date(b.start).getTime() / 1000;
    if (t < start) continue;
    running += Number(b.total);
    xs.push(t); spent.push(running); projected.push(null); budget.push(f.budget);
  }
  // The projection runs from now at the month's rate so far to the month's end.
  xs.push(now); spent.push(Number(f.spent)); projected.push(Number(f.spent)); budget.push(f.budget);
  xs.push(end); spent.push(null); projected.push(Number(f.projected)); budget.push(f.budget);
  const lines = [{}, { label: "spent", stroke: PALETTE[0], width: 2, fill: "rgba(47,95,208,.08)", value: (_, v) => (v == null ? "–" : money(v)) },
    { label: "forecast", stroke: PALETTE[0], width: 2, dash: [6, 5], value: (_, v) => (v == null ? "–" : money(v)) }];
  const data = [xs, spent, projected];
  if (f.budget !== null && f.budget !== undefined) {
    lines.push({ label: "budget", stroke: "#c8372d", width: 1, dash: [2, 3], value: (_, v) => (v == null ? "–" : money(v)) });
    data.push(budget);
  }
  chart("forecast-chart", { legend: { live: false }, series: lines, axes: [{}, moneyAxis], scales: { x: { time: true } } }, data);
  const over = f.budget !== null && f.budget !== undefined && Number(f.projected) > Number(f.budget);
  fill("#forecast",
    `Spent ${money(f.spent)} this month · projected ${money(f.projected)} by ${when(f.period_end)}`,
    f.budget !== null && f.budget !== undefined ? ` · budget ${money(f.budget)}` : " · no budget limit",
    over ? h("span", { class: "badge bad", style: "margin-left:.4rem" }, "over budget") : null);
}

function alertKey(a) {
  return a.id ?? `${a.kind ?? a.type ?? "alert"}:${JSON.stringify(a.subject ?? "")}`;
}

function renderAlerts() {
  const list = [...openAlerts.values()];
  if (list.length === 0) return fill("#alerts", empty("No open alerts."));
  fill("#alerts", table(["Level", "Subject", "Alert", "Since"], list.map((a) => h("tr", {},
    h("td", {}, h("span", { class: `badge ${a.level ?? ""}` }, a.level ?? "alert")),
    h("td", {}, typeof a.subject === "object" ? Object.values(a.subject ?? {}).join(" ") : a.subject ?? "–"),
    h("td", {}, a.message ?? a.kind ?? a.type ?? ""),
    h("td", {}, when(a.raised_at ?? a.at))))));
}

async function refreshFleet() {
  const [pools, queue, series, costs, alerts] = await Promise.all([
    api("GET", "/api/fleet/pools"),
    api("GET", "/api/fleet/queue"),
    api("GET", "/api/fleet/series"),
    api("GET", `/api/costs/series${query({ from_date: monthStart().toISOString() })}`),
    alertsNow(),
  ]);
  renderPools(pools);
  renderQueue(queue);
  renderUtilisation(series);
  renderForecast(costs);
  if (alerts) openAlerts = new Map(alerts.map((a) => [alertKey(a), a]));
  renderAlerts();
}

function monthStart() {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
}

function describe(event) {
  const parts = [`request #${event.request}`, event.client];
  if (event.class) parts.push(event.class);
  if (event.waited_secs !== undefined) parts.push(`waited ${secs(event.waited_secs)}`);
  if (event.downgraded) parts.push("downgraded");
  if (event.reason) parts.push(`${event.reason}: ${event.message}`);
  if (event.charged !== undefined) parts.push(`charged ${money(event.charged)}`);
  return parts.join(" · ");
}

function addToFeed(event) {
  const feed = $("#feed");
  const item = h("li", { class: `ev-${event.type.replace(".", "-")}`, "data-type": event.type },
    h("span", { class: "when" }, clock(event.at)),
    h("span", { class: "what" }, event.type),
    h("span", { class: "detail" }, describe(event)));
  feed.prepend(item);
  while (feed.children.length > FEED_KEPT) feed.lastElementChild.remove();
}

// ---- credentials --------------------------------------------------------------------------

async function refreshCredentials() {
  const list = await api("GET", "/api/credentials");
  fill("#credentials", table(["Name", "~Type", "~Service", "Owner", "~#Uses", "~Last used", "Value", ""],
    list.map((c) => {
      const cell = h("td", { class: "secret" });
      const showValue = (value) => fill(cell, value === undefined ? h("span", { class: "muted" }, "••••••••") : value);
      showValue(revealed.get(c.id));
      const reveal = h("button", { class: "small secondary", "data-action": "reveal" }, revealed.has(c.id) ? "Hide" : "Reveal");
      reveal.addEventListener("click", async () => {
        if (revealed.has(c.id)) {
          revealed.delete(c.id);
          showValue(undefined);
          reveal.textContent = "Reveal";
          return;
        }
        // Decrypted only now, on this explicit click; the server counts the use.
        const full = await api("GET", `/api/credentials/${encodeURIComponent(c.id)}?includeValue=true`);
        revealed.set(c.id, full.value);
        showValue(full.value);
        reveal.textContent = "Hide";
      });
      const del = h("button", { class: "small danger", "data-action": "delete" }, "Delete");
      del.addEventListener("click", async () => {
        if (del.dataset.armed !== "yes") {
          del.dataset.armed = "yes";
          del.textContent = "Confirm delete";
          return;
        }
        await api("DELETE", `/api/credentials/${encodeURIComponent(c.id)}`);
        revealed.delete(c.id);
        refreshSoon();
      });
      return h("tr", { "data-id": c.id }, h("td", {}, h("strong", {}, c.name), h("div", { class: "muted" }, c.description || "")),
        h("td", {}, c.type), h("td", {}, c.service), h("td", {}, c.owner),
        h("td", { class: "num" }, count.format(c.usage_count ?? 0)), h("td", {}, when(c.last_used)),
        cell, h("td", {}, h("div", { style: "display:flex;gap:.3rem" }, reveal, del)));
    })));
}

// ---- resources ----------------------------------------------------------------------------

async function refreshResources() {
  const [resources, metrics] = await Promise.all([api("GET", "/api/resources"), api("GET", "/api/resources/metrics")]);
  fill("#resources", table(["Id", "Name", "~Kind", "Status", "$Per hour", "~#Max h", "~#Booked", "~$Booked cost", "~Tags"],
    resources.map((r) => {
      const m = metrics.find((x) => x.resource_id === r.id) ?? {};
      return h("tr", {}, h("td", {}, r.id), h("td", {}, r.name), h("td", {}, r.kind),
        h("td", {}, h("span", { class: `badge ${r.status === "available" ? "ok" : "warn"}` }, r.status)),
        h("td", { class: "num" }, money(r.cost_per_hour)), h("td", { class: "num" }, r.max_booking_hours),
        h("td", { class: "num" }, `${count.format(m.booked_hours ?? 0)} h`), h("td", { class: "num" }, money(m.booked_cost)),
        h("td", {}, (r.tags ?? []).join(", ")));
    })));
  return resources;
}

// ---- bookings -----------------------------------------------------------------------------

async function refreshBookings() {
  const [resources, bookings] = await Promise.all([api("GET", "/api/resources"), api("GET", "/api/bookings")]);
  const select = $("#booking-form select[name=resource_id]");
  const chosen = select.value;
  fill(select, resources.map((r) => h("option", { value: r.id }, `${r.name} (${r.id})`)));
  if (resources.some((r) => r.id === chosen)) select.value = chosen;
  renderTimeline(resources, bookings.filter((b) => b.status === "confirmed"));
  fill("#bookings", table(["#", "Resource", "Client", "Start", "~End", "~$Estimate", "~Status", ""],
    bookings.slice().reverse().map((b) => h("tr", { "data-id": b.id },
      h("td", {}, `#${b.id}`), h("td", {}, b.resource), h("td", {}, b.client), h("td", {}, when(b.start)), h("td", {}, when(b.end)),
      h("td", { class: "num" }, money(b.estimated_cost)),
      h("td", {}, h("span", { class: `badge ${b.status === "confirmed" ? "ok" : ""}` }, b.status)),
      h("td", {}, b.status === "confirmed" ? h("button", {
        class: "small danger",
        onclick: async () => { await api("DELETE", `/api/bookings/${b.id}`); conflictId = null; refreshSoon(); },
      }, "Cancel") : null)))));
}

function renderTimeline(resources, bookings) {
  const hour = 3600e3;
  const start = Math.floor(Date.now() / hour) * hour - 2 * hour;
  const span = 48 * hour;
  const at = (t) => ((t - start) / span) * 100;
  const ticks = [0, 6, 12, 18, 24, 30, 36, 42, 48].map((i) => {
    const t = start + i * hour;
    const label = new Date(t).toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
    return h("span", { style: `left:${(i / 48) * 100}%` }, i === 0 || i === 48 ? "" : label);
  });
  if (resources.length === 0) return fill("#timeline", empty("No resources to book yet."));
  fill("#timeline",
    h("div", { class: "tl-axis" }, h("span"), h("div", { class: "tl-scale" }, ticks)),
    resources.map((r) => h("div", { class: "tl-row", "data-resource": r.id },
      h("span", { class: "tl-name", title: r.name }, r.id),
      h("div", { class: "tl-track" },
        h("div", { class: "tl-now", style: `left:${at(Date.now())}%`, title: "now" }),
        bookings.filter((b) => b.resource === r.id).map((b) => {
          const left = Math.max(0, at(new Date(b.start).getTime()));
          const right = Math.min(100, at(new Date(b.end).getTime()));
          if (right <= 0 || left >= 100) return null;
          return h("div", {
            class: `tl-booking${b.id === conflictId ? " conflict" : ""}`,
            style: `left:${left}%;width:${Math.max(0.8, right - left)}%`,
            title: `#${b.id} ${b.client} ${when(b.start)} – ${when(b.end)} ${b.purpose ?? ""}`,
          }, `#${b.id} ${b.client}`);
        })))));
}

// ---- costs --------------------------------------------------------------------------------

function rangeOf() {
  const form = $("#range-form");
  const from = form.from_date.value;
  const to = form.to_date.value;
  // Dates are the operator's local days; the API takes instants.
  return {
    from_date: from ? new Date(`${from}T00:00`).toISOString() : undefined,
    to_date: to ? new Date(new Date(`${to}T00:00`).getTime() + 86400e3).toISOString() : undefined,
    client: isAdmin() ? form.client.value.trim() || undefined : undefined,
  };
}

function bars(id, totals) {
  const entries = Object.entries(totals ?? {}).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return fill(id, empty("–"));
  const top = Math.max(...entries.map((e) => Number(e[1])), 1e-9);
  fill(id, entries.map(([name, value]) => h("div", { class: "bar-row" },
    h("span", { class: "bar-label", title: name }, name),
    h("div", { class: "bar-track" }, h("div", { class: "bar-fill", style: `width:${(Number(value) / top) * 100}%` })),
    h("span", { class: "num" }, money(value)))));
}

async function refreshCosts() {
  const range = rangeOf();
  const [summary, series] = await Promise.all([
    api("GET", `/api/costs${query({ ...range, limit: 50 })}`),
    api("GET", `/api/costs/series${query({ ...range, bucket_secs: 86400 })}`),
  ]);
  $("#cost-total").textContent = money(summary.total);
  $("#cost-count").textContent = `${count.format(summary.count)} entries`;
  bars("#by-type", summary.by_type);
  bars("#by-category", summary.by_category);
  bars("#by-client", summary.by_client);
  const xs = series.buckets.map((b) => new Date(b.start).getTime() / 1000);
  chart("cost-chart", {
    legend: { live: false },
    series: [{}, { label: "per day", stroke: PALETTE[0], fill: "rgba(47,95,208,.35)", width: 1,
      paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false }, value: (_, v) => (v == null ? "–" : money(v)) }],
    axes: [{}, moneyAxis],
  }, [xs, series.buckets.map((b) => Number(b.total))]);
  fill("#cost-items", table(["When", "Client", "~Type", "Category", "$Amount"],
    summary.items.slice().reverse().map((e) => h("tr", {}, h("td", {}, when(e.at)), h("td", {}, e.client),
      h("td", {}, e.type), h("td", {}, e.category), h("td", { class: "num" }, money(e.amount))))));
}

// ---- quotas -------------------------------------------------------------------------------

function metricName(metric) {
  return typeof metric === "string" ? metric : metric?.named ?? "?";
}

async function refreshQuotas() {
  const quotas = await api("GET", "/api/quotas");
  if (quotas.length === 0) return fill("#quotas", empty("No quotas apply."));
  fill("#quotas", quotas.map((q) => {
    const metric = metricName(q.metric);
    const amount = (v) => (metric === "cost" ? money(Number(v ?? 0) / 1e6) : count.format(v ?? 0));
    const scope = q.scope === "global" ? "global" : `client ${q.scope.client}`;
    const mayReset = isAdmin() || (q.scope !== "global" && q.scope.client === me.client);
    const reset = mayReset ? h("button", {
      class: "small secondary", "data-action": "reset",
      onclick: async () => { await api("POST", `/api/quotas/${encodeURIComponent(q.id)}/reset`); refreshSoon(); },
    }, "Reset") : null;
    const ratio = q.usage_ratio ?? 0;
    return h("div", { "data-id": q.id }, gauge({
      name: `${q.id} · ${metric} · ${q.period} · ${scope}${q.hard_stop ? "" : " · soft"}`,
      right: pct(ratio),
      ratio,
      mark: q.warning_threshold,
      markLabel: `warn ${pct(q.warning_threshold)}`,
      foot: [h("span", {}, `${amount(q.used)} of ${amount(q.allowance ?? q.limit)} used`),
        h("span", {}, `resets ${when(q.period_end)} `, reset)],
    }));
  }));
}

// ---- live updates -------------------------------------------------------------------------

function connect() {
  if (!token) return;
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  socket = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(token)}`);
  const live = $("#live");
  socket.addEventListener("open", () => { live.textContent = "live"; live.classList.add("on"); });
  socket.addEventListener("close", () => {
    live.textContent = "offline";
    live.classList.remove("on");
    if (token) setTimeout(connect, 2000);
  });
  socket.addEventListener("message", (message) => {
    let event;
    try { event = JSON.parse(message.data); } catch { return; }
    if (event.type?.startsWith("request.")) addToFeed(event);
    if (event.type === "alert.raised") openAlerts.set(alertKey(event.alert ?? event), event.alert ?? event);
    if (event.type === "alert.resolved") openAlerts.delete(alertKey(event.alert ?? event));
    if (event.type?.startsWith("alert.")) {
      renderAlerts();
      setStat("ov-alerts", count.format(openAlerts.size), openAlerts.size ? "bad" : null);
    }
    refreshSoon();
  });
}

const refreshers = {
  fleet: refreshFleet,
  credentials: refreshCredentials,
  resources: refreshResources,
  bookings: refreshBookings,
  costs: refreshCosts,
  quotas: refreshQuotas,
};

async function refresh() {
  try {
    await Promise.all([refreshOverview(), refreshers[currentTab]()]);
  } catch (error) {
    if (error instanceof ApiFailure && error.status === 401) return signOut("Your token is no longer accepted.");
    console.error(error);
  }
}

/** Events come in bursts; one refresh a quarter second after the last is enough. */
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 250);
}

// ---- tabs, sign-in ------------------------------------------------------------------------

function isAdmin() {
  return me?.role === "admin";
}

function show(tab) {
  if (!refreshers[tab]) tab = "fleet";
  currentTab = tab;
  for (const section of $$(".tab")) section.hidden = section.id !== `tab-${tab}`;
  for (const link of $$(".tabs a")) link.setAttribute("aria-selected", String(link.dataset.tab === tab));
  refresh();
}

async function signIn(candidate) {
  token = candidate;
  me = await api("GET", "/api/whoami");
  sessionStorage.setItem(TOKEN_KEY, token);
  $("#who").textContent = isAdmin() ? "admin" : `client ${me.client}`;
  for (const el of $$(".admin-only")) el.hidden = !isAdmin();
  $("#signin").hidden = true;
  $("#app").hidden = false;
  connect();
  clearInterval(pollTimer);
  // Pool samples arrive with the monitor's ticks, which send no event: poll for them.
  pollTimer = setInterval(() => { if (currentTab === "fleet") refresh(); }, 10_000);
  show(location.hash.slice(1) || "fleet");
}

function signOut(reason) {
  token = null;
  me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(pollTimer);
  socket?.close();
  revealed.clear();
  $("#app").hidden = true;
  $("#signin").hidden = false;
  const form = $("#signin-form");
  clearErrors(form);
  if (reason) showError(form, { message: reason, field: "token" });
}

function setUp() {
  bindForm($("#signin-form"), async (values) => {
    if (!values.token) throw new ApiFailure(400, { error: "missing token: paste an admin or client token", field: "token" });
    try {
      await signIn(values.token);
    } catch (error) {
      token = null;
      if (error instanceof ApiFailure) error.field = error.field ?? "token";
      throw error;
    }
  });
  $("#signout").addEventListener("click", () => signOut());
  window.addEventListener("hashchange", () => { if (token) show(location.hash.slice(1)); });

  bindForm($("#credential-form"), async (values, form) => {
    await api("POST", "/api/credentials", { permissions: [], ...values });
    form.reset();
    refreshSoon();
  });

  bindForm($("#resource-form"), async (values, form) => {
    await api("POST", "/api/resources", values);
    form.reset();
    refreshSoon();
  });

  // A clash names no field: it is about the slot, so it shows beside the start.
  bindForm($("#booking-form"), async (values) => {
    conflictId = null;
    try {
      await api("POST", "/api/bookings", values);
    } catch (error) {
      if (error.conflict) {
        conflictId = error.conflict.id;
        refreshSoon();
      }
      throw error;
    }
    refreshSoon();
  }, (error) => (error.status === 409 ? "start_time" : null));

  bindForm($("#cost-form"), async (values, form) => {
    await api("POST", "/api/costs", values);
    form.category.value = "";
    form.amount.value = "";
    refreshSoon();
  });

  bindForm($("#range-form"), async (values, form) => {
    clearErrors(form);
    await refreshCosts();
  });

  bindForm($("#quota-form"), async (values, form) => {
    const metric = values.metric ?? "api_calls";
    const quota = {
      id: values.id,
      scope: values.scope ? { client: values.scope } : "global",
      metric: KNOWN_METRICS.includes(metric) ? metric : { named: metric },
      // Cost quotas count micro-units; the form takes dollars.
      limit: metric === "cost" && typeof values.limit === "number" ? Math.round(values.limit * 1e6) : values.limit,
      period: values.period,
      hard_stop: values.hard_stop,
    };
    if (values.warning_threshold !== undefined) quota.warning_threshold = values.warning_threshold;
    await api("POST", "/api/quotas", quota);
    form.reset();
    refreshSoon();
  });

  // The default cost range: the last 30 days up to today.
  const today = new Date();
  const local = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  $("#range-form").from_date.value = local(new Date(today.getTime() - 29 * 86400e3));
  $("#range-form").to_date.value = local(today);
  // A booking form opens on the next whole hour, for an hour.
  const next = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3);
  const localTime = (d) => `${local(d)}T${String(d.getHours()).padStart(2, "0")}:00`;
  $("#booking-form").start_time.value = localTime(next);
  $("#booking-form").end_time.value = localTime(new Date(next.getTime() + 3600e3));

  const saved = sessionStorage.getItem(TOKEN_KEY);
  if (saved) {
    signIn(saved).catch(() => signOut("Your saved token is no longer accepted: sign in again."));
  } else {
    signOut();
  }
}

setUp();

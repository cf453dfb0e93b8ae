// The eddy dashboard: a page over the control API (the same JSON the CLI
// reads), polled once a second. No framework and no build step: the
// server embeds this file. Everything a job or guest wrote (names,
// failure messages, records) goes into the page as text, never as HTML.
"use strict";

const csrf = document.querySelector('meta[name="eddy-csrf"]').content;
const SVG = "http://www.w3.org/2000/svg";
let selected = null; // the id of the job shown
let lastDetails = null;

// --- small helpers -------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-CSRF-Token": csrf }, options.headers || {});
  const response = await fetch(path, Object.assign({}, options, { headers, credentials: "same-origin" }));
  if (response.status === 401) {
    window.location.assign("/");
    throw new Error("logged out");
  }
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  if (!response.ok) {
    const message = body && body.error ? body.error : text || response.statusText;
    throw new Error(`${message} (HTTP ${response.status})`);
  }
  return body;
}

function post(path, body) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
}

const rate = (n) => n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(n < 10 ? 1 : 0);
const bytes = (n) => n == null ? "" : n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`;
const ms = (n) => n == null ? "" : n >= 1000 ? `${(n / 1000).toFixed(2)} s` : `${n} ms`;
const time = (epochMs) => new Date(epochMs).toISOString().replace("T", " ").replace("Z", "");
const uptime = (n) => { const s = Math.floor(n / 1000); return s >= 3600 ? `${Math.floor(s / 3600)}h ${Math.floor(s % 3600 / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`; };
const pressure = (share) => share > 0.5 ? "bp-high" : share >= 0.1 ? "bp-low" : "bp-ok";

function showResult(text, isError) {
  const box = document.getElementById("action-result");
  box.textContent = text;
  box.className = isError ? "error" : "";
}

// --- the job list ----------------------------------------------------------

async function refreshJobs() {
  const jobs = await api("/v1/jobs");
  const list = document.getElementById("job-list");
  const details = await Promise.all(jobs.map((job) => api(`/v1/jobs/${job.id}`).catch(() => null)));
  list.replaceChildren(...jobs.map((job, i) => {
    const status = details[i] ? details[i].status : null;
    const source = status ? status.nodes.filter((n) => n.role === "source") : [];
    const inRate = source.reduce((sum, n) => sum + n.records_out_per_second, 0);
    const row = el("tr", { class: "job-row" + (job.id === selected ? " selected" : ""), "data-job-id": job.id, onclick: () => select(job.id) },
      el("td", {}, job.name),
      el("td", { class: "muted" }, job.id.slice(0, 8)),
      el("td", {}, el("span", { class: `phase phase-${job.phase}` }, job.phase)),
      el("td", {}, status ? uptime(status.uptime_ms) : ""),
      el("td", { class: "job-rate" }, status ? rate(inRate) : ""),
      el("td", {}, status ? status.restarts : ""));
    return row;
  }));
  document.getElementById("no-jobs").hidden = jobs.length > 0;
  const running = jobs.filter((j) => !["finished", "stopped", "cancelled", "failed"].includes(j.phase)).length;
  document.getElementById("server-summary").textContent = `${jobs.length} job(s), ${running} running`;
  if (!selected && jobs.length > 0) {
    const fromHash = window.location.hash.replace("#/jobs/", "");
    const wanted = jobs.find((j) => j.id === fromHash) || jobs.find((j) => j.phase === "running") || jobs[0];
    select(wanted.id);
  }
}

function select(id) {
  selected = id;
  window.location.hash = `#/jobs/${id}`;
  document.querySelectorAll("#job-list tr").forEach((row) => row.classList.toggle("selected", row.dataset.jobId === id));
  refreshJob();
}

// --- one job -------------------------------------------------------------

async function refreshJob() {
  if (!selected) return;
  const id = selected;
  const [details, checkpoints, failures, throughput] = await Promise.all([
    api(`/v1/jobs/${id}`),
    api(`/v1/jobs/${id}/checkpoints`),
    api(`/v1/jobs/${id}/failures`),
    api(`/v1/jobs/${id}/throughput`),
  ]);
  if (id !== selected) return;
  lastDetails = details;
  document.getElementById("job").hidden = false;
  document.getElementById("job-name").textContent = details.name;
  document.getElementById("job-id").textContent = details.id;
  const phase = document.getElementById("job-phase");
  phase.textContent = details.status.phase;
  phase.className = `phase phase-${details.status.phase}`;
  const over = ["finished", "stopped", "cancelled", "failed"].includes(details.status.phase);
  for (const button of ["savepoint", "stop", "cancel", "swap"]) document.getElementById(button).disabled = over;
  drawGraph(details);
  drawNodes(details.status);
  drawThroughput(throughput);
  drawWatermarks(details.status);
  drawCheckpoints(details.status.checkpoints, checkpoints);
  drawFunctions(details);
  drawFailures(failures);
}

// Layers by longest path from the sources; each chain (task group) on one
// row, so its box holds its nodes only.
function layout(graph) {
  const layer = {};
  for (const node of graph.nodes) layer[node.id] = 0;
  for (let pass = 0; pass < graph.nodes.length; pass++) {
    for (const edge of graph.edges) layer[edge.to] = Math.max(layer[edge.to], layer[edge.from] + 1);
  }
  const taken = new Set();
  const row = {};
  for (const group of graph.task_groups) {
    let r = 0;
    while (group.nodes.some((n) => taken.has(`${r}:${layer[n]}`))) r++;
    for (const n of group.nodes) { row[n] = r; taken.add(`${r}:${layer[n]}`); }
  }
  for (const node of graph.nodes) {
    if (row[node.id] === undefined) {
      let r = 0;
      while (taken.has(`${r}:${layer[node.id]}`)) r++;
      row[node.id] = r; taken.add(`${r}:${layer[node.id]}`);
    }
  }
  return { layer, row };
}

const NODE_W = 170, NODE_H = 62, GAP_X = 90, GAP_Y = 34, PAD = 16;

function drawGraph(details) {
  const graph = details.graph;
  const status = Object.fromEntries(details.status.nodes.map((n) => [n.name, n]));
  const { layer, row } = layout(graph);
  const x = (id) => PAD + layer[id] * (NODE_W + GAP_X);
  const y = (id) => PAD + row[id] * (NODE_H + GAP_Y);
  const width = PAD * 2 + (Math.max(0, ...Object.values(layer)) + 1) * (NODE_W + GAP_X) - GAP_X;
  const height = PAD * 2 + (Math.max(0, ...Object.values(row)) + 1) * (NODE_H + GAP_Y) - GAP_Y;
  const root = document.getElementById("graph");
  root.setAttribute("width", width);
  root.setAttribute("height", height);
  root.setAttribute("viewBox", `0 0 ${width} ${height}`);
  const parts = [];
  for (const group of graph.task_groups) {
    if (group.nodes.length < 2) continue;
    const xs = group.nodes.map(x), ys = group.nodes.map(y);
    parts.push(svg("rect", { class: "chain", x: Math.min(...xs) - 8, y: Math.min(...ys) - 8, rx: 8,
      width: Math.max(...xs) - Math.min(...xs) + NODE_W + 16, height: Math.max(...ys) - Math.min(...ys) + NODE_H + 16 }));
  }
  const incoming = {}, outgoing = {};
  for (const edge of graph.edges) {
    incoming[edge.to] = (incoming[edge.to] || 0) + 1;
    outgoing[edge.from] = (outgoing[edge.from] || 0) + 1;
  }
  for (const edge of graph.edges) {
    const x1 = x(edge.from) + NODE_W, y1 = y(edge.from) + NODE_H / 2;
    const x2 = x(edge.to), y2 = y(edge.to) + NODE_H / 2;
    const mid = (x1 + x2) / 2;
    parts.push(svg("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`, "data-from": edge.from, "data-to": edge.to }));
    const from = status[edge.from], to = status[edge.to];
    const perSecond = incoming[edge.to] === 1 && to ? to.records_in_per_second : from ? from.records_out_per_second : 0;
    const label = svg("text", { class: "edge-label", x: mid, y: (y1 + y2) / 2 - 4, "text-anchor": "middle" }, `${rate(perSecond)}/s`);
    label.dataset.edge = `${edge.from}->${edge.to}`;
    parts.push(label);
  }
  for (const node of graph.nodes) {
    const s = status[node.id] || { records_in_per_second: 0, records_out_per_second: 0, busy: 0, backpressured: 0 };
    const what = node.kind || node.connector || node.role;
    const g = svg("g", { class: `node ${pressure(s.backpressured)}`, "data-node": node.id, transform: `translate(${x(node.id)},${y(node.id)})` });
    g.append(svg("rect", { width: NODE_W, height: NODE_H, rx: 6 }));
    g.append(svg("text", { class: "name", x: 8, y: 17 }, node.id));
    g.append(svg("text", { x: 8, y: 33 }, `${what} \u00d7${node.parallelism}`));
    const perSecond = node.role === "sink" ? s.records_in_per_second : s.records_out_per_second;
    g.append(svg("text", { class: "node-rate", x: 8, y: 50 }, `${rate(perSecond)}/s \u00b7 busy ${Math.round(s.busy * 100)}% \u00b7 bp ${Math.round(s.backpressured * 100)}%`));
    parts.push(g);
  }
  root.replaceChildren(...parts);
}

function drawNodes(status) {
  document.getElementById("nodes").replaceChildren(...status.nodes.map((n) => el("tr", { "data-node": n.name },
    el("td", {}, n.name), el("td", {}, n.role), el("td", {}, n.parallelism),
    el("td", { class: "records-in" }, n.records_in), el("td", { class: "records-out" }, n.records_out),
    el("td", {}, rate(n.role === "sink" ? n.records_in_per_second : n.records_out_per_second)),
    el("td", {}, `${Math.round(n.busy * 100)}%`),
    el("td", { class: pressure(n.backpressured) }, `${Math.round(n.backpressured * 100)}%`))));
}

function drawThroughput(throughput) {
  const box = document.getElementById("throughput");
  const roles = Object.fromEntries((lastDetails ? lastDetails.status.nodes : []).map((n) => [n.name, n.role]));
  box.replaceChildren(...throughput.nodes.map((name, i) => {
    const useIn = roles[name] === "sink";
    const values = throughput.samples.map((s) => useIn ? s.nodes[i].records_in_per_second : s.nodes[i].records_out_per_second);
    const max = Math.max(1, ...values);
    const points = values.map((v, k) => `${(k / Math.max(1, values.length - 1)) * 300},${48 - (v / max) * 44}`).join(" ");
    const chart = svg("svg", { viewBox: "0 0 300 48", preserveAspectRatio: "none" });
    chart.append(svg("polyline", { points }));
    const now = values.length ? values[values.length - 1] : 0;
    return el("div", { class: "spark", "data-node": name },
      el("div", {}, el("strong", {}, name), ` ${rate(now)}/s ${useIn ? "in" : "out"}, peak ${rate(max)}/s over ${values.length} s`),
      chart);
  }));
}

function drawWatermarks(status) {
  const now = Date.now();
  const rows = status.nodes.filter((n) => n.watermark != null).map((n) => {
    const ended = n.watermark >= 9e18;
    return el("tr", {}, el("td", {}, n.name),
      el("td", {}, ended ? "end of input" : time(n.watermark)),
      el("td", {}, ended ? "" : ms(now - n.watermark)));
  });
  document.getElementById("watermarks").replaceChildren(...rows);
}

function drawCheckpoints(summary, history) {
  document.getElementById("checkpoint-summary").textContent =
    `${summary.completed} completed, ${summary.failed} failed` +
    (summary.restored_from != null ? `, restored from ${summary.restored_from}` : "") +
    (summary.in_progress != null ? `, ${summary.in_progress} in progress` : "");
  const rows = history.slice().reverse().slice(0, 30).map((c) => el("tr", { "data-checkpoint": c.id },
    el("td", {}, c.id), el("td", {}, c.kind),
    el("td", { class: c.failure ? "error" : "" }, c.failure ? `failed: ${c.failure}` : "completed"),
    el("td", {}, time(c.started_at)), el("td", {}, ms(c.duration_ms)),
    el("td", {}, c.failure ? "" : bytes(c.bytes)), el("td", {}, c.failure ? "" : bytes(c.written_bytes)),
    el("td", {}, ms(c.alignment_ms))));
  document.getElementById("checkpoints").replaceChildren(...rows);
}

function drawFunctions(details) {
  const functions = details.status.functions;
  document.getElementById("functions").replaceChildren(...functions.map((f) => el("tr", { "data-operator": f.operator },
    el("td", {}, f.operator), el("td", {}, f.kind), el("td", { class: "module" }, f.module_sha256.slice(0, 12)),
    el("td", {}, f.swaps.length))));
  const select = document.getElementById("swap-operator");
  const current = select.value;
  const names = functions.map((f) => f.operator);
  if (select.options.length !== names.length || names.some((n, i) => select.options[i].value !== n)) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (names.includes(current)) select.value = current;
  }
}

function drawFailures(failures) {
  document.getElementById("no-failures").hidden = failures.length > 0;
  document.getElementById("failures").replaceChildren(...failures.slice().reverse().map((f) =>
    el("li", {}, el("span", { class: "muted" }, `${time(f.at)}, after ${f.restart} restart(s)`), el("pre", {}, f.message))));
}

// --- actions ---------------------------------------------------------------

async function act(what, action) {
  showResult(`${what}\u2026`, false);
  try {
    showResult(await action(), false);
  } catch (error) {
    showResult(`${what} failed: ${error.message}`, true);
  }
  refreshJob().catch(() => {});
}

document.getElementById("savepoint").addEventListener("click", () => act("savepoint", async () => {
  const done = await post(`/v1/jobs/${selected}/savepoints`);
  return `savepoint ${done.id} complete: ${done.path} (${bytes(done.bytes)})`;
}));

document.getElementById("stop").addEventListener("click", () => {
  if (!window.confirm("Stop the job with a final savepoint?")) return;
  act("stop", async () => {
    const done = await post(`/v1/jobs/${selected}/stop`);
    return `stopped at savepoint ${done.id}: ${done.path}`;
  });
});

document.getElementById("cancel").addEventListener("click", () => {
  if (!window.confirm("Cancel the job? Nothing more is committed.")) return;
  act("cancel", async () => {
    await post(`/v1/jobs/${selected}/cancel`);
    return "the job is cancelling";
  });
});

document.getElementById("swap-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = document.getElementById("swap-module").files[0];
  const operator = document.getElementById("swap-operator").value;
  if (!file) { showResult("choose the new module (.wasm) first", true); return; }
  act("swap", async () => {
    const uploaded = await api("/v1/modules", { method: "POST", headers: { "Content-Type": "application/wasm" }, body: await file.arrayBuffer() });
    const done = await post(`/v1/jobs/${selected}/swaps`, { operator, module_sha256: uploaded.sha256 });
    return `operator ${done.operator} runs module ${done.module_sha256.slice(0, 12)} from barrier ${done.barrier}`;
  });
});

// --- polling ---------------------------------------------------------------

async function tick() {
  try {
    await refreshJobs();
    await refreshJob();
  } catch (error) {
    if (error.message !== "logged out") document.getElementById("server-summary").textContent = `cannot reach the server: ${error.message}`;
  }
  setTimeout(tick, 1000);
}
tick();

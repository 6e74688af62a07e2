#include "scheduler/dashboard_html.h"

namespace pst {

// Kept as one readable document. Data from /status is put into the page with
// textContent / SVG attributes only (never innerHTML), since host names and
// failure messages come from other processes.
const char kDashboardHtml[] = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pstrain</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 1.3em; margin: 0 0 .3em 0; }
  h2 { font-size: 1.05em; margin: 1.2em 0 .4em 0; }
  #summary span { margin-right: 1.5em; }
  #failure { color: #b00; font-weight: bold; }
  #error { color: #b60; }
  table { border-collapse: collapse; font-variant-numeric: tabular-nums; background: #fff; }
  th, td { padding: .25em .8em; border-bottom: 1px solid #ddd; text-align: right; }
  th { background: #eee; }
  td.l, th.l { text-align: left; }
  .alive { color: #080; } .suspect { color: #b60; } .dead { color: #b00; } .left { color: #777; }
  .charts { display: flex; flex-wrap: wrap; gap: 1em; }
  .chart { background: #fff; border: 1px solid #ddd; padding: .5em; }
  .legend span { margin-right: 1em; font-size: .9em; }
  svg text { font-size: 11px; fill: #555; }
</style>
</head>
<body>
<h1>pstrain <span id="state">connecting…</span></h1>
<div id="summary">
  <span id="epoch"></span><span id="samples"></span><span id="speed"></span>
  <span id="elapsed"></span><span id="accuracy"></span>
  <span id="generation"></span><span id="checkpoint"></span><span id="rollbacks"></span>
</div>
<div id="failure"></div>
<div id="error"></div>

<h2>Nodes</h2>
<table id="nodes">
  <thead><tr>
    <th class="l">role</th><th>rank</th><th class="l">address</th><th class="l">host</th><th>pid</th>
    <th class="l">state</th><th>clock</th><th>samples</th><th>samples/s</th><th>last heartbeat</th>
  </tr></thead>
  <tbody></tbody>
</table>

<div id="sparse-section" hidden>
<h2>Sparse tables</h2>
<table id="sparse">
  <thead><tr>
    <th class="l">table</th><th>shard</th><th>rows</th><th>memory</th><th>bytes/row</th>
    <th>raw bytes/row</th><th>admitted</th><th>evicted</th><th>unadmitted updates</th>
    <th>changed since checkpoint</th>
  </tr></thead>
  <tbody></tbody>
</table>
</div>

<div class="charts">
  <div class="chart">
    <h2>Training loss (live)</h2>
    <div class="legend"><span style="color:#1f77b4">&#9632; loss</span></div>
    <svg id="live-loss" width="560" height="220" data-points="0"></svg>
  </div>
  <div class="chart">
    <h2>Speed (samples/s)</h2>
    <div class="legend"><span style="color:#2ca02c">&#9632; samples/s</span></div>
    <svg id="live-speed" width="560" height="220" data-points="0"></svg>
  </div>
  <div class="chart">
    <h2>Per epoch</h2>
    <div class="legend"><span style="color:#1f77b4">&#9632; train loss</span>
      <span style="color:#d62728">&#9632; test accuracy</span></div>
    <svg id="epoch-loss" width="560" height="220" data-points="0"></svg>
    <svg id="epoch-accuracy" width="560" height="220" data-points="0"></svg>
  </div>
  <div class="chart" id="auc-section" hidden>
    <h2>Per epoch (sparse model)</h2>
    <div class="legend"><span style="color:#9467bd">&#9632; test AUC</span>
      <span style="color:#8c564b">&#9632; test log-loss</span></div>
    <svg id="epoch-auc" width="560" height="220" data-points="0"></svg>
    <svg id="epoch-logloss" width="560" height="220" data-points="0"></svg>
  </div>
</div>

<script>
"use strict";
const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  if (text !== undefined) e.textContent = text;
  return e;
}

function fmt(v, digits) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  return Number(v).toFixed(digits);
}

function fmtInt(v) {
  if (v === null || v === undefined || !isFinite(v)) return "–";
  return Math.round(v).toLocaleString("en-US");
}

// Draws one line (points: [[x, y], ...]) with axes into an <svg>.
function drawChart(svg, points, color, xLabel) {
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height");
  const L = 55, R = 10, T = 10, B = 30;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  svg.setAttribute("data-points", String(points.length));
  svg.appendChild(el("line", {x1: L, y1: H - B, x2: W - R, y2: H - B, stroke: "#999"}));
  svg.appendChild(el("line", {x1: L, y1: T, x2: L, y2: H - B, stroke: "#999"}));
  svg.appendChild(el("text", {x: W - R, y: H - 5, "text-anchor": "end"}, xLabel));
  if (points.length === 0) {
    svg.appendChild(el("text", {x: W / 2, y: H / 2, "text-anchor": "middle"}, "no data yet"));
    return;
  }
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const [x, y] of points) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  if (y1 === y0) { y0 -= Math.abs(y0) * 0.1 + 0.01; y1 += Math.abs(y1) * 0.1 + 0.01; }
  const sx = x => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = y => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  // Axis labels short enough for the margin: 4 significant digits, thousands as "k".
  const axis = v => Math.abs(v) >= 10000 ? (v / 1000).toFixed(1) + "k" : Number(v.toPrecision(4)).toString();
  for (const [v, anchor] of [[y0, H - B], [y1, T + 8]])
    svg.appendChild(el("text", {x: L - 4, y: anchor, "text-anchor": "end"}, axis(v)));
  svg.appendChild(el("text", {x: L, y: H - B + 14, "text-anchor": "start"}, fmt(x0, 1)));
  svg.appendChild(el("text", {x: W - R - 40, y: H - B + 14, "text-anchor": "end"}, fmt(x1, 1)));
  const coords = points.map(([x, y]) => sx(x).toFixed(1) + "," + sy(y).toFixed(1)).join(" ");
  svg.appendChild(el("polyline", {points: coords, fill: "none", stroke: color, "stroke-width": 1.5}));
  if (points.length <= 50)
    for (const [x, y] of points)
      svg.appendChild(el("circle", {cx: sx(x), cy: sy(y), r: 2.5, fill: color}));
}

function setText(id, text) { document.getElementById(id).textContent = text; }

// A duration in ms as "42 s", "3.5 min" or "2.1 h".
function fmtAge(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "–";
  const s = Math.max(0, ms) / 1000;
  if (s < 120) return fmt(s, 0) + " s";
  if (s < 7200) return fmt(s / 60, 1) + " min";
  return fmt(s / 3600, 1) + " h";
}

function render(s) {
  setText("state", s.state);
  const t = s.totals;
  const current = Math.min(t.epochs, t.epochs_completed + (s.state === "running" ? 1 : 0));
  setText("epoch", "epoch " + current + "/" + t.epochs);
  setText("samples", "samples " + fmtInt(t.samples) +
          (t.samples_total ? " of " + fmtInt(t.samples_total) +
           " (" + fmt(100 * t.progress, 1) + "%)" : ""));
  setText("speed", fmtInt(t.samples_per_second) + " samples/s");
  setText("elapsed", "training " + fmt(s.elapsed_ms / 1000, 1) + " s");
  setText("accuracy", "last test accuracy " + fmt(t.last_test_accuracy, 4));
  setText("failure", s.failure ? "failed: " + s.failure : "");
  setText("generation", "generation " + (s.generation || 0));
  const cks = s.checkpoints || [];
  const last = cks.length ? cks[cks.length - 1] : null;
  setText("checkpoint", last
          ? "last checkpoint " + last.id + " at clock " + fmtInt(last.clock) +
            (s.unix_ms && last.unix_ms ? ", " + fmtAge(s.unix_ms - last.unix_ms) + " ago" : "")
          : "no checkpoint yet");
  const rollbacks = (s.rollbacks || []).length;
  setText("rollbacks", rollbacks + (rollbacks === 1 ? " rollback" : " rollbacks"));

  // cells: [text, class] pairs, one <td> each.
  const appendCells = (tr, cells) => {
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = String(text);
      tr.appendChild(td);
    }
  };
  const body = document.querySelector("#nodes tbody");
  while (body.firstChild) body.removeChild(body.firstChild);
  for (const n of s.nodes) {
    const tr = document.createElement("tr");
    tr.className = "node";
    const cells = [
      [n.role, "l"], [n.rank], [n.endpoint || "–", "l"], [n.host, "l"], [n.pid],
      [n.state, "l " + n.state], [fmtInt(n.clock)], [fmtInt(n.samples)],
      [n.role === "worker" ? fmtInt(n.samples_per_second) : "–"],
      [fmt(n.last_heartbeat_age_ms / 1000, 1) + " s ago"]];
    appendCells(tr, cells);
    body.appendChild(tr);
  }

  const sparse = document.querySelector("#sparse tbody");
  while (sparse.firstChild) sparse.removeChild(sparse.firstChild);
  let sparseRows = 0;
  for (const n of s.nodes) {
    for (const t of (n.role === "ps" && n.sparse_tables) || []) {
      const tr = document.createElement("tr");
      tr.className = "sparse-table";
      const cells = [
        [t.table, "l"], [n.rank], [fmtInt(t.rows)], [fmt(t.bytes / 1048576, 1) + " MiB"],
        [t.bytes_per_row === null ? "–" : fmt(t.bytes_per_row, 1)], [fmtInt(t.raw_bytes_per_row)],
        [fmtInt(t.admitted)], [fmtInt(t.evicted)], [fmtInt(t.unadmitted_updates)],
        [fmtInt(t.changed_rows)]];
      appendCells(tr, cells);
      sparse.appendChild(tr);
      ++sparseRows;
    }
  }
  document.getElementById("sparse-section").hidden = sparseRows === 0;

  const hist = s.history.filter(p => p[0] !== null && p[1] !== null);
  drawChart(document.getElementById("live-loss"), hist.map(p => [p[0], p[1]]), "#1f77b4",
            "training time (s)");
  drawChart(document.getElementById("live-speed"),
            s.history.filter(p => p[0] !== null && p[2] !== null).map(p => [p[0], p[2]]),
            "#2ca02c", "training time (s)");
  const ep = s.epochs.filter(e => e.train_loss !== null && e.end_ms > 0);
  drawChart(document.getElementById("epoch-loss"), ep.map(e => [e.epoch, e.train_loss]),
            "#1f77b4", "epoch");
  const ev = s.epochs.filter(e => e.evaluated && e.test_accuracy !== null);
  drawChart(document.getElementById("epoch-accuracy"), ev.map(e => [e.epoch, e.test_accuracy]),
            "#d62728", "epoch");
  const auc = s.epochs.filter(e => e.evaluated && e.test_auc !== null);
  document.getElementById("auc-section").hidden = auc.length === 0;
  drawChart(document.getElementById("epoch-auc"), auc.map(e => [e.epoch, e.test_auc]),
            "#9467bd", "epoch");
  drawChart(document.getElementById("epoch-logloss"), auc.map(e => [e.epoch, e.test_loss]),
            "#8c564b", "epoch");
}

async function poll() {
  try {
    const r = await fetch("/status", {cache: "no-store"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    setText("error", "");
  } catch (e) {
    setText("error", "cannot reach the scheduler (" + e.message + "); the job may have ended");
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)HTML";

}  // namespace pst

// The status page served at `/`: one self-contained HTML document (inline CSS, JS and SVG, no CDN,
// no build step) that polls /api/status. Kept in a .ts module so `tsc -b` ships it inside dist/
// without a copy step; String.raw keeps its backslashes, so the script must avoid `${` and backticks.

/** How often the page asks for /api/status, in ms. */
export const STATUS_PAGE_REFRESH_MS = 2000;

export const STATUS_PAGE_HTML = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Write batcher · health</title>
<style>
  :root {
    --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #667085; --line: #e4e7ec;
    --ok: #12805c; --ok-bg: #e3f6ee; --warn: #a15c00; --warn-bg: #fff1d6; --bad: #b42318; --bad-bg: #fde8e7;
    --rows: #3b6fd8; --pending: #d9822b;
  }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; flex-wrap: wrap; gap: 12px 24px; align-items: center; padding: 14px 24px; background: var(--card); border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; font-weight: 600; }
  header .meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: 4px 18px; }
  main { padding: 18px 24px 32px; max-width: 1400px; }
  .pill { display: inline-block; padding: 2px 10px; border-radius: 999px; font-weight: 600; font-size: 12px; letter-spacing: .02em; text-transform: uppercase; }
  .pill.ok { color: var(--ok); background: var(--ok-bg); }
  .pill.warn { color: var(--warn); background: var(--warn-bg); }
  .pill.bad { color: var(--bad); background: var(--bad-bg); }
  .pill.muted { color: var(--muted); background: var(--line); }
  #reasons { margin: 0 0 16px; padding: 10px 14px 10px 30px; background: var(--bad-bg); color: var(--bad); border-radius: 8px; }
  #reasons:empty { display: none; }
  #stale { display: none; margin: 0 0 16px; padding: 10px 14px; background: var(--warn-bg); color: var(--warn); border-radius: 8px; }
  .shards { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 16px; }
  .card h2 { font-size: 16px; margin: 0; display: flex; align-items: center; gap: 10px; }
  .card .ids { color: var(--muted); font-size: 12px; margin: 2px 0 10px; font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
  .card .error { color: var(--bad); font-size: 12px; margin: -4px 0 10px; }
  .card .why { color: var(--warn); font-size: 12px; margin: -4px 0 10px; padding-left: 18px; }
  dl { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 14px; margin: 0 0 12px; }
  dl div { min-width: 0; }
  dt { color: var(--muted); font-size: 12px; }
  dd { margin: 0; font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  dd small { font-size: 12px; font-weight: 400; color: var(--muted); }
  .chart { width: 100%; height: auto; display: block; }
  .chart text { font-size: 11px; fill: var(--muted); }
  .legend { display: flex; gap: 16px; color: var(--muted); font-size: 12px; margin-top: 4px; }
  .legend i { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px; vertical-align: -1px; }
  h3 { font-size: 14px; margin: 24px 0 8px; }
  #events { list-style: none; margin: 0; padding: 0; background: var(--card); border: 1px solid var(--line); border-radius: 10px; max-height: 260px; overflow: auto; }
  #events li { padding: 6px 14px; border-top: 1px solid var(--line); display: flex; gap: 12px; }
  #events li:first-child { border-top: 0; }
  #events time { color: var(--muted); font-variant-numeric: tabular-nums; flex: none; }
  #events .kind { flex: none; width: 110px; }
  #events:empty::after { content: "No events yet."; display: block; padding: 8px 14px; color: var(--muted); }
</style>
</head>
<body>
<header>
  <h1>Write batcher · health</h1>
  <span id="overall" class="pill muted" data-testid="overall">loading</span>
  <div class="meta">
    <span>monitor <b id="ready" data-testid="ready">…</b></span>
    <span>Temporal: <b id="temporal" data-testid="temporal">…</b></span>
    <span>namespace <b id="namespace">…</b></span>
    <span>task queue <b id="taskQueue">…</b></span>
    <span>auto-restart <b id="autoRestart">…</b></span>
    <span>last check <b id="lastPoll" data-testid="last-poll">…</b></span>
    <span>page updated <b id="updated" data-testid="updated">never</b></span>
  </div>
</header>
<main>
  <div id="stale" role="alert"></div>
  <ul id="reasons" data-testid="reasons"></ul>
  <section class="shards" id="shards" data-testid="shards"></section>
  <h3>Recent events</h3>
  <ul id="events" data-testid="events"></ul>
</main>
<script>
"use strict";
(function () {
  var REFRESH_MS = __REFRESH_MS__;
  var STATE_CLASS = { running: "ok", stalled: "warn", nondeterministic: "bad", "no-worker": "bad", starting: "warn", restarting: "warn", "not-running": "bad", unknown: "muted" };
  var lastGood = 0;

  function $(id) { return document.getElementById(id); }
  function esc(v) {
    return String(v).replace(/[&<>"']/g, function (c) { return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]; });
  }
  function num(n) { return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"); }
  function bytes(n) {
    if (n === null || n === undefined) return "–";
    if (n < 1024) return n + " B";
    if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
    return (n / 1048576).toFixed(2) + " MiB";
  }
  function ago(ms, now) {
    if (!ms) return "never";
    var s = Math.max(0, (now - ms) / 1000);
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    return Math.floor(s / 3600) + " h ago";
  }
  function clock(ms) { return new Date(ms).toLocaleTimeString("en-GB"); }
  function field(name, label, value, extra) {
    return '<div><dt>' + esc(label) + '</dt><dd data-field="' + name + '">' + value + (extra ? ' <small>' + extra + '</small>' : '') + '</dd></div>';
  }

  // Bars: rows of each batch at the time it was written; line: pending depth at each check.
  function chart(history, now) {
    var W = 600, H = 150, L = 34, R = 40, T = 10, B = 22;
    var batches = history.batches, pending = history.pending;
    var times = batches.map(function (b) { return b.atMs; }).concat(pending.map(function (p) { return p.atMs; }));
    if (!times.length) return '<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="no data yet"><text x="' + W / 2 + '" y="' + H / 2 + '" text-anchor="middle">No batches yet</text></svg>';
    var t0 = Math.min.apply(null, times), t1 = Math.max(now, t0 + 1000);
    var maxRows = Math.max(1, Math.max.apply(null, batches.map(function (b) { return b.rows; }).concat([0])));
    var maxPending = Math.max(1, Math.max.apply(null, pending.map(function (p) { return p.pending; }).concat([0])));
    var PAD = 10; // keeps the first and last bar clear of the axis labels
    function x(t) { return L + PAD + (t - t0) / (t1 - t0) * (W - L - R - 2 * PAD); }
    function yRows(v) { return H - B - v / maxRows * (H - T - B); }
    function yPending(v) { return H - B - v / maxPending * (H - T - B); }
    var out = ['<svg class="chart" viewBox="0 0 ' + W + ' ' + H + '" role="img" aria-label="batch sizes and pending depth">'];
    out.push('<line x1="' + L + '" y1="' + (H - B) + '" x2="' + (W - R) + '" y2="' + (H - B) + '" stroke="#e4e7ec"/>');
    out.push('<line x1="' + L + '" y1="' + T + '" x2="' + (W - R) + '" y2="' + T + '" stroke="#f0f2f5" stroke-dasharray="3 3"/>');
    out.push('<text x="' + (L - 4) + '" y="' + (T + 4) + '" text-anchor="end">' + maxRows + '</text>');
    out.push('<text x="' + (L - 4) + '" y="' + (H - B + 4) + '" text-anchor="end">0</text>');
    out.push('<text x="' + (W - R + 4) + '" y="' + (T + 4) + '">' + maxPending + '</text>');
    out.push('<text x="' + L + '" y="' + (H - 6) + '">' + esc(clock(t0)) + '</text>');
    out.push('<text x="' + (W - R) + '" y="' + (H - 6) + '" text-anchor="end">' + esc(clock(t1)) + '</text>');
    var bw = Math.max(3, Math.min(14, (W - L - R) / Math.max(batches.length, 1) * 0.6));
    batches.forEach(function (b) {
      var y = yRows(b.rows);
      out.push('<rect x="' + (x(b.atMs) - bw / 2).toFixed(1) + '" y="' + y.toFixed(1) + '" width="' + bw.toFixed(1) + '" height="' + (H - B - y).toFixed(1) + '" rx="1.5" fill="var(--rows)"><title>' + esc(b.batchId) + ': ' + b.rows + ' rows at ' + esc(clock(b.atMs)) + ', ' + b.durationMs + ' ms</title></rect>');
    });
    if (pending.length) {
      var pts = pending.map(function (p) { return x(p.atMs).toFixed(1) + ',' + yPending(p.pending).toFixed(1); }).join(' ');
      out.push('<polyline points="' + pts + '" fill="none" stroke="var(--pending)" stroke-width="2" stroke-linejoin="round"/>');
    }
    out.push('</svg>');
    return out.join('');
  }

  function shardCard(s, now) {
    var st = s.stats;
    var html = ['<article class="card" data-shard="' + s.shard + '" data-state="' + esc(s.state) + '">'];
    html.push('<h2>Shard ' + s.shard + ' <span class="pill ' + (STATE_CLASS[s.state] || "muted") + '" data-field="state">' + esc(s.state) + '</span></h2>');
    html.push('<div class="ids">' + esc(s.workflowId) + (s.runId ? ' · run <span data-field="runId" title="' + esc(s.runId) + '">' + esc(s.runId) + '</span>' : '') + (s.workflowStatus && s.workflowStatus !== "RUNNING" ? ' · ' + esc(s.workflowStatus) : '') + '</div>');
    if (s.state !== "running" && s.stateReasons && s.stateReasons.length) html.push('<ul class="why" data-field="stateReasons">' + s.stateReasons.map(function (r) { return '<li>' + esc(r) + '</li>'; }).join('') + '</ul>');
    if (s.error) html.push('<div class="error">' + esc(s.error) + '</div>');
    html.push('<dl>');
    html.push(field("pending", "Pending", num(st && st.pending), st ? bytes(st.pendingBytes) : ""));
    html.push(field("batchesWritten", "Batches written", num(st && st.batchesWritten)));
    html.push(field("rowsWritten", "Rows written", num(st && st.rowsWritten)));
    html.push(field("signalsTotal", "Signals total", num(st && st.signalsTotal), st ? num(st.signalsThisRun) + " this run" : ""));
    html.push(field("continueAsNewCount", "Continue-as-new", num(st && st.continueAsNewCount), st ? bytes(st.continueAsNewPayloadBytes) + " next" : ""));
    html.push(field("lastFlush", "Last batch", st ? ago(st.lastFlushAtMs, now) : "–", st && st.lastBatch ? st.lastBatch.rows + " rows" : ""));
    html.push(field("duplicates", "Duplicates", num(st && st.duplicates)));
    html.push(field("rejected", "Rejected", num(st && st.rejected)));
    // A first start by the monitor (the shard had not run under its watch) is not a restart.
    html.push(field("starts", "Started by monitor", num(s.starts), s.lastStartAtMs ? ago(s.lastStartAtMs, now) : ""));
    html.push(field("restarts", "Restarts", num(s.restarts), s.lastRestartAtMs ? ago(s.lastRestartAtMs, now) : ""));
    html.push(field("heals", "Heals", num(s.heals), s.healHeld ? esc(s.healHeld) : s.lastHeal ? ago(s.lastHeal.atMs, now) : ""));
    html.push(field("writesInFlight", "Writes in flight", num(st && st.writesInFlight)));
    html.push(field("refused", "Refused", num(st && st.refused)));
    html.push(field("flushPolicy", "Flush policy", st ? esc(st.flushPolicy) : "–", st ? "every " + (st.flushIntervalMs / 1000) + " s" : ""));
    html.push('</dl>');
    html.push(chart(s.history, now));
    html.push('<div class="legend"><span><i style="background:var(--rows)"></i>rows per batch (left)</span><span><i style="background:var(--pending)"></i>pending requests (right)</span></div>');
    html.push('</article>');
    return html.join('');
  }

  function render(status) {
    var now = status.generatedAtMs;
    var overall = $("overall");
    overall.textContent = status.overall;
    overall.className = "pill " + (status.overall === "ok" ? "ok" : "bad");
    $("ready").textContent = status.readiness.ready ? "ready" : "not ready: " + status.readiness.reasons.join("; ");
    var t = status.temporal;
    $("temporal").textContent = t.reachable === null ? "not checked yet" : t.reachable ? "reachable" : "unreachable";
    $("namespace").textContent = status.namespace;
    $("taskQueue").textContent = status.taskQueue;
    $("autoRestart").textContent = status.autoRestart ? "on" : "off";
    $("lastPoll").textContent = status.lastPollAtMs ? ago(status.lastPollAtMs, now) + " (every " + (status.pollIntervalMs / 1000) + " s)" : "pending";
    $("reasons").innerHTML = status.reasons.map(function (r) { return "<li>" + esc(r) + "</li>"; }).join("");
    $("shards").innerHTML = status.shards.map(function (s) { return shardCard(s, now); }).join("");
    $("events").innerHTML = status.events.slice().reverse().map(function (e) {
      return '<li><time>' + esc(clock(e.atMs)) + '</time><span class="kind"><span class="pill ' + ({ up: "ok", started: "ok", restarted: "warn", healed: "warn", stalled: "warn", nondeterministic: "bad", "no-worker": "bad", down: "bad", "start-failed": "bad", "restart-failed": "bad", "heal-failed": "bad", "heal-held": "bad" }[e.kind] || "muted") + '">' + esc(e.kind) + '</span></span><span>shard ' + e.shard + ': ' + esc(e.message) + '</span></li>';
    }).join("");
  }

  function refresh() {
    fetch("api/status", { cache: "no-store" })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (status) {
        render(status);
        lastGood = Date.now();
        $("updated").textContent = clock(lastGood);
        $("stale").style.display = "none";
      })
      .catch(function (err) {
        var s = $("stale");
        s.textContent = "Cannot reach the monitor (" + err.message + "); " + (lastGood ? "showing data from " + clock(lastGood) : "no data yet") + ".";
        s.style.display = "block";
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }
  refresh();
})();
</script>
</body>
</html>
`.replace('__REFRESH_MS__', String(STATUS_PAGE_REFRESH_MS));

/**
 * The status page served at `GET /` of the Nix listener: one self-contained HTML document
 * (inline CSS and script, no external assets, works offline) that renders the node's status
 * snapshot and polls `/status.json` every second. Everything from the snapshot is inserted as
 * text nodes (never as HTML), so store paths and peer addresses cannot inject markup.
 *
 * Elements tests and users may rely on carry `data-field` attributes (`nix-key`, `store-bytes`,
 * `store-paths`, `narinfo-hit`, `substitutions-count`, `updated`).
 */

const CSS = `
:root { --bg:#f6f7f9; --card:#fff; --ink:#1d2330; --muted:#687083; --line:#e3e6ec; --accent:#3056d3;
  --local:#2e9d5b; --peer:#3056d3; --upstream:#c9781c; --bad:#c23b3b; }
@media (prefers-color-scheme: dark) { :root { --bg:#14171d; --card:#1c2029; --ink:#e6e9ef; --muted:#98a0b3;
  --line:#2c3240; --accent:#7b9cff; --peer:#7b9cff; } }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; background:var(--bg); color:var(--ink); }
header { display:flex; align-items:baseline; gap:12px; padding:18px 28px 8px; flex-wrap:wrap; }
header h1 { margin:0; font-size:22px; letter-spacing:-0.01em; }
header .sub { color:var(--muted); }
header .live { margin-left:auto; color:var(--muted); font-size:12px; }
.dot { display:inline-block; width:8px; height:8px; border-radius:50%; background:var(--local); margin-right:6px; vertical-align:middle; }
.dot.stale { background:var(--bad); }
main { padding:8px 28px 28px; display:grid; gap:16px; grid-template-columns:repeat(12,1fr); }
section { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; min-width:0; }
section h2 { margin:0 0 10px; font-size:12px; text-transform:uppercase; letter-spacing:0.06em; color:var(--muted); font-weight:600; }
.w3 { grid-column:span 3; } .w4 { grid-column:span 4; } .w6 { grid-column:span 6; } .w8 { grid-column:span 8; } .w12 { grid-column:span 12; }
@media (max-width:1000px) { .w3,.w4 { grid-column:span 6; } .w6,.w8 { grid-column:span 12; } }
@media (max-width:640px) { .w3,.w4 { grid-column:span 12; } main, header { padding-left:12px; padding-right:12px; } }
.big { font-size:26px; font-weight:600; letter-spacing:-0.01em; }
.muted { color:var(--muted); }
.small { font-size:12px; }
.mono { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; word-break:break-all; }
table { width:100%; border-collapse:collapse; }
th, td { text-align:left; padding:5px 8px 5px 0; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:11px; text-transform:uppercase; letter-spacing:0.05em; color:var(--muted); font-weight:600; }
td.num, th.num { text-align:right; white-space:nowrap; }
tr:last-child td { border-bottom:none; }
.empty { color:var(--muted); font-style:italic; padding:6px 0; }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:4px 14px; }
.kv dt { color:var(--muted); } .kv dd { margin:0; min-width:0; }
.key { display:flex; gap:8px; align-items:flex-start; margin-bottom:8px; }
.key code { flex:1; background:var(--bg); border:1px solid var(--line); border-radius:6px; padding:6px 8px; white-space:pre-wrap; }
button { font:inherit; font-size:12px; border:1px solid var(--line); background:var(--card); color:var(--ink); border-radius:6px; padding:5px 10px; cursor:pointer; }
button:hover { border-color:var(--accent); color:var(--accent); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:11px; font-weight:600; color:#fff; }
.badge.local { background:var(--local); } .badge.peer { background:var(--peer); } .badge.upstream { background:var(--upstream); }
.badge.closed { background:var(--local); } .badge.open { background:var(--bad); } .badge.half-open { background:var(--upstream); } .badge.unknown { background:var(--muted); }
.bar { display:flex; height:10px; border-radius:5px; overflow:hidden; background:var(--line); margin:8px 0 6px; }
.bar span { display:block; height:100%; }
.legend { display:flex; flex-direction:column; gap:2px; font-size:12px; color:var(--muted); }
.legend i { display:inline-block; width:9px; height:9px; border-radius:2px; margin-right:4px; vertical-align:middle; }
progress { width:100%; height:10px; accent-color:var(--accent); }
`

const SCRIPT = `
'use strict';
var $ = function (sel) { return document.querySelector(sel); };
function h (tag, attrs) {
  var el = document.createElement(tag);
  if (attrs) for (var k in attrs) { if (k === 'text') el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]); }
  for (var i = 2; i < arguments.length; i++) { var c = arguments[i]; if (c == null) continue; el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); }
  return el;
}
function bytes (n) {
  if (n == null) return '–';
  var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB']; var i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : 1)) + ' ' + u[i];
}
function pct (x) { return x == null ? '–' : (x * 100).toFixed(1) + ' %'; }
function dur (ms) {
  var s = Math.floor(ms / 1000); var d = Math.floor(s / 86400); s -= d * 86400;
  var hh = Math.floor(s / 3600); s -= hh * 3600; var m = Math.floor(s / 60); s -= m * 60;
  return (d ? d + 'd ' : '') + (d || hh ? hh + 'h ' : '') + (d || hh || m ? m + 'm ' : '') + s + 's';
}
function ago (at, now) { var s = Math.max(0, Math.round((now - at) / 1000)); return s < 60 ? s + ' s ago' : s < 3600 ? Math.round(s / 60) + ' min ago' : new Date(at).toLocaleTimeString(); }
function short (id) { return id && id.length > 20 ? id.slice(0, 10) + '…' + id.slice(-6) : id; }
function set (field, text) { var el = document.querySelector('[data-field="' + field + '"]'); if (el) el.textContent = text; }
function fill (id, node) { var el = document.getElementById(id); el.replaceChildren(node); }
function table (head, rows, empty) {
  if (rows.length === 0) return h('div', { class: 'empty', text: empty });
  var t = h('table'); var tr = h('tr');
  head.forEach(function (c) { tr.appendChild(h('th', c.num ? { class: 'num', text: c.t } : { text: c.t })); });
  t.appendChild(h('thead', null, tr)); var tb = h('tbody'); t.appendChild(tb);
  rows.forEach(function (r) { var row = h('tr'); r.forEach(function (c, i) {
    var td = h('td', head[i].num ? { class: 'num' } : null); if (typeof c === 'string') td.textContent = c; else td.appendChild(c); row.appendChild(td); }); tb.appendChild(row); });
  return t;
}
function copyButton (getText) {
  var b = h('button', { type: 'button', text: 'Copy' });
  b.addEventListener('click', function () {
    var text = getText(); var done = function () { b.textContent = 'Copied'; setTimeout(function () { b.textContent = 'Copy'; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(done, function () {});
    else { var ta = h('textarea'); ta.value = text; document.body.appendChild(ta); ta.select(); try { document.execCommand('copy'); done(); } catch (e) {} ta.remove(); }
  });
  return b;
}
function keyBlock (label, text, field, shown) {
  return h('div', null, h('div', { class: 'small muted', text: label }),
    h('div', { class: 'key' }, h('code', { class: 'mono', 'data-field': field, text: shown || text }), copyButton(function () { return text; })));
}
var keysShown = '';
function render (s) {
  var now = s.now;
  set('version', 'v' + s.version);
  set('uptime', 'up ' + dur(s.uptimeMs));
  // store
  set('store-bytes', bytes(s.store.bytes));
  set('store-paths', s.store.paths == null ? '–' : s.store.paths + (s.store.paths === 1 ? ' path' : ' paths'));
  var extra = [s.store.basis === 'gc' ? 'on disk' : s.store.basis === 'nar-size' ? 'sum of NAR sizes' : ''];
  if (s.store.pinned != null) extra.push(s.store.pinned + ' pinned');
  if (s.store.maxBytes != null) extra.push('limit ' + bytes(s.store.maxBytes));
  if (s.gc && s.gc.lastRun) extra.push('last GC freed ' + bytes(s.gc.lastRun.freedBytes) + ' ' + ago(s.gc.lastRun.at, now));
  set('store-extra', extra.filter(Boolean).join(' · '));
  var sb = $('#store-bar');
  sb.hidden = s.store.maxBytes == null;
  if (s.store.maxBytes != null) { sb.max = s.store.maxBytes; sb.value = Math.min(s.store.bytes || 0, s.store.maxBytes); }
  // hit ratio
  var c = s.counts;
  set('narinfo-hit', pct(s.ratios.narinfoHit));
  set('narinfo-detail', c.narinfoHits + ' hits · ' + c.narinfoMisses + ' misses');
  var subs = c.substitutions.local + c.substitutions.peer + c.substitutions.upstream;
  set('substitutions-count', String(subs));
  set('substitutions-detail', c.substitutions.local + ' local · ' + c.substitutions.peer + ' peer · ' + c.substitutions.upstream + ' upstream');
  // bytes by source
  var bar = $('#source-bar'); bar.replaceChildren();
  var share = s.ratios.bytesBySource;
  ['local', 'peer', 'upstream'].forEach(function (k) {
    if (share && share[k] > 0) bar.appendChild(h('span', { style: 'width:' + (share[k] * 100) + '%;background:var(--' + k + ')', title: k + ' ' + pct(share[k]) }));
    set('share-' + k, k + ' ' + (share ? pct(share[k]) : '–') + ' (' + bytes(c.bytesBySource[k]) + ')');
  });
  // traffic
  set('traffic-http', c.httpRequests + ' requests · ' + bytes(c.httpBytes));
  set('traffic-daemon', c.daemonOps + ' ops · ' + bytes(c.daemonBytes));
  set('traffic-peers', bytes(c.peerBytesServed));
  set('verification', String(c.verificationFailures));
  // identity
  var id = s.identity; var kv = h('dl', { class: 'kv' });
  var row = function (k, v) { kv.appendChild(h('dt', { text: k })); kv.appendChild(h('dd', { class: 'mono', text: v })); };
  if (id.http.nix) row('Nix cache', id.http.nix);
  if (id.http.guix) row('Guix cache', id.http.guix);
  if (id.daemonSocket) row('Daemon socket', 'unix://' + id.daemonSocket);
  if (id.guixDaemonSocket) row('Guix daemon', id.guixDaemonSocket);
  row('Peer id', id.peerId || 'peer-to-peer off');
  id.listenAddrs.forEach(function (a, i) { row(i === 0 ? 'Listening' : '', a); });
  row('Data', id.dataDir);
  fill('identity', kv);
  var k = JSON.stringify(s.keys);
  if (k !== keysShown) {
    keysShown = k; var box = h('div');
    if (s.keys.nix) box.appendChild(keyBlock('Nix (nix.conf)', s.keys.nix, 'nix-key'));
    if (s.keys.guix) box.appendChild(keyBlock('Guix (guix archive --authorize)', s.keys.guix, 'guix-key', s.keys.guix.replace(/\\s+/g, ' ').replace(/\\( /g, '(').replace(/ \\)/g, ')').trim()));
    if (!s.keys.nix && !s.keys.guix) box.appendChild(h('div', { class: 'empty', text: 'this node does not sign' }));
    fill('keys', box);
  }
  // peers
  fill('peers', table([{ t: 'Peer' }, { t: 'Address' }, { t: 'Speed', num: 1 }, { t: 'From', num: 1 }, { t: 'To', num: 1 }],
    s.peers.map(function (p) { return [h('span', { class: 'mono', title: p.id, text: short(p.id) }), h('span', { class: 'mono', text: p.addrs.join(' ') }),
      p.speed == null ? '–' : bytes(p.speed) + '/s', bytes(p.bytesFrom), bytes(p.bytesTo)]; }), 'no peers connected'));
  set('peer-count', String(s.peers.length));
  // transfers
  fill('transfers', table([{ t: 'Path' }, { t: 'Source' }, { t: 'Progress' }, { t: 'Done', num: 1 }, { t: 'Rate', num: 1 }],
    s.transfers.map(function (t) {
      var p = h('progress'); if (t.total) { p.max = t.total; p.value = Math.min(t.bytes, t.total); }
      return [h('span', { class: 'mono', text: t.target }), h('span', { class: 'badge ' + t.source, text: t.source }), p,
        bytes(t.bytes) + (t.total ? ' / ' + bytes(t.total) : ''), bytes(t.rate) + '/s'];
    }), 'nothing in flight'));
  // upstreams
  fill('upstreams', table([{ t: 'Upstream' }, { t: 'State' }, { t: 'Requests', num: 1 }, { t: 'Hits', num: 1 }, { t: 'Misses', num: 1 }, { t: 'Failures', num: 1 }, { t: 'Fetched', num: 1 }],
    s.upstreams.map(function (u) { return [h('span', { class: 'mono', title: u.lastError || '', text: u.url }), h('span', { class: 'badge ' + u.state, text: u.state }),
      String(u.requests), String(u.hits), String(u.misses), String(u.failures + u.timeouts), bytes(u.bytesFetched)]; }), 'no upstream caches configured'));
  // recent substitutions
  fill('recent', table([{ t: 'When' }, { t: 'Store path' }, { t: 'Source' }, { t: 'Size', num: 1 }, { t: 'Time', num: 1 }],
    s.substitutions.map(function (r) { return [ago(r.at, now), h('span', { class: 'mono', text: r.storePath }), h('span', { class: 'badge ' + r.source, text: r.source }),
      bytes(r.bytes), r.ms == null ? '–' : r.ms + ' ms']; }), 'no substitutions yet'));
}
var failures = 0;
function poll () {
  fetch('status.json', { cache: 'no-store' }).then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.json(); }).then(function (s) {
    failures = 0; render(s); $('#dot').className = 'dot';
    set('updated', 'live · updated ' + new Date(s.now).toLocaleTimeString());
  }).catch(function (e) {
    failures++; $('#dot').className = 'dot stale'; set('updated', 'node unreachable (' + e.message + ')');
  }).finally(function () { setTimeout(poll, 1000); });
}
poll();
`

export const STATUS_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>storeswarm status</title>
<style>${CSS}</style>
</head>
<body>
<header>
  <h1>storeswarm</h1>
  <span class="sub"><span data-field="version"></span> · <span data-field="uptime"></span></span>
  <span class="live"><span id="dot" class="dot"></span><span data-field="updated">loading…</span></span>
</header>
<main>
  <section class="w3"><h2>Store</h2>
    <div class="big" data-field="store-bytes">–</div>
    <div data-field="store-paths" class="muted">–</div>
    <progress id="store-bar" hidden></progress>
    <div data-field="store-extra" class="small muted"></div>
  </section>
  <section class="w3"><h2>narinfo hit ratio</h2>
    <div class="big" data-field="narinfo-hit">–</div>
    <div data-field="narinfo-detail" class="muted"></div>
  </section>
  <section class="w3"><h2>Substitutions</h2>
    <div class="big" data-field="substitutions-count">0</div>
    <div data-field="substitutions-detail" class="muted"></div>
  </section>
  <section class="w3"><h2>Bytes by source</h2>
    <div class="bar" id="source-bar"></div>
    <div class="legend">
      <span><i style="background:var(--local)"></i><span data-field="share-local">local</span></span>
      <span><i style="background:var(--peer)"></i><span data-field="share-peer">peer</span></span>
      <span><i style="background:var(--upstream)"></i><span data-field="share-upstream">upstream</span></span>
    </div>
  </section>
  <section class="w6"><h2>Node</h2><div id="identity"></div>
    <h2 style="margin-top:16px">Served</h2>
    <dl class="kv">
      <dt>HTTP</dt><dd data-field="traffic-http">–</dd>
      <dt>Daemon</dt><dd data-field="traffic-daemon">–</dd>
      <dt>To peers</dt><dd data-field="traffic-peers">–</dd>
      <dt>Refused by verification</dt><dd data-field="verification">0</dd>
    </dl>
  </section>
  <section class="w6"><h2>Keys to trust</h2><div id="keys"></div></section>
  <section class="w6"><h2>Peers (<span data-field="peer-count">0</span>)</h2><div id="peers"></div></section>
  <section class="w6"><h2>Transfers in progress</h2><div id="transfers"></div></section>
  <section class="w12"><h2>Upstream caches</h2><div id="upstreams"></div></section>
  <section class="w12"><h2>Recent substitutions</h2><div id="recent"></div></section>
</main>
<script>${SCRIPT}</script>
</body>
</html>
`

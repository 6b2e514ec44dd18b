/**
 * The browser page the server offers at `/` on its TCP port: it pings the
 * server from the browser's own WebTransport (HTTP/3, certificate hash
 * filled in) and shows live RTT, loss and a chart of the last minute.
 *
 * One self-contained HTML document: no framework, no build step, no CDN.
 * PINGs travel as datagrams, one message each (docs/protocol.md), so the
 * page needs no stream framing and loss reads like ping(8)'s.
 *
 * @module
 */
import type { HttpHandler } from "./transport_h2.ts";

/** Options of {@linkcode webPageHandler}. */
export interface WebPageOptions {
  /** The path WebTransport sessions are served on. */
  path: string;
  /** The SHA-256 of the certificate presented now (it changes on renewal). */
  certHash: () => string;
}

/**
 * Answers `GET /` with the page and anything else with 404.
 *
 * @example
 * ```ts
 * import { webPageHandler } from "./web_page.ts";
 * const handler = webPageHandler({ path: "/pingpong", certHash: () => "ab".repeat(32) });
 * const response = await handler(new Request("https://localhost:4433/"));
 * console.log(response.status); // 200
 * ```
 */
export function webPageHandler(options: WebPageOptions): HttpHandler {
  return (request) => {
    const { pathname } = new URL(request.url);
    if (pathname !== "/" && pathname !== "/index.html") {
      return new Response("not found\n", {
        status: 404,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    return new Response(renderPage(options.path, options.certHash()), {
      headers: {
        "content-type": "text/html; charset=utf-8",
        "cache-control": "no-store",
        "content-security-policy":
          "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src https:",
      },
    });
  };
}

/**
 * The page's HTML for sessions on `path` pinned to `certHash`.
 *
 * @example
 * ```ts
 * import { renderPage } from "./web_page.ts";
 * console.log(renderPage("/pingpong", "ab".repeat(32)).startsWith("<!doctype html>")); // true
 * ```
 */
export function renderPage(path: string, certHash: string): string {
  // JSON inside <script>: escape "<" so no value can close the element.
  const config = JSON.stringify({ path, certHash }).replaceAll("<", "\\u003c");
  return _PAGE.replace("__CONFIG__", config);
}

const _PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pingpong</title>
<style>
  body { font: 15px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  #status { margin: .3rem 0 1rem; color: #555; }
  #status.error { color: #b00020; font-weight: 600; }
  #figures { display: grid; grid-template-columns: repeat(5, 1fr); gap: .5rem; margin-bottom: 1rem; }
  .figure { background: #f3f4f6; border-radius: 6px; padding: .5rem .7rem; }
  .figure b { display: block; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
  .figure span { font-size: .8rem; color: #666; }
  canvas { width: 100%; height: 220px; background: #fff; border: 1px solid #ddd; border-radius: 6px; }
  footer { font-size: .8rem; color: #777; margin-top: .5rem; }
  code { font-size: .8rem; word-break: break-all; }
</style>
</head>
<body>
<h1>pingpong</h1>
<div id="status">starting…</div>
<div id="figures">
  <div class="figure"><b id="rtt">–</b><span>last RTT (ms)</span></div>
  <div class="figure"><b id="avg">–</b><span>avg RTT (ms)</span></div>
  <div class="figure"><b id="sent">0</b><span>sent</span></div>
  <div class="figure"><b id="received">0</b><span>received</span></div>
  <div class="figure"><b id="loss">0%</b><span>loss</span></div>
</div>
<canvas id="chart" width="920" height="220" aria-label="RTT over the last minute"></canvas>
<footer>RTT of each ping over the last minute; red marks are lost pings.
Pinned certificate <code id="hash"></code></footer>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const params = new URLSearchParams(location.search);
const intervalMs = Math.max(10, Number(params.get("interval")) || 1000);
const timeoutMs = 2000;
const windowMs = 60000;
const size = 64;
// Shared with tests and the curious: what the page has seen so far.
const state = window.pingpong = { status: "starting", sent: 0, received: 0, lost: 0, points: [] };
const $ = (id) => document.getElementById(id);
$("hash").textContent = config.certHash;

function setStatus(text, status, isError) {
  state.status = status;
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// A PING: version 1, type 1, flags 0, seq (u64), timestamp (f64), padding.
function encodePing(seq) {
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  bytes[0] = 1; bytes[1] = 1; bytes[2] = 0;
  view.setBigUint64(3, BigInt(seq));
  view.setFloat64(11, Date.now());
  return bytes;
}

function decodePong(bytes) {
  if (bytes.length < 19 || bytes[0] !== 1 || bytes[1] !== 2) return undefined;
  return Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(3));
}

function render() {
  const done = state.received + state.lost;
  $("sent").textContent = state.sent;
  $("received").textContent = state.received;
  $("loss").textContent = done ? (100 * state.lost / done).toFixed(1) + "%" : "0%";
  const rtts = state.points.filter((p) => p.rtt !== undefined).map((p) => p.rtt);
  if (rtts.length) {
    $("rtt").textContent = rtts[rtts.length - 1].toFixed(2);
    $("avg").textContent = (rtts.reduce((a, b) => a + b, 0) / rtts.length).toFixed(2);
  }
  drawChart();
}

function drawChart() {
  const canvas = $("chart");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 34;
  ctx.clearRect(0, 0, w, h);
  const now = performance.now();
  const points = state.points.filter((p) => now - p.at <= windowMs);
  const max = Math.max(1, ...points.filter((p) => p.rtt !== undefined).map((p) => p.rtt)) * 1.15;
  ctx.strokeStyle = "#e5e7eb"; ctx.fillStyle = "#888"; ctx.font = "11px system-ui";
  for (let i = 0; i <= 4; i++) {
    const y = h - pad + (-(h - 2 * pad) * i) / 4;
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(w - 8, y); ctx.stroke();
    ctx.fillText(((max * i) / 4).toFixed(max < 4 ? 2 : 1), 2, y + 4);
  }
  ctx.fillText("-60 s", pad, h - 12); ctx.fillText("now", w - 30, h - 12);
  const x = (at) => pad + ((w - 8 - pad) * (windowMs - (now - at))) / windowMs;
  const y = (rtt) => h - pad - ((h - 2 * pad) * rtt) / max;
  ctx.strokeStyle = "#2563eb"; ctx.lineWidth = 1.5; ctx.beginPath();
  let open = false;
  for (const p of points) {
    if (p.rtt === undefined) { open = false; continue; }
    if (open) ctx.lineTo(x(p.at), y(p.rtt)); else ctx.moveTo(x(p.at), y(p.rtt));
    open = true;
  }
  ctx.stroke();
  ctx.fillStyle = "#dc2626";
  for (const p of points) if (p.lost) ctx.fillRect(x(p.at) - 1, h - pad - 8, 2, 8);
}

async function run() {
  if (typeof WebTransport === "undefined") {
    setStatus("This browser lacks WebTransport, so it cannot ping from here. " +
      "Use a recent Chrome, Edge or Firefox, or the pingpong-client command.", "unsupported", true);
    return;
  }
  const url = "https://" + location.host + config.path;
  setStatus("connecting to " + url + "…", "connecting");
  const started = performance.now();
  let transport;
  try {
    transport = new WebTransport(url, {
      serverCertificateHashes: [{ algorithm: "sha-256", value: hexToBytes(config.certHash) }],
    });
    await transport.ready;
  } catch (error) {
    setStatus("cannot connect to " + url + ": " + (error && error.message || error), "failed", true);
    return;
  }
  const protocol = transport.reliability === "reliable-only" ? "HTTP/2" : "HTTP/3";
  state.transport = protocol;
  setStatus("connected to " + url + " over " + protocol + " in " +
    (performance.now() - started).toFixed(1) + " ms; a ping every " + intervalMs + " ms", "connected");
  transport.closed.then(
    (info) => setStatus("session closed" + (info && info.reason ? ": " + info.reason : ""), "closed", true),
    (error) => setStatus("session lost: " + (error && error.message || error), "closed", true),
  );
  const pending = new Map();
  const reader = transport.datagrams.readable.getReader();
  (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const seq = decodePong(value);
      const point = pending.get(seq);
      if (!point) continue;
      pending.delete(seq);
      clearTimeout(point.timer);
      point.rtt = performance.now() - point.at;
      state.received++;
      render();
    }
  })().catch(() => {});
  const writer = transport.datagrams.createWritable
    ? transport.datagrams.createWritable().getWriter()
    : transport.datagrams.writable.getWriter();
  let seq = 0;
  const tick = () => {
    if (state.status !== "connected") return;
    const point = { seq: ++seq, at: performance.now(), rtt: undefined, lost: false };
    point.timer = setTimeout(() => {
      pending.delete(point.seq);
      point.lost = true;
      state.lost++;
      render();
    }, timeoutMs);
    pending.set(point.seq, point);
    state.points.push(point);
    while (state.points.length && performance.now() - state.points[0].at > windowMs + timeoutMs) state.points.shift();
    state.sent++;
    writer.write(encodePing(point.seq)).catch(() => {});
    render();
  };
  tick();
  setInterval(tick, intervalMs);
}

run();
</script>
</body>
</html>
`;

/**
 * `deno task bench`: measures pingpong against its floor (raw UDP), the
 * runtime's own WebTransport (a bare echo) and the alternatives (WebSocket),
 * side by side in one run, every figure between two processes on loopback.
 *
 * Prints markdown tables on stdout and writes `results.json`, `results.md`,
 * `chart.svg` and `chart.png` into `--out` (default bench/results).
 *
 * Flags: `--rounds N` (5), `--quick` (a smoke run in about a minute),
 * `--only rtt,throughput,handshake,scale,cli`, `--out DIR`,
 * `--scale-max N` (10000), `--scale-budget-ms MS` (60000).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { generateCertificate } from "../lib/certificates.ts";
import { renderChart, svgToPng } from "./chart.ts";
import {
  cpuMs,
  type LineProcess,
  rootPath,
  rssBytes,
  RUN_FLAGS,
  spawnLines,
} from "./_process.ts";
import {
  fmt,
  markdownTable,
  median,
  type Percentiles,
  summarize,
} from "./_summary.ts";

const { values: flags } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    rounds: { type: "string" },
    quick: { type: "boolean", default: false },
    only: { type: "string", default: "rtt,throughput,handshake,scale,cli" },
    out: { type: "string", default: rootPath("bench/results") },
    "scale-max": { type: "string" },
    "scale-budget-ms": { type: "string", default: "60000" },
  },
});
const quick = flags.quick;
const rounds = Number(flags.rounds ?? (quick ? 2 : 5));
const sections = new Set(flags.only.split(","));
const config = {
  rounds,
  rttCount: quick ? 300 : 1000,
  rttWarmup: quick ? 100 : 200,
  throughputSessions: quick ? [1, 16] : [1, 16, 64, 256],
  throughputRounds: Math.min(rounds, 3),
  throughputMs: quick ? 1000 : 2000,
  throughputWarmupMs: quick ? 300 : 1000,
  handshakeWarm: quick ? 10 : 30,
  handshakeConcurrency: 16,
  handshakeMs: quick ? 1000 : 2000,
  scaleMax: Number(flags["scale-max"] ?? (quick ? 400 : 10_000)),
  scaleBudgetMs: Number(flags["scale-budget-ms"]),
  scaleProcesses: 4,
  pingBytes: 64,
};

function log(line: string): void {
  console.error(`[bench] ${line}`);
}

// ----------------------------------------------------------- servers

interface Server {
  proc: LineProcess;
  url: string;
  port: number;
  certHash: string;
}

const tmp = Deno.makeTempDirSync({ prefix: "pingpong-bench-" });
const bareCert = await generateCertificate();
Deno.writeTextFileSync(`${tmp}/cert.pem`, bareCert.certPem);
Deno.writeTextFileSync(`${tmp}/key.pem`, bareCert.keyPem);

async function startProduct(): Promise<Server> {
  // The bench measures capacity: lift the production limits (sessions, idle
  // timeout, ping rate) that would otherwise cut its load off.
  const proc = spawnLines("server.ts", [
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--max-sessions",
    "0",
    "--idle-timeout",
    "0",
    "--max-ping-rate",
    "0",
  ]);
  const { line } = await proc.waitFor(/^listening on /);
  const hash = (await proc.waitFor(/^cert-hash sha-256 /)).line.split(" ")[2];
  const url = line.slice("listening on ".length);
  return { proc, url, port: Number(new URL(url).port), certHash: hash };
}

async function startEcho(
  kind: "udp" | "ws" | "wt",
  stdin = false,
): Promise<Server> {
  const proc = spawnLines(
    `bench/servers/${kind}_echo.ts`,
    kind === "wt" ? [`${tmp}/cert.pem`, `${tmp}/key.pem`] : [],
    { stdin },
  );
  const port = Number((await proc.waitFor(/^listening /)).line.split(" ")[1]);
  return {
    proc,
    port,
    url: `https://127.0.0.1:${port}/echo`,
    certHash: bareCert.hash,
  };
}

/** Runs bench/driver.ts to completion and returns its JSON event lines. */
async function drive(
  args: string[],
  onLine?: (event: Record<string, unknown>) => void,
  timeoutMs = 120_000,
): Promise<Record<string, unknown>[]> {
  const proc = spawnLines("bench/driver.ts", args);
  const events: Record<string, unknown>[] = [];
  let seen = 0;
  const timer = setTimeout(() => proc.stop(), timeoutMs);
  try {
    for (;;) {
      let next;
      try {
        next = await proc.waitFor(/^\{/, timeoutMs, seen);
      } catch {
        break; // output ended (or the bound passed): the events so far count
      }
      seen = next.index + 1;
      const event = JSON.parse(next.line);
      events.push(event);
      onLine?.({ ...event, pid: proc.pid });
    }
  } finally {
    clearTimeout(timer);
    await proc.stop();
  }
  if (events.length === 0) {
    throw new Error(`driver ${args.join(" ")} reported nothing`);
  }
  return events;
}

// --------------------------------------------------------------- RTT

interface RttTarget {
  id: string;
  label: string;
  how: string;
  args?: (s: Servers) => string[];
  note?: string;
}

interface RttRow extends Percentiles {
  id: string;
  label: string;
  how: string;
  available: boolean;
  note?: string;
  roundP50s: number[];
}

type Servers = Record<"udp" | "ws" | "wt" | "product", Server>;

const wtArgs = (server: Server) => [
  "--url",
  server.url,
  "--cert-hash",
  server.certHash,
];

/** The HTTP/2 fallback: the same server.ts, over TCP on the same port. */
const H2_TARGET: RttTarget = {
  id: "h2-stream",
  label: "pingpong HTTP/2 fallback, stream",
  how: "server.ts + runPings over --transport h2",
  args: (s) => wtArgs(s.product),
};

const RTT_TARGETS: RttTarget[] = [
  {
    id: "udp",
    label: "raw UDP echo (floor)",
    how: "Deno.listenDatagram both sides",
    args: (s) => ["--port", String(s.udp.port)],
  },
  {
    id: "wt-stream",
    label: "bare WebTransport echo, stream",
    how: "no product code either side",
    args: (s) => wtArgs(s.wt),
  },
  {
    id: "wt-datagram",
    label: "bare WebTransport echo, datagram",
    how: "no product code either side",
    args: (s) => wtArgs(s.wt),
  },
  {
    id: "product-stream",
    label: "pingpong, stream",
    how: "server.ts + lib/pinger.ts runPings",
    args: (s) => wtArgs(s.product),
  },
  {
    id: "product-datagram",
    label: "pingpong, datagram",
    how: "server.ts + lib/pinger.ts runPings",
    args: (s) => wtArgs(s.product),
  },
  {
    id: "product-stream-per-ping",
    label: "pingpong, stream-per-ping",
    how: "server.ts + lib/pinger.ts runPings",
    args: (s) => wtArgs(s.product),
  },
  H2_TARGET,
  {
    id: "ws",
    label: "WebSocket ping-pong",
    how: "Deno.serve + WebSocket",
    args: (s) => ["--port", String(s.ws.port)],
  },
];

async function benchRtt(servers: Servers): Promise<RttRow[]> {
  const runnable = RTT_TARGETS.filter((t) => t.args);
  const samples = new Map<string, number[]>();
  const roundP50s = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    // Rotate the order so no target always runs first or last.
    const order = runnable.map((_, i) =>
      runnable[(i + round) % runnable.length]
    );
    for (const target of order) {
      const [event] = await drive([
        "--scenario",
        "rtt",
        "--target",
        target.id,
        "--count",
        String(config.rttCount),
        "--warmup",
        String(config.rttWarmup),
        ...target.args!(servers),
      ]);
      const got = event.samples as number[];
      samples.set(target.id, [...(samples.get(target.id) ?? []), ...got]);
      roundP50s.set(target.id, [
        ...(roundP50s.get(target.id) ?? []),
        summarize(got).p50,
      ]);
    }
    log(`rtt round ${round + 1}/${rounds} done`);
  }
  return RTT_TARGETS.map((target) => ({
    id: target.id,
    label: target.label,
    how: target.how,
    available: target.args !== undefined,
    note: target.note,
    ...summarize(samples.get(target.id) ?? []),
    roundP50s: roundP50s.get(target.id) ?? [],
  }));
}

/** Median over rounds of product p50 / bare p50 measured in the same round. */
function rttRatio(rows: RttRow[], product: string, bare: string): number {
  const p = rows.find((r) => r.id === product)!.roundP50s;
  const b = rows.find((r) => r.id === bare)!.roundP50s;
  return median(p.map((value, i) => value / b[i]));
}

// -------------------------------------------------------- throughput

interface ThroughputRound {
  pongsPerSec: number;
  serverCpuUsPerPong: number;
  serverCpuPercent: number;
  clientCpuPercent: number;
}

interface ThroughputRow {
  server: "product" | "bare";
  sessions: number;
  pongsPerSec: number;
  serverCpuUsPerPong: number;
  serverCpuPercent: number;
  clientCpuPercent: number;
  latency: Percentiles;
  rounds: ThroughputRound[];
}

async function benchThroughput(servers: Servers): Promise<ThroughputRow[]> {
  const rows: ThroughputRow[] = [];
  for (const sessions of config.throughputSessions) {
    const perServer = {
      product: [] as ThroughputRound[],
      bare: [] as ThroughputRound[],
    };
    const latencies = { product: [] as number[], bare: [] as number[] };
    for (let round = 0; round < config.throughputRounds; round++) {
      const order: ("product" | "bare")[] = round % 2 === 0
        ? ["product", "bare"]
        : ["bare", "product"];
      for (const which of order) {
        const server = which === "product" ? servers.product : servers.wt;
        let start: { server: number; client: number; at: number } | undefined;
        let result: ThroughputRound | undefined;
        await drive([
          "--scenario",
          "throughput",
          "--sessions",
          String(sessions),
          "--duration-ms",
          String(config.throughputMs),
          "--warmup-ms",
          String(config.throughputWarmupMs),
          ...wtArgs(server),
        ], (event) => {
          const pid = event.pid as number;
          if (event.event === "start") {
            start = {
              server: cpuMs(server.proc.pid),
              client: cpuMs(pid),
              at: performance.now(),
            };
          } else if (event.event === "end" && start) {
            const serverMs = cpuMs(server.proc.pid) - start.server;
            const clientMs = cpuMs(pid) - start.client;
            const wall = performance.now() - start.at;
            const pongs = event.pongs as number;
            result = {
              pongsPerSec: pongs / ((event.elapsedMs as number) / 1000),
              serverCpuUsPerPong: serverMs * 1000 / pongs,
              serverCpuPercent: 100 * serverMs / wall,
              clientCpuPercent: 100 * clientMs / wall,
            };
            latencies[which].push(...(event.latencies as number[]));
          }
        });
        if (!result) throw new Error(`throughput ${which} x${sessions} failed`);
        perServer[which].push(result);
      }
    }
    for (const which of ["product", "bare"] as const) {
      const list = perServer[which];
      rows.push({
        server: which,
        sessions,
        pongsPerSec: median(list.map((r) => r.pongsPerSec)),
        serverCpuUsPerPong: median(list.map((r) => r.serverCpuUsPerPong)),
        serverCpuPercent: median(list.map((r) => r.serverCpuPercent)),
        clientCpuPercent: median(list.map((r) => r.clientCpuPercent)),
        latency: summarize(latencies[which]),
        rounds: list,
      });
    }
    log(`throughput with ${sessions} session(s) done`);
  }
  return rows;
}

// --------------------------------------------------------- handshake

interface HandshakeRow {
  server: "product" | "bare";
  cold: Percentiles;
  warm: Percentiles;
  sessionsPerSec: number;
  sessionsPerSecRounds: number[];
  failed: number;
}

async function benchHandshake(servers: Servers): Promise<HandshakeRow[]> {
  const acc = {
    product: {
      cold: [] as number[],
      warm: [] as number[],
      rate: [] as number[],
      failed: 0,
    },
    bare: {
      cold: [] as number[],
      warm: [] as number[],
      rate: [] as number[],
      failed: 0,
    },
  };
  for (let round = 0; round < rounds; round++) {
    for (const which of ["product", "bare"] as const) {
      const server = which === "product" ? servers.product : servers.wt;
      const [event] = await drive([
        "--scenario",
        "handshake",
        "--target",
        which,
        "--count",
        String(config.handshakeWarm),
        "--concurrency",
        String(config.handshakeConcurrency),
        "--duration-ms",
        String(config.handshakeMs),
        ...wtArgs(server),
      ]);
      acc[which].cold.push(event.coldMs as number);
      acc[which].warm.push(...(event.warmMs as number[]));
      acc[which].rate.push(
        (event.accepted as number) / ((event.elapsedMs as number) / 1000),
      );
      acc[which].failed += event.failed as number;
    }
    log(`handshake round ${round + 1}/${rounds} done`);
  }
  return (["product", "bare"] as const).map((which) => ({
    server: which,
    cold: summarize(acc[which].cold),
    warm: summarize(acc[which].warm),
    sessionsPerSec: median(acc[which].rate),
    sessionsPerSecRounds: acc[which].rate,
    failed: acc[which].failed,
  }));
}

// ------------------------------------------------------------- scale

interface ScaleRow {
  server: "product" | "bare";
  target: number;
  held: number;
  heldAfterIdle: number;
  failed: number;
  dropped: number;
  openSeconds: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  bytesPerSession: number;
  /** JS heap (used + external) per session after a full GC; bare echo only. */
  heapBytesPerSession: number;
  note: string;
}

/** JS heap used + external of the bare echo, after a full GC in it. */
async function heapOf(server: Server): Promise<number> {
  const from = server.proc.lines.length;
  await server.proc.send("memory");
  const { line } = await server.proc.waitFor(/^memory /, 30_000, from);
  const usage = JSON.parse(line.slice("memory ".length));
  return usage.heapUsed + usage.external;
}

async function benchScale(): Promise<ScaleRow[]> {
  const rows: ScaleRow[] = [];
  for (const which of ["product", "bare"] as const) {
    // A fresh server, so its memory before holds nothing from other figures.
    const server = which === "product"
      ? await startProduct()
      : await startEcho("wt", true);
    const clients: LineProcess[] = [];
    try {
      // A quiet moment before the baseline memory sample (a measurement, not readiness).
      await new Promise((resolve) => setTimeout(resolve, 500));
      const heapBefore = which === "bare" ? await heapOf(server) : NaN;
      const rssBefore = rssBytes(server.proc.pid);
      const started = performance.now();
      const each = Math.ceil(config.scaleMax / config.scaleProcesses);
      for (let i = 0; i < config.scaleProcesses; i++) {
        clients.push(spawnLines("bench/driver.ts", [
          "--scenario",
          "scale",
          "--max",
          String(each),
          "--concurrency",
          "16",
          "--budget-ms",
          String(config.scaleBudgetMs),
          ...wtArgs(server),
        ], { stdin: true }));
      }
      const held = await Promise.all(
        clients.map((c) =>
          c.waitFor(/"event":"held"/, config.scaleBudgetMs + 30_000)
        ),
      );
      const openSeconds = (performance.now() - started) / 1000;
      const parsed = held.map(({ line }) => JSON.parse(line));
      const count = parsed.reduce((sum, e) => sum + e.held, 0);
      // Let the handshakes' transient allocations settle, then sample.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const rssAfter = rssBytes(server.proc.pid);
      const heapAfter = which === "bare" ? await heapOf(server) : NaN;
      // Ask again: sessions the server dropped while idle show up here.
      const from = clients.map((c) => c.lines.length);
      await Promise.all(clients.map((c) => c.send("count")));
      const again = await Promise.all(
        clients.map((c, i) => c.waitFor(/"event":"held"/, 10_000, from[i])),
      );
      const heldAfterIdle = again.map(({ line }) => JSON.parse(line))
        .reduce((sum, e) => sum + e.held, 0);
      rows.push({
        server: which,
        target: config.scaleMax,
        held: count,
        heldAfterIdle,
        failed: parsed.reduce((sum, e) => sum + e.failed, 0),
        dropped: parsed.reduce((sum, e) => sum + e.dropped, 0),
        openSeconds,
        rssBeforeBytes: rssBefore,
        rssAfterBytes: rssAfter,
        bytesPerSession: count > 0 ? (rssAfter - rssBefore) / count : NaN,
        heapBytesPerSession: count > 0 ? (heapAfter - heapBefore) / count : NaN,
        note:
          `${config.scaleProcesses} client processes, 16 handshakes at a time each, ` +
          `bounded at ${config.scaleBudgetMs / 1000} s`,
      });
      log(`scale ${which}: ${count} sessions held`);
    } finally {
      await Promise.all(clients.map((c) => c.stop()));
      await server.proc.stop();
    }
  }
  return rows;
}

// --------------------------------------------------------------- CLI

interface CliFigures {
  firstPong: Percentiles;
  connected: Percentiles;
  clientVersionStart: Percentiles;
  denoFloorStart: Percentiles;
  compiledStart: Percentiles | null;
  compiledNote: string;
}

async function timeExit(args: string[]): Promise<number> {
  const started = performance.now();
  const status = await new Deno.Command(Deno.execPath(), {
    args,
    stdout: "null",
    stderr: "null",
  }).output();
  if (!status.success) throw new Error(`${args.join(" ")} failed`);
  return performance.now() - started;
}

async function benchCli(servers: Servers): Promise<CliFigures> {
  const firstPong: number[] = [];
  const connected: number[] = [];
  const version: number[] = [];
  const floor: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const proc = spawnLines("client.ts", [
      servers.product.url,
      "--cert-hash",
      servers.product.certHash,
      "--count",
      "1",
      "--json",
    ]);
    try {
      const start = await proc.waitFor(/"type":"start"/, 20_000);
      const pong = await proc.waitFor(/"type":"pong"/, 20_000);
      connected.push(start.at - proc.spawnedAt);
      firstPong.push(pong.at - proc.spawnedAt);
      await proc.child.status;
    } finally {
      await proc.stop();
    }
    version.push(
      await timeExit([...RUN_FLAGS, rootPath("client.ts"), "--version"]),
    );
    floor.push(await timeExit(["run", "--quiet", rootPath("bench/_noop.ts")]));
  }
  let compiledStart: Percentiles | null = null;
  let compiledNote =
    "not measured: deno compile needs the denort runtime, which this machine " +
    "cannot download (set DENORT_BIN to a denort binary to measure it)";
  const denort = Deno.env.get("DENORT_BIN");
  if (denort) {
    const binary = `${tmp}/pingpong-client`;
    const built = await new Deno.Command(Deno.execPath(), {
      args: [
        "compile",
        "--quiet",
        "--unstable-net",
        "--allow-net",
        "--allow-read",
        "--allow-env",
        "--allow-sys",
        "--output",
        binary,
        rootPath("client.ts"),
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (built.success) {
      const times: number[] = [];
      for (let round = 0; round < rounds; round++) {
        const started = performance.now();
        await new Deno.Command(binary, { args: ["--version"] }).output();
        times.push(performance.now() - started);
      }
      compiledStart = summarize(times);
      compiledNote = "deno compile with DENORT_BIN";
    } else {
      compiledNote = `deno compile failed: ${
        new TextDecoder().decode(built.stderr).split("\n")[0]
      }`;
    }
  }
  return {
    firstPong: summarize(firstPong),
    connected: summarize(connected),
    clientVersionStart: summarize(version),
    denoFloorStart: summarize(floor),
    compiledStart,
    compiledNote,
  };
}

// -------------------------------------------------------------- main

/** Everything one run measured; saved as results.json. */
export interface BenchResults {
  /** When and where. */
  meta: Record<string, unknown>;
  /** RTT rows, one per target. */
  rtt?: RttRow[];
  /** Product p50 / bare p50, median over rounds. */
  rttRatios?: { stream: number; datagram: number };
  /** Throughput rows. */
  throughput?: ThroughputRow[];
  /** Handshake rows. */
  handshake?: HandshakeRow[];
  /** Idle session rows. */
  scale?: ScaleRow[];
  /** Client start-up. */
  cli?: CliFigures;
}

function pct(p: Percentiles, unit = ""): string[] {
  return [fmt(p.p50) + unit, fmt(p.p99) + unit, String(p.n)];
}

/** The markdown report of `results`. */
export function renderMarkdown(results: BenchResults): string {
  const out: string[] = [];
  const m = results.meta;
  out.push(
    `Run ${m.date}, Deno ${m.deno}, ${m.cpus} CPUs, load ${m.loadStart} → ${m.loadEnd}, ${m.rounds} rounds, ${m.pingBytes}-byte pings.`,
    "",
  );
  if (results.rtt) {
    out.push("### Round-trip time, one session, back-to-back pings", "");
    const floor = results.rtt.find((r) => r.id === "udp")!;
    out.push(markdownTable(
      [
        "target",
        "how",
        "p50 ms",
        "p99 ms",
        "samples",
        "p50 per round",
        "p50 / UDP",
      ],
      results.rtt.map((r) =>
        r.available
          ? [
            r.label,
            r.how,
            ...pct(r),
            r.roundP50s.map(fmt).join(" "),
            fmt(r.p50 / floor.p50) + "x",
          ]
          : [r.label, r.how, "n/a", "n/a", "0", r.note ?? "", ""]
      ),
    ));
    if (results.rttRatios) {
      out.push(
        "",
        `pingpong / bare echo p50 (median of per-round ratios): stream ${
          fmt(results.rttRatios.stream)
        }x, datagram ${fmt(results.rttRatios.datagram)}x (target ≤ 1.10x)`,
      );
    }
    out.push("");
  }
  if (results.throughput) {
    out.push("### Throughput: sessions with one ping in flight each", "");
    out.push(markdownTable(
      [
        "server",
        "sessions",
        "pongs/s",
        "server CPU µs/pong",
        "server CPU %",
        "client CPU %",
        "RTT p50 ms",
        "RTT p99 ms",
        "samples",
      ],
      results.throughput.map((r) => [
        r.server === "product"
          ? "pingpong server.ts"
          : "bare WebTransport echo",
        String(r.sessions),
        fmt(r.pongsPerSec),
        fmt(r.serverCpuUsPerPong),
        fmt(r.serverCpuPercent),
        fmt(r.clientCpuPercent),
        ...pct(r.latency),
      ]),
    ));
    const ratio = (n: number) => {
      const p = results.throughput!.find((r) =>
        r.server === "product" && r.sessions === n
      );
      const b = results.throughput!.find((r) =>
        r.server === "bare" && r.sessions === n
      );
      return p && b ? b.pongsPerSec / p.pongsPerSec : NaN;
    };
    out.push(
      "",
      `bare / pingpong pongs/s: ${
        [...new Set(results.throughput.map((r) => r.sessions))].map((n) =>
          `${n} sessions ${fmt(ratio(n))}x`
        ).join(", ")
      } (target at 64 ≤ 1.2x)`,
      "",
    );
  }
  if (results.handshake) {
    out.push("### Session set-up", "");
    out.push(markdownTable(
      [
        "server",
        "cold p50 ms",
        "cold p99 ms",
        "n",
        "warm p50 ms",
        "warm p99 ms",
        "n",
        "sessions/s accepted (16 at a time)",
      ],
      results.handshake.map((r) => [
        r.server === "product"
          ? "pingpong server.ts"
          : "bare WebTransport echo",
        ...pct(r.cold),
        ...pct(r.warm),
        `${fmt(r.sessionsPerSec)} (rounds: ${
          r.sessionsPerSecRounds.map(fmt).join(" ")
        })`,
      ]),
    ));
    out.push("");
  }
  if (results.scale) {
    out.push("### Idle sessions held by one server", "");
    out.push(markdownTable(
      [
        "server",
        "asked",
        "held",
        "still held after idle",
        "failed",
        "open time s",
        "RSS before MB",
        "RSS after MB",
        "RSS bytes/session",
        "JS heap bytes/session",
      ],
      results.scale.map((r) => [
        r.server === "product"
          ? "pingpong server.ts"
          : "bare WebTransport echo",
        String(r.target),
        String(r.held),
        String(r.heldAfterIdle),
        String(r.failed),
        fmt(r.openSeconds),
        fmt(r.rssBeforeBytes / 2 ** 20),
        fmt(r.rssAfterBytes / 2 ** 20),
        fmt(r.bytesPerSession),
        fmt(r.heapBytesPerSession),
      ]),
    ));
    out.push("");
  }
  if (results.cli) {
    const c = results.cli;
    out.push("### CLI start-up", "");
    out.push(markdownTable(
      ["what", "p50 ms", "p99 ms", "samples"],
      [
        [
          "client.ts: process start to first pong (`deno run`)",
          ...pct(c.firstPong),
        ],
        ["client.ts: process start to connected", ...pct(c.connected)],
        [
          "client.ts --version, start to exit (`deno run`)",
          ...pct(c.clientVersionStart),
        ],
        [
          "empty program, start to exit (`deno run`, the floor)",
          ...pct(c.denoFloorStart),
        ],
        c.compiledStart
          ? ["compiled binary --version", ...pct(c.compiledStart)]
          : [
            "compiled binary --version",
            "n/a",
            "n/a",
            `0 (${c.compiledNote})`,
          ],
      ],
    ));
    out.push("");
  }
  return out.join("\n");
}

function loadavg(): string {
  return Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
}

async function main(): Promise<void> {
  const results: BenchResults = {
    meta: {
      date: new Date().toISOString(),
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      cpus: navigator.hardwareConcurrency,
      loadStart: loadavg(),
      loadEnd: "",
      rounds,
      quick,
      pingBytes: config.pingBytes,
      config,
      rttClient:
        "pingpong rows: lib/pinger.ts runPings in the driver process " +
        "(bench/driver.ts), against a real server.ts process",
    },
  };
  const servers: Servers = {
    udp: await startEcho("udp"),
    ws: await startEcho("ws"),
    wt: await startEcho("wt"),
    product: await startProduct(),
  };
  try {
    if (sections.has("rtt")) {
      results.rtt = await benchRtt(servers);
      results.rttRatios = {
        stream: rttRatio(results.rtt, "product-stream", "wt-stream"),
        datagram: rttRatio(results.rtt, "product-datagram", "wt-datagram"),
      };
    }
    if (sections.has("throughput")) {
      results.throughput = await benchThroughput(servers);
    }
    if (sections.has("handshake")) {
      results.handshake = await benchHandshake(servers);
    }
    if (sections.has("cli")) results.cli = await benchCli(servers);
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.proc.stop()));
  }
  if (sections.has("scale")) results.scale = await benchScale();
  results.meta.loadEnd = loadavg();

  const markdown = renderMarkdown(results);
  console.log(markdown);
  Deno.mkdirSync(flags.out, { recursive: true });
  Deno.writeTextFileSync(
    `${flags.out}/results.json`,
    JSON.stringify(results, null, 2) + "\n",
  );
  Deno.writeTextFileSync(`${flags.out}/results.md`, markdown + "\n");
  const svg = renderChart(results);
  Deno.writeTextFileSync(`${flags.out}/chart.svg`, svg);
  Deno.writeFileSync(`${flags.out}/chart.png`, await svgToPng(svg));
  log(`wrote ${flags.out}/results.json, results.md, chart.svg, chart.png`);
  Deno.removeSync(tmp, { recursive: true });
}

if (import.meta.main) await main();

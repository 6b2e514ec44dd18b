/**
 * The client side of every benchmark, run as its own process by bench/run.ts
 * so that client and server are two processes on loopback.
 *
 * One scenario per run, chosen by `--scenario`; the results go to stdout as
 * JSON lines (`{"event": ...}`) that bench/run.ts reads. Progress lines let
 * the orchestrator sample the server's CPU and memory at the right moments.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseCertHash } from "../lib/cert_hash.ts";
import { encodeFrame, makePing } from "../lib/codec.ts";
import { type Mode, runPings } from "../lib/pinger.ts";
import { connectWebTransport } from "../lib/transport.ts";
import { connectTransport } from "../lib/transport_select.ts";

/** Bytes of every ping in the RTT rows (the product's default size). */
export const PING_BYTES = 64;

const { values } = parseArgs({
  args: Deno.args,
  strict: true,
  options: {
    scenario: { type: "string" },
    target: { type: "string" },
    url: { type: "string", default: "" },
    port: { type: "string", default: "0" },
    "cert-hash": { type: "string", default: "" },
    count: { type: "string", default: "1000" },
    warmup: { type: "string", default: "200" },
    sessions: { type: "string", default: "1" },
    "duration-ms": { type: "string", default: "3000" },
    "warmup-ms": { type: "string", default: "1000" },
    concurrency: { type: "string", default: "16" },
    max: { type: "string", default: "10000" },
    "budget-ms": { type: "string", default: "60000" },
  },
});

const certHash = values["cert-hash"]
  ? parseCertHash(values["cert-hash"])
  : undefined;

function emit(event: string, data: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ event, ...data }));
}

/** A raw WebTransport session with the bench's certificate pinned. */
async function openRaw(url: string): Promise<WebTransport> {
  const session = new WebTransport(url, {
    serverCertificateHashes: certHash
      ? [{ algorithm: "sha-256", value: certHash }]
      : undefined,
  });
  session.closed.catch(() => {});
  await session.ready;
  return session;
}

/** Reads from `reader` until `want` bytes arrived; returns the surplus. */
async function readExactly(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  want: number,
  carry: number,
): Promise<number> {
  let got = carry;
  while (got < want) {
    const { value, done } = await reader.read();
    if (done) throw new Error("stream ended");
    got += value.length;
  }
  return got - want;
}

async function closeQuietly(session: WebTransport): Promise<void> {
  try {
    session.close({ closeCode: 0, reason: "bench done" });
  } catch {
    return;
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    session.closed.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, 250)),
  ]);
  clearTimeout(timer);
}

// ---------------------------------------------------------------- RTT

type Pinger = { ping(): Promise<void>; close(): Promise<void> };

function udpPinger(port: number): Pinger {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const to: Deno.NetAddr = { transport: "udp", hostname: "127.0.0.1", port };
  const payload = new Uint8Array(PING_BYTES);
  return {
    ping: async () => {
      await socket.send(payload, to);
      await socket.receive();
    },
    close: () => Promise.resolve(socket.close()),
  };
}

async function wsPinger(port: number): Promise<Pinger> {
  const socket = new WebSocket(`ws://127.0.0.1:${port}/`);
  socket.binaryType = "arraybuffer";
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  let wake: () => void = () => {};
  socket.onmessage = () => wake();
  const payload = new Uint8Array(PING_BYTES);
  return {
    ping: () =>
      new Promise<void>((resolve) => {
        wake = resolve;
        socket.send(payload);
      }),
    close: () => Promise.resolve(socket.close()),
  };
}

async function wtStreamPinger(url: string): Promise<Pinger> {
  const session = await openRaw(url);
  const stream = await session.createBidirectionalStream();
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const payload = new Uint8Array(PING_BYTES);
  let carry = 0;
  return {
    ping: async () => {
      writer.write(payload);
      carry = await readExactly(reader, PING_BYTES, carry);
    },
    close: () => closeQuietly(session),
  };
}

async function wtDatagramPinger(url: string): Promise<Pinger> {
  const session = await openRaw(url);
  const reader = session.datagrams.readable.getReader();
  const writer = session.datagrams.writable.getWriter();
  const payload = new Uint8Array(PING_BYTES);
  return {
    ping: async () => {
      writer.write(payload);
      await reader.read();
    },
    close: () => closeQuietly(session),
  };
}

async function timeLoop(pinger: Pinger, warmup: number, count: number) {
  for (let i = 0; i < warmup; i++) await pinger.ping();
  const samples = new Array<number>(count);
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await pinger.ping();
    samples[i] = performance.now() - start;
  }
  await pinger.close();
  return samples;
}

/** The product: lib/transport.ts connect and lib/pinger.ts runPings. */
async function productRtt(
  url: string,
  mode: Mode,
  warmup: number,
  count: number,
  transport: "h3" | "h2" = "h3",
): Promise<number[]> {
  const { session } = transport === "h3"
    ? await connectWebTransport(url, { certHash })
    : await connectTransport(url, { certHash, transport });
  // One run, the first `warmup` replies dropped: runPings opens its channel
  // per call, and a datagram channel cannot be opened twice on one session.
  const samples: number[] = [];
  await runPings(session, {
    mode,
    count: warmup + count,
    intervalMs: 0,
    onReply: (seq, rttMs) => {
      if (seq > warmup) samples.push(rttMs);
    },
  });
  await closeQuietly(session);
  return samples;
}

async function rtt(): Promise<void> {
  const target = values.target!;
  const count = Number(values.count);
  const warmup = Number(values.warmup);
  const port = Number(values.port);
  const url = values.url;
  let samples: number[];
  switch (target) {
    case "udp":
      samples = await timeLoop(udpPinger(port), warmup, count);
      break;
    case "ws":
      samples = await timeLoop(await wsPinger(port), warmup, count);
      break;
    case "wt-stream":
      samples = await timeLoop(await wtStreamPinger(url), warmup, count);
      break;
    case "wt-datagram":
      samples = await timeLoop(await wtDatagramPinger(url), warmup, count);
      break;
    case "product-stream":
    case "product-datagram":
    case "product-stream-per-ping":
      samples = await productRtt(
        url,
        target.slice("product-".length) as Mode,
        warmup,
        count,
      );
      break;
    case "h2-stream":
      samples = await productRtt(url, "stream", warmup, count, "h2");
      break;
    default:
      throw new Error(`unknown target ${target}`);
  }
  emit("rtt", { samples: samples.map((ms) => Math.round(ms * 1e4) / 1e4) });
}

// --------------------------------------------------------- throughput

/**
 * N sessions, one stream each, one PING in flight per session, the same
 * bytes (a product PING frame) against every server so only the server
 * differs.
 */
async function throughput(): Promise<void> {
  const url = values.url;
  const sessions = Number(values.sessions);
  const durationMs = Number(values["duration-ms"]);
  const warmupMs = Number(values["warmup-ms"]);
  const frame = encodeFrame(makePing(1, 0, PING_BYTES));
  const open: {
    session: WebTransport;
    reader: ReadableStreamDefaultReader<Uint8Array>;
    writer: WritableStreamDefaultWriter<Uint8Array>;
  }[] = [];
  for (let i = 0; i < sessions; i += 32) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(32, sessions - i) }, async () => {
        const session = await openRaw(url);
        const stream = await session.createBidirectionalStream();
        return {
          session,
          reader: stream.readable.getReader(),
          writer: stream.writable.getWriter(),
        };
      }),
    );
    open.push(...batch);
  }
  emit("opened", { sessions: open.length });
  let counting = false;
  let running = true;
  let pongs = 0;
  const latencies = new Float64Array(200_000);
  let nLatencies = 0;
  const loops = open.map(async ({ reader, writer }) => {
    let carry = 0;
    try {
      while (running) {
        const start = performance.now();
        writer.write(frame);
        carry = await readExactly(reader, frame.length, carry);
        if (counting) {
          pongs++;
          if (nLatencies < latencies.length) {
            latencies[nLatencies++] = performance.now() - start;
          }
        }
      }
    } catch {
      // Session closed at the end.
    }
  });
  // Warm-up and measurement windows of a throughput run: timed by design.
  await new Promise((resolve) => setTimeout(resolve, warmupMs));
  emit("start");
  counting = true;
  const started = performance.now();
  await new Promise((resolve) => setTimeout(resolve, durationMs));
  counting = false;
  const elapsedMs = performance.now() - started;
  emit("end", {
    pongs,
    elapsedMs,
    latencies: Array.from(latencies.subarray(0, nLatencies)).filter((_, i) =>
      i % Math.max(1, Math.floor(nLatencies / 5000)) === 0
    ).map((ms) => Math.round(ms * 1e4) / 1e4),
  });
  running = false;
  await Promise.all(open.map(({ session }) => closeQuietly(session)));
  await Promise.race([
    Promise.allSettled(loops),
    new Promise((resolve) => setTimeout(resolve, 500)),
  ]);
}

// ---------------------------------------------------------- handshake

async function connectOnce(url: string, product: boolean): Promise<number> {
  const started = performance.now();
  const session = product
    ? (await connectWebTransport(url, { certHash, timeoutMs: 10_000 })).session
    : await openRaw(url);
  const ms = performance.now() - started;
  try {
    session.close({ closeCode: 0, reason: "bench" });
  } catch {
    // Already closed.
  }
  return ms;
}

async function handshake(): Promise<void> {
  const url = values.url;
  const product = values.target === "product";
  const warm = Number(values.count);
  const concurrency = Number(values.concurrency);
  const durationMs = Number(values["duration-ms"]);
  const cold = await connectOnce(url, product);
  const warmSamples: number[] = [];
  for (let i = 0; i < warm; i++) {
    warmSamples.push(await connectOnce(url, product));
  }
  let accepted = 0;
  let failed = 0;
  const deadline = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < deadline) {
      try {
        await connectOnce(url, product);
        accepted++;
      } catch {
        failed++;
      }
    }
  }));
  emit("handshake", {
    coldMs: cold,
    warmMs: warmSamples,
    accepted,
    failed,
    elapsedMs: performance.now() - started,
  });
}

// -------------------------------------------------------------- scale

/**
 * Opens up to `--max` sessions, `--concurrency` at a time, within
 * `--budget-ms`, and holds them idle until killed.
 */
async function scale(): Promise<void> {
  const url = values.url;
  const max = Number(values.max);
  const concurrency = Number(values.concurrency);
  const deadline = performance.now() + Number(values["budget-ms"]);
  const held = new Set<WebTransport>();
  let failed = 0;
  let dropped = 0;
  let next = 0;
  let reported = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < max && performance.now() < deadline && failed < 100) {
      next++;
      try {
        const session = await openRaw(url);
        held.add(session);
        session.closed.finally(() => {
          if (held.delete(session)) dropped++;
        });
        if (held.size - reported >= 500) {
          reported = held.size;
          emit("progress", { held: held.size });
        }
      } catch {
        failed++;
      }
    }
  }));
  emit("held", { held: held.size, failed, dropped });
  // Hold them; the orchestrator samples the server, then asks for a count
  // again (a line on stdin) and finally kills this process.
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const _chunk of lines) {
    emit("held", { held: held.size, failed, dropped });
  }
}

switch (values.scenario) {
  case "rtt":
    await rtt();
    break;
  case "throughput":
    await throughput();
    break;
  case "handshake":
    await handshake();
    break;
  case "scale":
    await scale();
    break;
  default:
    console.error(`unknown --scenario ${values.scenario}`);
    Deno.exit(2);
}
Deno.exit(0);

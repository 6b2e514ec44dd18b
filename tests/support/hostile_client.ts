/**
 * A hostile WebTransport client for tests: it attacks a pingpong server in
 * one of several ways and prints one JSON line saying what the server did.
 *
 * Run as a process, so the test process's resource checks are not involved
 * and the attack cannot share a heap with the test:
 *
 * ```sh
 * deno run -A --unstable-net tests/support/hostile_client.ts URL HASH PHASE [SEED]
 * ```
 *
 * Every phase is bounded in count and in time.
 *
 * @module
 */
import { parseCertHash } from "../../lib/certificates.ts";
import {
  decodeMessage,
  encodeFrame,
  FrameDecoder,
  makePing,
  type Message,
} from "../../lib/codec.ts";
import { ConnectError, connectWebTransport } from "../../lib/transport.ts";
import { within } from "./poll.ts";

/** The attacks this client knows. */
export const PHASES = [
  "random-frames",
  "huge-length",
  "slowloris",
  "random-datagrams",
  "many-streams",
  "many-sessions",
  "silent-quic",
  "never-reads",
  "never-reads-sessions",
  "echo-idle",
  "echo-never-reads",
  "echo-buffers",
  "echo-many-streams",
] as const;

/** One of {@linkcode PHASES}. */
export type Phase = (typeof PHASES)[number];

/** What one phase saw, printed as a JSON line. */
export interface PhaseResult {
  /** The phase. */
  phase: Phase;
  /** Units of attack sent (frames, datagrams, streams, sessions, bytes). */
  sent: number;
  /** ERROR messages the server sent back. */
  errors: number;
  /** PONGs the server sent back. */
  pongs: number;
  /** Sessions the server closed, by close code ("none" for our own close). */
  closes: Record<string, number>;
  /** When each close came, in ms since the phase began, by close code. */
  closedAtMs: Record<string, number[]>;
  /** The close reasons the server gave, in the order they came. */
  reasons: string[];
  /** Wall time of the phase, ms. */
  elapsedMs: number;
}

/** A small seeded PRNG (mulberry32): the same seed replays the same attack. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomBytes(random: () => number, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => Math.floor(random() * 256));
}

/** Paces an attack (slowloris bytes, datagram bursts); never a readiness wait. */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class Attack {
  readonly result: PhaseResult;
  readonly #url: string;
  readonly #hash: Uint8Array<ArrayBuffer>;
  readonly #started = performance.now();

  constructor(phase: Phase, url: string, hash: string) {
    this.result = {
      phase,
      sent: 0,
      errors: 0,
      pongs: 0,
      closes: {},
      closedAtMs: {},
      reasons: [],
      elapsedMs: 0,
    };
    this.#url = url;
    this.#hash = parseCertHash(hash);
  }

  /** The server's pingpong URL. */
  get url(): string {
    return this.#url;
  }

  async connect(url = this.#url): Promise<WebTransport> {
    const { session } = await connectWebTransport(url, {
      certHash: this.#hash,
      timeoutMs: 5000,
    });
    return session;
  }

  /** Counts the server's close of `session` (or our own) once it happens. */
  watch(session: WebTransport): Promise<number | undefined> {
    return session.closed.then(
      (info) => info,
      () => undefined,
    ).then((info) => {
      // Code 0 is our own close; "none" a session lost without a code.
      const code = info?.closeCode;
      const key = code === undefined ? "none" : String(code);
      this.result.closes[key] = (this.result.closes[key] ?? 0) + 1;
      (this.result.closedAtMs[key] ??= []).push(
        Math.round(performance.now() - this.#started),
      );
      if (code) this.result.reasons.push(info?.reason ?? "");
      return code;
    });
  }

  count(message: Message): void {
    if (message.type === 0x03) this.result.errors++;
    if (message.type === 0x02) this.result.pongs++;
  }

  finish(): PhaseResult {
    this.result.elapsedMs = Math.round(performance.now() - this.#started);
    return this.result;
  }
}

function close(session: WebTransport): void {
  try {
    session.close({ closeCode: 0, reason: "hostile client done" });
  } catch {
    // Already closed by the server.
  }
}

/** Reads frames from a stream until `ms` pass or it ends; counts them. */
async function readReplies(
  attack: Attack,
  stream: WebTransportBidirectionalStream,
  ms: number,
): Promise<void> {
  const reader = stream.readable.getReader();
  const decoder = new FrameDecoder();
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        const messages = decoder.push(value);
        messages.forEach((message) => attack.count(message));
        if (messages.length > 0) return;
      }
    } catch {
      // Stream reset or session closed: that is an answer too.
    }
  })();
  await within(reading, ms);
  reader.cancel().catch(() => {});
}

async function randomFrames(
  attack: Attack,
  random: () => number,
): Promise<void> {
  const deadline = performance.now() + 10_000;
  let session = await attack.connect();
  let closed = attack.watch(session);
  let gone = false;
  closed.then(() => gone = true);
  for (let i = 0; i < 200 && performance.now() < deadline; i++) {
    if (gone) {
      session = await attack.connect();
      closed = attack.watch(session);
      gone = false;
      closed.then(() => gone = true);
    }
    try {
      const stream = await session.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      const bytes = randomBytes(random, 1 + Math.floor(random() * 200));
      writer.write(bytes).catch(() => {});
      attack.result.sent++;
      await readReplies(attack, stream, 200);
      writer.releaseLock();
    } catch {
      gone = true;
    }
  }
  close(session);
  await within(closed, 1000);
}

async function hugeLength(attack: Attack): Promise<void> {
  // 2^62 - 1, about 2^61.9 (8-byte varints) and 2^30 - 1 (4-byte).
  const prefixes = [
    [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    [0xf0, 0, 0, 0, 0, 0, 0, 0],
    [0xbf, 0xff, 0xff, 0xff],
  ];
  for (const prefix of prefixes) {
    const session = await attack.connect();
    const closed = attack.watch(session);
    const stream = await session.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    // The prefix claims ~2^62 bytes; then some body, which must never be awaited.
    writer.write(Uint8Array.from(prefix)).catch(() => {});
    writer.write(new Uint8Array(1000)).catch(() => {});
    attack.result.sent++;
    await readReplies(attack, stream, 2000);
    await within(closed, 3000);
    close(session);
  }
}

async function slowloris(attack: Attack): Promise<void> {
  // One valid PING, one byte every 150 ms: 65 bytes would take ~10 s, longer
  // than the test server's idle timeout, so the server must cut it first.
  const session = await attack.connect();
  const closed = attack.watch(session);
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const replies = readReplies(attack, stream, 12_000);
  const frame = encodeFrame(makePing(1, Date.now(), 64));
  let cut = false;
  closed.then(() => cut = true);
  for (let i = 0; i < frame.length && !cut; i++) {
    try {
      await writer.write(frame.subarray(i, i + 1));
    } catch {
      break;
    }
    attack.result.sent++;
    await delay(150);
  }
  await replies;
  close(session);
  await within(closed, 1000);
}

async function randomDatagrams(
  attack: Attack,
  random: () => number,
): Promise<void> {
  const session = await attack.connect();
  const closed = attack.watch(session);
  const writer = session.datagrams.writable.getWriter();
  const reader = session.datagrams.readable.getReader();
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        try {
          attack.count(decodeMessage(value));
        } catch {
          // Not ours to judge.
        }
      }
    } catch {
      // Session closed.
    }
  })();
  for (let i = 0; i < 1000; i++) {
    const bytes = randomBytes(random, 1 + Math.floor(random() * 1000));
    writer.write(bytes).catch(() => {});
    attack.result.sent++;
    // A short pause every 50 so the burst is not all lost to the socket buffer.
    if (i % 50 === 49) await delay(5);
  }
  await within(closed, 500);
  close(session);
  reader.cancel().catch(() => {});
  await within(reading, 1000);
}

async function manyStreams(attack: Attack): Promise<void> {
  const session = await attack.connect();
  const closed = attack.watch(session);
  let cut = false;
  closed.then(() => cut = true);
  const writers: WritableStreamDefaultWriter<Uint8Array>[] = [];
  for (let i = 0; i < 300 && !cut; i++) {
    // QUIC stream credit may stall this; bounded, then we stop trying.
    const stream = await within(session.createBidirectionalStream(), 1000)
      .catch(() => undefined);
    if (!stream) break;
    const writer = stream.writable.getWriter();
    // One byte of a frame: the stream exists for the server but never ends.
    writer.write(Uint8Array.of(0x40)).catch(() => {});
    writers.push(writer);
    attack.result.sent++;
  }
  await within(closed, 3000);
  close(session);
}

async function manySessions(attack: Attack, count: number): Promise<void> {
  const sessions = await Promise.all(
    Array.from({ length: count }, () =>
      attack.connect().catch((error) => {
        // Refused during the handshake: the close code still tells why.
        const code = error instanceof ConnectError
          ? error.closeCode
          : undefined;
        const key = code === undefined ? "connect-failed" : String(code);
        attack.result.closes[key] = (attack.result.closes[key] ?? 0) + 1;
        return null;
      })),
  );
  const open = sessions.filter((session) => session !== null);
  attack.result.sent = count;
  const closes = open.map((session) => attack.watch(session));
  // Every session pings once; refused ones are closed by then.
  await Promise.all(open.map(async (session) => {
    try {
      const stream = await session.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      writer.write(encodeFrame(makePing(1, Date.now(), 32))).catch(() => {});
      await readReplies(attack, stream, 1500);
    } catch {
      // Refused.
    }
  }));
  open.forEach(close);
  await within(Promise.all(closes), 2000);
}

/**
 * QUIC connections that complete the TLS handshake, keep themselves alive
 * and never open a WebTransport session; the server must close them.
 */
async function silentQuic(attack: Attack, url: string, caFile: string) {
  const target = new URL(url);
  const ca = await Deno.readTextFile(caFile);
  const conns = await Promise.all(
    Array.from({ length: 5 }, () =>
      Deno.connectQuic({
        hostname: target.hostname.replace(/^\[|\]$/g, ""),
        port: Number(target.port),
        serverName: "localhost",
        alpnProtocols: ["h3"],
        caCerts: [ca],
        keepAliveInterval: 500,
      })),
  );
  attack.result.sent = conns.length;
  await within(
    Promise.all(conns.map(async (conn) => {
      const info = await conn.closed.catch(() => undefined);
      const key = info ? String(info.closeCode) : "none";
      attack.result.closes[key] = (attack.result.closes[key] ?? 0) + 1;
    })),
    15_000,
  );
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Closed by the server.
    }
  }
}

/** The `/echo` URL of the server whose pingpong URL is `url`. */
function echoUrl(url: string): string {
  const echo = new URL(url);
  echo.pathname = "/echo";
  return echo.href;
}

/**
 * Writes `chunk` on `streams` new bidirectional streams of `session` while
 * they take more (never reading anything back), at most `perSecond` chunks a
 * second in all, until `ms` pass or the server closes the session.
 */
async function writeWithoutReading(
  attack: Attack,
  session: WebTransport,
  chunk: Uint8Array,
  streams: number,
  perSecond: number,
  ms: number,
): Promise<void> {
  const closed = attack.watch(session);
  let cut = false;
  closed.then(() => cut = true);
  const writers = [];
  for (let i = 0; i < streams; i++) {
    const stream = await within(session.createBidirectionalStream(), 1000)
      .catch(() => undefined);
    if (stream) writers.push(stream.writable.getWriter());
  }
  const deadline = performance.now() + ms;
  const tickMs = 10;
  const perTick = Math.max(1, Math.round(perSecond * tickMs / 1000));
  while (!cut && performance.now() < deadline) {
    let budget = perTick;
    for (const writer of writers) {
      // Only what the stream takes: the client's own memory stays flat,
      // so what grows (or not) is the server's.
      if (budget > 0 && writer.desiredSize! > 0) {
        writer.write(chunk).catch(() => {});
        attack.result.sent++;
        budget--;
      }
    }
    await delay(tickMs);
  }
  close(session);
  await within(closed, 1000);
}

/**
 * A client that sends big PINGs on a few streams and never reads its pongs:
 * the server must stop reading it (not queue pongs without bound), and its
 * idle timeout then ends the session.
 */
async function neverReads(attack: Attack): Promise<void> {
  const session = await attack.connect();
  // 65,000-byte PINGs at 400 a second: under the test server's 500 a second.
  const ping = encodeFrame(makePing(1, Date.now(), 65_000));
  await writeWithoutReading(attack, session, ping, 4, 400, 8000);
}

/**
 * `count` sessions at once, each sending big PINGs on one stream and never
 * reading its pongs: the server's cap on stalled streams must close the
 * sessions over it as soon as their streams stall, and leave the others.
 */
async function neverReadsSessions(attack: Attack, count: number) {
  const sessions = await Promise.all(
    Array.from({ length: count }, () => attack.connect()),
  );
  const ping = encodeFrame(makePing(1, Date.now(), 65_000));
  await Promise.all(
    sessions.map((session) =>
      writeWithoutReading(attack, session, ping, 1, 100, 5000)
    ),
  );
}

/** Echo sessions that send nothing: the idle timeout must free their places. */
async function echoIdle(attack: Attack): Promise<void> {
  const sessions = await Promise.all(
    Array.from({ length: 2 }, () => attack.connect(echoUrl(attack.url))),
  );
  attack.result.sent = sessions.length;
  const closes = sessions.map((session) => attack.watch(session));
  await within(Promise.all(closes), 10_000);
  sessions.forEach(close);
}

/** Bytes on /echo's bidirectional streams, never reading the echoes. */
async function echoNeverReads(attack: Attack): Promise<void> {
  const session = await attack.connect(echoUrl(attack.url));
  await writeWithoutReading(
    attack,
    session,
    new Uint8Array(65_000).fill(7),
    4,
    400,
    8000,
  );
}

/**
 * Unidirectional streams of 256 KiB on /echo that never end: held by the
 * server until they do, so its per-session echo buffer must cut them off.
 */
async function echoBuffers(attack: Attack): Promise<void> {
  const session = await attack.connect(echoUrl(attack.url));
  const closed = attack.watch(session);
  let cut = false;
  closed.then(() => cut = true);
  const chunk = new Uint8Array(16_384).fill(1);
  for (let i = 0; i < 16 && !cut; i++) {
    const stream = await within(session.createUnidirectionalStream(), 1000)
      .catch(() => undefined);
    if (!stream) break;
    const writer = stream.getWriter();
    for (let j = 0; j < 16 && !cut; j++) {
      await within(writer.write(chunk).catch(() => {}), 1000);
    }
    attack.result.sent++;
  }
  await within(closed, 3000);
  close(session);
}

/** Hundreds of never-ending unidirectional streams on /echo. */
async function echoManyStreams(attack: Attack): Promise<void> {
  const session = await attack.connect(echoUrl(attack.url));
  const closed = attack.watch(session);
  let cut = false;
  closed.then(() => cut = true);
  for (let i = 0; i < 300 && !cut; i++) {
    const stream = await within(session.createUnidirectionalStream(), 1000)
      .catch(() => undefined);
    if (!stream) break;
    stream.getWriter().write(Uint8Array.of(i & 0xff)).catch(() => {});
    attack.result.sent++;
  }
  await within(closed, 3000);
  close(session);
}

/** Runs one phase against `url` and returns what the server did. */
export async function attack(
  phase: Phase,
  url: string,
  certHash: string,
  seed = 1,
  sessions = 10,
  caFile = "",
): Promise<PhaseResult> {
  const run = new Attack(phase, url, certHash);
  const random = prng(seed);
  switch (phase) {
    case "random-frames":
      await randomFrames(run, random);
      break;
    case "huge-length":
      await hugeLength(run);
      break;
    case "slowloris":
      await slowloris(run);
      break;
    case "random-datagrams":
      await randomDatagrams(run, random);
      break;
    case "many-streams":
      await manyStreams(run);
      break;
    case "many-sessions":
      await manySessions(run, sessions);
      break;
    case "silent-quic":
      await silentQuic(run, url, caFile);
      break;
    case "never-reads":
      await neverReads(run);
      break;
    case "never-reads-sessions":
      await neverReadsSessions(run, sessions);
      break;
    case "echo-idle":
      await echoIdle(run);
      break;
    case "echo-never-reads":
      await echoNeverReads(run);
      break;
    case "echo-buffers":
      await echoBuffers(run);
      break;
    case "echo-many-streams":
      await echoManyStreams(run);
      break;
  }
  return run.finish();
}

if (import.meta.main) {
  const [url, hash, phase, seed, sessions, caFile] = Deno.args;
  if (!PHASES.includes(phase as Phase)) {
    console.error(
      `usage: hostile_client.ts URL HASH ${
        PHASES.join("|")
      } [SEED] [SESSIONS] [CA_FILE]`,
    );
    Deno.exit(2);
  }
  const result = await attack(
    phase as Phase,
    url,
    hash,
    Number(seed ?? 1),
    Number(sessions ?? 10),
    caFile,
  );
  console.log(JSON.stringify(result));
  // Deno 2.9 keeps dropped streams until GC; do not wait for them.
  Deno.exit(0);
}

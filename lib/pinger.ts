/**
 * The client's ping loop over one session, in three modes:
 *
 * - `stream`: one long-lived bidirectional stream, pings in order;
 * - `datagram`: one datagram per ping, unreliable;
 * - `stream-per-ping`: a new bidirectional stream for every ping.
 *
 * @module
 */
import { streamReleased } from "./_gc.ts";
import {
  CloseCode,
  DecodeError,
  decodeMessage,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  encodeMessage,
  ErrorCode,
  Flag,
  FrameDecoder,
  makePing,
  type Message,
  MessageType,
  PING_HEADER_SIZE,
} from "./codec.ts";
import { logger } from "./log.ts";
import { RttStats } from "./stats.ts";

const log = logger("pinger");

/** The ways a ping can travel. */
export const MODES = ["stream", "datagram", "stream-per-ping"] as const;

/** One of {@linkcode MODES}. */
export type Mode = (typeof MODES)[number];

/**
 * Close codes by which the server refuses this client as it is (path, token,
 * origin, message size, rate, capacity): the server did not take the pings
 * in flight, and trying again would be refused again.
 */
const REFUSALS: ReadonlySet<number> = new Set([
  CloseCode.NOT_FOUND,
  CloseCode.UNAUTHORIZED,
  CloseCode.FORBIDDEN,
  CloseCode.TOO_LARGE,
  CloseCode.RATE_LIMITED,
  CloseCode.BUSY,
]);

/**
 * Whether `closeCode` is a refusal (404, 401, 403, 413, 429, 503) rather than
 * a loss (going away, idle timeout, a dropped connection).
 *
 * @example
 * ```ts
 * import { isRefusal } from "./pinger.ts";
 * console.log(isRefusal(404), isRefusal(1001), isRefusal(undefined)); // true false false
 * ```
 */
export function isRefusal(closeCode: number | undefined): boolean {
  return closeCode !== undefined && REFUSALS.has(closeCode);
}

/**
 * Thrown when the session ends before the run does.
 *
 * @example
 * ```ts
 * import { SessionClosedError } from "./pinger.ts";
 * const error = new SessionClosedError(1001, "server shutting down");
 * console.log(error.message); // "session closed by server with code 1001: server shutting down"
 * console.log(new SessionClosedError(undefined, "").message); // "session lost: connection closed"
 * ```
 */
export class SessionClosedError extends Error {
  /** The close code the peer sent, if it sent one. */
  readonly closeCode: number | undefined;
  /** The reason the peer sent, if any. */
  readonly reason: string;

  /**
   * @param closeCode The close code the peer sent, if any.
   * @param reason The reason the peer sent.
   * @param options Standard error options (`cause`).
   */
  constructor(
    closeCode: number | undefined,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(
      closeCode === undefined
        ? `session lost: ${reason || "connection closed"}`
        : `session closed by server with code ${closeCode}${
          reason ? `: ${reason}` : ""
        }`,
      options,
    );
    this.name = "SessionClosedError";
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/**
 * Thrown when the server speaks the other protocol: plain pings answered by
 * a plain echo server (the PING comes back), or `echo` pings answered by a
 * pingpong server (a PONG comes back). Retrying will not help; the user
 * picks the other mode.
 *
 * @example
 * ```ts
 * import { ServiceMismatchError } from "./pinger.ts";
 * const error = new ServiceMismatchError(false);
 * console.log(error.message); // "... looks like a plain echo server: add --echo"
 * ```
 */
export class ServiceMismatchError extends Error {
  /** Whether the run was in echo mode. */
  readonly echo: boolean;

  /**
   * @param echo Whether the run was in echo mode.
   * @param options Standard error options (`cause`).
   */
  constructor(echo: boolean, options?: ErrorOptions) {
    super(
      echo
        ? "the server answered with a pingpong PONG, not an echo: drop --echo"
        : "the server sent the PING back instead of a PONG; it looks like a plain echo server: add --echo",
      options,
    );
    this.name = "ServiceMismatchError";
    this.echo = echo;
  }
}

/** What the loop reports as it goes. */
export interface PingEvents {
  /** Ping `seq` was handed to the transport. */
  onSend?(seq: number): void;
  /** A keep-alive probe (see `keepAliveMs`) was handed to the transport. */
  onProbe?(): void;
  /** A pong arrived for `seq` after `rttMs`; `bytes` is its size. */
  onReply?(seq: number, rttMs: number, bytes: number): void;
  /** No pong for `seq` within the timeout. */
  onTimeout?(seq: number): void;
  /** The server sent an ERROR. */
  onError?(code: number, reason: string): void;
  /**
   * Something came from the server (a pong, even a late one or a probe's, an
   * ERROR): proof that the path is alive.
   */
  onAlive?(): void;
}

/** Options of {@linkcode runPings}. */
export interface PingOptions extends PingEvents {
  /**
   * How pings travel.
   *
   * @default {"stream"}
   */
  mode?: Mode;
  /**
   * Pings to send; `Infinity` runs until `signal` aborts.
   *
   * @default {Infinity}
   */
  count?: number;
  /**
   * Milliseconds between pings; 0 sends the next as soon as the pong arrives.
   *
   * @default {1000}
   */
  intervalMs?: number;
  /**
   * PING size in bytes, header included.
   *
   * @default {64}
   */
  size?: number;
  /**
   * A ping with no pong after this long counts as lost.
   *
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Number of the first ping.
   *
   * @default {1}
   */
  firstSeq?: number;
  /**
   * Interrupts the run (Ctrl-C): no more pings are sent. A ping in flight
   * whose reply is not yet due (its timeout has not expired) is neither
   * answered nor lost: it is taken back from the transmitted count, as
   * ping(8) counts on an interrupt. One past its timeout is lost.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Ends the run because the caller gave the path up (it looks dead): no more
   * pings are sent, and every ping in flight is lost, reported through
   * `onTimeout` (as it is when the session ends, unless the server closed it
   * with a refusal, see {@linkcode isRefusal}: then they are taken back).
   *
   * @default {undefined}
   */
  abandon?: AbortSignal;
  /**
   * When nothing was sent for this long, send a probe: a PING with seq 0,
   * not counted, whose reply only reports through `onAlive`. Lets a caller
   * tell a dead path from a quiet one when pings are far apart.
   *
   * @default {Infinity} (no probes)
   */
  keepAliveMs?: number;
  /**
   * Statistics to add to; pass one object across reconnects.
   *
   * @default {a fresh RttStats}
   */
  stats?: RttStats;
  /**
   * Ping a plain WebTransport echo server (the server's `/echo`, or any
   * other): the reply is the PING's own bytes echoed back, matched byte for
   * byte, instead of a PONG.
   *
   * @default {false}
   */
  echo?: boolean;
  /**
   * Monotonic clock in ms.
   *
   * @default {performance.now}
   */
  now?: () => number;
}

interface Pending {
  sentAt: number;
  /** In echo mode, the message bytes the reply must repeat. */
  expect?: Uint8Array;
  /** performance.now() after which the ping counts as lost. */
  deadline: number;
  settle: () => void;
}

/** One way of carrying PINGs to the server and PONGs back. */
interface Channel {
  send(seq: number, bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

type Receive = (message: Message, bytes: number) => void;

/**
 * Sends pings over `session` and collects round trips until `count` pings
 * have been answered or timed out, or `signal` aborts.
 *
 * @returns the statistics of the run.
 * @throws {SessionClosedError} when the session ends first (the statistics so
 * far are in `options.stats`).
 * @example
 * ```ts ignore
 * import { runPings } from "./pinger.ts";
 * declare const session: WebTransport;
 * const stats = await runPings(session, { count: 3, intervalMs: 0 });
 * console.log(stats.summary().received);
 * ```
 */
export async function runPings(
  session: WebTransport,
  options: PingOptions = {},
): Promise<RttStats> {
  const mode = options.mode ?? "stream";
  const count = options.count ?? Infinity;
  const intervalMs = options.intervalMs ?? 1000;
  const size = options.size ?? 64;
  const timeoutMs = options.timeoutMs ?? 2000;
  const now = options.now ?? (() => performance.now());
  const stats = options.stats ?? new RttStats();
  const signal = options.signal;
  if (size < PING_HEADER_SIZE) {
    throw new RangeError(`size must be at least ${PING_HEADER_SIZE} bytes`);
  }

  const pending = new Map<number, Pending>();
  let drained: () => void = () => {};
  const settle = (seq: number, entry: Pending) => {
    pending.delete(seq);
    entry.settle();
    if (pending.size === 0) drained();
  };
  const echo = options.echo ?? false;
  // One timer for all pings in flight, armed for the oldest one's deadline
  // (a timer per ping showed in the client's CPU profile). Map order is send
  // order, so it is deadline order too.
  let lossTimer: ReturnType<typeof setTimeout> | undefined;
  const expire = () => {
    lossTimer = undefined;
    const t = performance.now();
    for (const [seq, entry] of pending) {
      if (entry.deadline > t) {
        lossTimer = setTimeout(expire, entry.deadline - t);
        return;
      }
      options.onTimeout?.(seq);
      settle(seq, entry);
    }
  };
  let mismatch: ServiceMismatchError | undefined;
  const receive: Receive = (message, bytes) => {
    options.onAlive?.();
    if (message.type === (echo ? MessageType.PING : MessageType.PONG)) {
      const entry = pending.get(message.seq);
      if (!entry) return; // late or duplicate: already counted as lost
      if (entry.expect && !_sameBytes(encodeMessage(message), entry.expect)) {
        // Left pending: a corrupted echo counts as lost when it times out.
        options.onError?.(
          ErrorCode.MALFORMED,
          `echo of seq ${message.seq} differs from what was sent`,
        );
        return;
      }
      const rtt = now() - entry.sentAt;
      stats.received(rtt);
      options.onReply?.(message.seq, rtt, bytes);
      settle(message.seq, entry);
    } else if (message.type === MessageType.ERROR) {
      options.onError?.(message.code, message.reason);
    } else if (
      message.type === (echo ? MessageType.PONG : MessageType.PING) &&
      pending.has(message.seq) && !mismatch
    ) {
      // A reply of the other protocol to a ping of ours: every ping would
      // time out, so say why now instead of reporting 100% loss.
      mismatch = new ServiceMismatchError(echo);
      wakeLost();
    }
  };

  // The session ending (by either side) ends the run.
  let lost: SessionClosedError | undefined;
  let wakeLost: () => void = () => {};
  const sessionLost = new Promise<void>((resolve) => wakeLost = resolve);
  session.closed.then(
    (info) => {
      lost = new SessionClosedError(info?.closeCode, info?.reason ?? "");
      wakeLost();
    },
    (cause) => {
      lost = new SessionClosedError(undefined, errorText(cause), { cause });
      wakeLost();
    },
  );

  const abandon = options.abandon;
  const stopped = () => signal?.aborted || abandon?.aborted || lost || mismatch;
  let onStop: () => void = () => {};
  const aborted = new Promise<void>((resolve) => {
    onStop = resolve;
    if (signal?.aborted || abandon?.aborted) resolve();
  });
  signal?.addEventListener("abort", onStop, { once: true });
  abandon?.addEventListener("abort", onStop, { once: true });
  const stop = Promise.race([aborted, sessionLost]);
  // Whatever the loop awaits registers its resolve here, so stopping wakes
  // it: one reaction on `stop` per run, not a Promise.race per ping or sleep
  // (those add a reaction to `stop` each time, which a long run accumulates).
  let wake: () => void = () => {};
  stop.then(() => wake());

  const channel = await openChannel(mode, session, receive, size).catch(
    (cause) => {
      if (cause instanceof RangeError) throw cause;
      throw lost ??
        new SessionClosedError(undefined, errorText(cause), { cause });
    },
  );
  const ping = makePing(0, 0, size);
  // A pattern rather than zeros, so an echo that garbles bytes is caught.
  if (echo) {
    ping.padding.forEach((_, i) => ping.padding[i] = (i * 7 + 1) & 0xff);
  }
  const firstSeq = options.firstSeq ?? 1;
  const started = now();
  let lastSentAt = started;
  const keepAliveMs = options.keepAliveMs ?? Infinity;
  const probeTimer = Number.isFinite(keepAliveMs)
    ? setInterval(() => {
      if (now() - lastSentAt < keepAliveMs) return;
      lastSentAt = now();
      sendProbe(channel, mode);
      options.onProbe?.();
    }, Math.max(1, keepAliveMs / 2))
    : undefined;
  try {
    for (let i = 0; i < count; i++) {
      if (stopped()) break;
      if (i > 0 && intervalMs > 0) {
        const wait = started + i * intervalMs - now();
        if (wait > 0) {
          let timer: ReturnType<typeof setTimeout> | undefined;
          await new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, wait);
          });
          clearTimeout(timer);
          if (stopped()) break;
        }
      }
      const seq = firstSeq + i;
      ping.seq = seq;
      ping.timestamp = Date.now();
      // Nothing follows a stream-per-ping PING, so the server may drop the stream.
      ping.flags = mode === "stream-per-ping" ? Flag.FINAL : 0;
      const bytes = mode === "datagram"
        ? encodeMessage(ping)
        : encodeFrame(ping);
      const settled = new Promise<void>((resolve) => {
        pending.set(seq, {
          sentAt: now(),
          expect: echo ? encodeMessage(ping) : undefined,
          deadline: performance.now() + timeoutMs,
          settle: resolve,
        });
        wake = resolve;
      });
      lossTimer ??= setTimeout(expire, timeoutMs);
      lastSentAt = now();
      stats.sent();
      options.onSend?.(seq);
      channel.send(seq, bytes).catch((error) => {
        log.debug("send of seq {seq} failed: {error}", {
          seq,
          error: String(error),
        });
      });
      if (intervalMs === 0) await settled;
    }
    // Like ping(8): wait for the last replies, each bounded by its timeout.
    if (!stopped() && pending.size > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
        wake = resolve;
      });
    }
  } finally {
    clearTimeout(lossTimer);
    clearInterval(probeTimer);
    signal?.removeEventListener("abort", onStop);
    abandon?.removeEventListener("abort", onStop);
    // The pings still in flight. Interrupted: one whose reply is not yet due
    // is taken back, one past its timeout is lost. Refused (wrong path,
    // token, rate...): each is taken back, as the server never took it; the
    // refusal, not a loss, is what the run reports. The path given up or the
    // session ended otherwise: each is lost, and reported so the lines add up.
    const t = performance.now();
    const interrupted = signal?.aborted === true;
    const refused = isRefusal(lost?.closeCode);
    for (const [seq, entry] of pending) {
      if (refused || (interrupted && entry.deadline > t)) stats.withdrawn();
      else options.onTimeout?.(seq);
    }
    pending.clear();
    await channel.close().catch(() => {});
  }
  if (mismatch) throw mismatch;
  if (lost && !signal?.aborted) throw lost;
  return stats;
}

/** A keep-alive: a PING with seq 0 (never a counted ping's), header only. */
function sendProbe(channel: Channel, mode: Mode): void {
  const probe = makePing(0, Date.now(), PING_HEADER_SIZE);
  probe.flags = mode === "stream-per-ping" ? Flag.FINAL : 0;
  const bytes = mode === "datagram" ? encodeMessage(probe) : encodeFrame(probe);
  channel.send(0, bytes).catch((error) => {
    log.debug("send of a keep-alive failed: {error}", {
      error: String(error),
    });
  });
}

function _sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function openChannel(
  mode: Mode,
  session: WebTransport,
  receive: Receive,
  size: number,
): Promise<Channel> {
  switch (mode) {
    case "stream":
      return await openStreamChannel(session, receive);
    case "datagram":
      return openDatagramChannel(session, receive, size);
    case "stream-per-ping":
      return openStreamPerPingChannel(session, receive);
  }
}

/** A running frame reader: `done` settles when it stops; `cancel` stops it. */
interface FrameReading {
  done: Promise<void>;
  cancel(): void;
}

/**
 * Reads frames from `readable` and hands each message to `receive`.
 *
 * Deno 2.9 sends no FIN on `close()` (denoland/deno#36822), so a reader may
 * never see the end of a stream: callers cancel it when they are done.
 */
function readFrames(
  readable: ReadableStream<Uint8Array>,
  receive: Receive,
  onlyOne = false,
): FrameReading {
  const reader = readable.getReader();
  const decoder = new FrameDecoder({ maxFrameSize: DEFAULT_MAX_FRAME_SIZE });
  const cancel = () => {
    reader.cancel().catch(() => {});
  };
  const done = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        for (const message of decoder.push(value)) {
          receive(message, sizeOf(message));
          if (onlyOne) return;
        }
      }
    } catch (error) {
      if (error instanceof DecodeError) {
        log.warning("server sent a malformed frame: {reason}", {
          reason: error.message,
        });
      } else {
        log.debug("stream read ended: {error}", { error: errorText(error) });
      }
    } finally {
      cancel();
    }
  })();
  return { done, cancel };
}

function sizeOf(message: Message): number {
  return message.type === MessageType.ERROR
    ? 0
    : PING_HEADER_SIZE + message.padding.length;
}

async function openStreamChannel(
  session: WebTransport,
  receive: Receive,
): Promise<Channel> {
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const reading = readFrames(stream.readable, receive);
  return {
    send: (_seq, bytes) => writer.write(bytes),
    close: async () => {
      reading.cancel();
      await writer.close().catch(() => {});
      await reading.done;
    },
  };
}

function openDatagramChannel(
  session: WebTransport,
  receive: Receive,
  size: number,
): Channel {
  const max = session.datagrams.maxDatagramSize;
  if (size > max) {
    throw new RangeError(
      `size ${size} is over this path's datagram limit of ${max} bytes`,
    );
  }
  const writer = session.datagrams.writable.getWriter();
  const reader = session.datagrams.readable.getReader();
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        try {
          receive(decodeMessage(value), value.length);
        } catch (error) {
          log.debug("ignored malformed datagram: {error}", {
            error: errorText(error),
          });
        }
      }
    } catch (error) {
      log.debug("datagram read ended: {error}", { error: errorText(error) });
    }
  })();
  return {
    send: (_seq, bytes) => writer.write(bytes),
    close: async () => {
      await reader.cancel().catch(() => {});
      writer.releaseLock();
      await reading;
      // A cancelled reader still locks the readable; free it for a later run.
      reader.releaseLock();
    },
  };
}

function openStreamPerPingChannel(
  session: WebTransport,
  receive: Receive,
): Channel {
  const inFlight = new Set<FrameReading>();
  return {
    send: async (_seq, bytes) => {
      const stream = await session.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      const reading = readFrames(stream.readable, receive, true);
      inFlight.add(reading);
      reading.done.finally(() => {
        inFlight.delete(reading);
        writer.close().catch(() => {});
        streamReleased();
      });
      await writer.write(bytes);
    },
    close: async () => {
      for (const reading of inFlight) reading.cancel();
      await Promise.allSettled([...inFlight].map((reading) => reading.done));
    },
  };
}

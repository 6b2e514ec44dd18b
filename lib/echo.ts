/**
 * The server's `/echo` service: a plain WebTransport echo server in the manner
 * of the GoogleChrome WebTransport samples, the de facto test service of the
 * ecosystem, so any WebTransport client can check pingpong and pingpong's
 * `--echo` client can check any such server.
 *
 * - a bidirectional stream echoes its bytes back on itself, and ends when the
 *   peer's side ends;
 * - a unidirectional stream is answered, once it ends, on a new
 *   unidirectional stream with the same bytes;
 * - every datagram is sent back.
 *
 * Bounded like `/pingpong`, through the server's {@linkcode SessionHooks}
 * (a `SessionGuard`):
 *
 * - every datagram and every chunk read from a stream costs a token of the
 *   rate limit and counts as activity for the idle timeout;
 * - streams that hold data count against the stream limit: a bidirectional
 *   stream while its echoes back up (below), a unidirectional one from its
 *   first byte until its echo is sent. A stream that only waits for bytes
 *   holds none of ours, and must not count: a Deno peer never ends its
 *   streams (below), so a `--echo --mode stream-per-ping` client would
 *   otherwise be cut off at the limit. QUIC's stream credit (100 each way)
 *   bounds those;
 * - bidirectional and datagram echoes stop reading while a few are queued
 *   ({@linkcode BACKPRESSURE_AT}), so a peer that does not read stops being
 *   read; that wait is a stall, bounded in time and in number like the
 *   pingpong path's ({@linkcode waitWritable});
 * - the bytes of unidirectional streams held until they are echoed count
 *   against a per-session budget ({@linkcode EchoOptions.maxBufferedBytes});
 *   a session over it is closed as too large.
 *
 * Deno 2.9 sends no FIN on close (denoland/deno#36822), so a unidirectional
 * stream from a Deno peer never ends and is never answered; peers on aioquic,
 * wtransport or Chromium end theirs.
 *
 * @module
 */
import { streamReleased } from "./_gc.ts";
import { Budget } from "./limits.ts";
import { logger } from "./log.ts";
import {
  BACKPRESSURE_AT,
  closeWriter,
  type SessionHooks,
  waitWritable,
} from "./responder.ts";

const log = logger("echo");

/** The path the echo service answers on. */
export const ECHO_PATH = "/echo";

/** Counters an echo service keeps for its session. */
export interface EchoStats {
  /** Bytes echoed on streams, both kinds. */
  streamBytes: number;
  /** Datagrams sent back. */
  datagrams: number;
  /** Streams opened by the peer, both kinds. */
  streams: number;
}

/** Options of {@linkcode serveEcho}. */
export interface EchoOptions {
  /**
   * Most bytes of unidirectional streams one session may have held at once
   * (received and not yet echoed back). A session that goes over it is
   * closed through {@linkcode SessionHooks.oversize}, or, without hooks, the
   * stream that went over is cancelled unanswered.
   *
   * @default {DEFAULT_ECHO_BUFFER_BYTES}
   */
  maxBufferedBytes?: number;
  /**
   * Limit hooks (the server passes its `SessionGuard`): streams, rate, idle
   * timeout and the byte budget are enforced through them.
   *
   * @default {{}}
   */
  hooks?: SessionHooks;
  /**
   * Counters to update; pass one object to aggregate many sessions.
   *
   * @default {a fresh object}
   */
  stats?: EchoStats;
}

/** Default of {@linkcode EchoOptions.maxBufferedBytes}: 1 MiB. */
export const DEFAULT_ECHO_BUFFER_BYTES = 1_048_576;

/** What one session's handlers share. */
interface EchoSession {
  session: WebTransport;
  hooks: SessionHooks;
  stats: EchoStats;
  /** Bytes held by unidirectional echoes, against their limit. */
  budget: Budget;
}

/**
 * Echoes everything the peer sends on `session` until it closes. Never
 * rejects: a failure ends only its stream, or the session.
 *
 * @example
 * ```ts ignore
 * import { serveEcho } from "./echo.ts";
 * declare const session: WebTransport;
 * await serveEcho(session);
 * ```
 */
export async function serveEcho(
  session: WebTransport,
  options: EchoOptions = {},
): Promise<void> {
  const echo: EchoSession = {
    session,
    hooks: options.hooks ?? {},
    stats: options.stats ?? { streamBytes: 0, datagrams: 0, streams: 0 },
    budget: new Budget(
      options.maxBufferedBytes ?? DEFAULT_ECHO_BUFFER_BYTES,
    ),
  };
  await Promise.allSettled([
    session.closed,
    _eachStream(
      echo,
      session.incomingBidirectionalStreams,
      (stream) => _echoBidirectional(echo, stream),
    ),
    _eachStream(
      echo,
      session.incomingUnidirectionalStreams,
      (stream) => _echoUnidirectional(echo, stream),
    ),
    _echoDatagrams(echo),
  ]);
}

async function _eachStream<T>(
  echo: EchoSession,
  incoming: ReadableStream<T>,
  serve: (stream: T) => Promise<void>,
): Promise<void> {
  const reader = incoming.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      echo.stats.streams++;
      serve(value).catch((error) =>
        log.debug("echo stream failed: {error}", { error: String(error) })
      );
    }
  } catch (error) {
    log.debug("stream accept ended: {error}", { error: String(error) });
  } finally {
    reader.releaseLock();
  }
}

async function _echoBidirectional(
  echo: EchoSession,
  stream: WebTransportBidirectionalStream,
): Promise<void> {
  const { hooks } = echo;
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (hooks.ping?.() === false) return;
      echo.stats.streamBytes += value.length;
      // Not awaited, as on the pingpong path: a peer that does not read its
      // echoes stops being read once a few are queued.
      writer.write(value).catch(() => {});
      if (writer.desiredSize! <= BACKPRESSURE_AT) {
        // Open, for the stream limit, while it holds a backlog of ours.
        if (hooks.streamOpened?.() === false) return;
        try {
          if (!await waitWritable(writer, hooks, true)) return;
        } finally {
          hooks.streamClosed?.();
        }
      }
    }
    log.debug("peer ended a bidirectional stream: ending ours");
    await closeWriter(writer, hooks);
  } catch (error) {
    log.debug("bidirectional echo ended: {error}", { error: String(error) });
    await writer.abort().catch(() => {});
  } finally {
    reader.releaseLock();
    writer.releaseLock();
    streamReleased();
  }
}

async function _echoUnidirectional(
  echo: EchoSession,
  stream: ReadableStream<Uint8Array>,
): Promise<void> {
  const { budget, hooks } = echo;
  const chunks: Uint8Array[] = [];
  let size = 0;
  let open = false;
  try {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        if (hooks.ping?.() === false) return;
        // Open, for the stream limit, from its first byte until echoed.
        if (!open) {
          open = true;
          if (hooks.streamOpened?.() === false) return;
        }
        if (!budget.take(value.length)) {
          const detail =
            `echo buffer over ${budget.max} bytes: unidirectional streams are held until they end`;
          log.debug("{detail}", { detail });
          hooks.oversize?.(detail);
          await reader.cancel("too large").catch(() => {});
          return;
        }
        size += value.length;
        chunks.push(value);
      }
    } finally {
      reader.releaseLock();
      streamReleased();
    }
    log.debug("unidirectional stream of {size} bytes ended: echoing", {
      size,
    });
    const reply = await echo.session.createUnidirectionalStream();
    const writer = reply.getWriter();
    try {
      for (const chunk of chunks) await writer.write(chunk);
      await writer.close();
      echo.stats.streamBytes += size;
    } finally {
      writer.releaseLock();
      streamReleased();
    }
  } finally {
    // Held from receipt until echoed (or given up).
    budget.give(size);
    if (open) hooks.streamClosed?.();
  }
}

async function _echoDatagrams(echo: EchoSession): Promise<void> {
  const reader = echo.session.datagrams.readable.getReader();
  const writer = echo.session.datagrams.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (echo.hooks.ping?.() === false) break;
      echo.stats.datagrams++;
      // Datagrams are unreliable by contract: a failed send is a lost echo.
      writer.write(value).catch(() => {});
      if (
        writer.desiredSize! <= BACKPRESSURE_AT &&
        !await waitWritable(writer, echo.hooks, false)
      ) break;
    }
  } catch (error) {
    log.debug("datagram echo ended: {error}", { error: String(error) });
  } finally {
    reader.releaseLock();
    writer.releaseLock();
  }
}

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
 * Deno 2.9 sends no FIN on close (denoland/deno#36822), so a unidirectional
 * stream from a Deno peer never ends and is never answered; peers on aioquic,
 * wtransport or Chromium end theirs.
 *
 * @module
 */
import { streamReleased } from "./_gc.ts";
import { logger } from "./log.ts";

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
   * Most bytes a unidirectional stream may carry; longer ones are cancelled
   * unanswered, so a peer cannot make the server buffer without bound.
   *
   * @default {1048576}
   */
  maxUniBytes?: number;
  /**
   * Counters to update; pass one object to aggregate many sessions.
   *
   * @default {a fresh object}
   */
  stats?: EchoStats;
}

/** Default of {@linkcode EchoOptions.maxUniBytes}: 1 MiB. */
export const DEFAULT_MAX_UNI_BYTES = 1_048_576;

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
  const maxUniBytes = options.maxUniBytes ?? DEFAULT_MAX_UNI_BYTES;
  const stats = options.stats ?? { streamBytes: 0, datagrams: 0, streams: 0 };
  await Promise.allSettled([
    session.closed,
    _eachStream(session.incomingBidirectionalStreams, (stream) => {
      stats.streams++;
      return _echoBidirectional(stream, stats);
    }),
    _eachStream(session.incomingUnidirectionalStreams, (stream) => {
      stats.streams++;
      return _echoUnidirectional(session, stream, maxUniBytes, stats);
    }),
    _echoDatagrams(session, stats),
  ]);
}

async function _eachStream<T>(
  incoming: ReadableStream<T>,
  serve: (stream: T) => Promise<void>,
): Promise<void> {
  const reader = incoming.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
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
  stream: WebTransportBidirectionalStream,
  stats: EchoStats,
): Promise<void> {
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stats.streamBytes += value.length;
      await writer.write(value);
    }
    log.debug("peer ended a bidirectional stream: ending ours");
    await writer.close();
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
  session: WebTransport,
  stream: ReadableStream<Uint8Array>,
  maxUniBytes: number,
  stats: EchoStats,
): Promise<void> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxUniBytes) {
        log.debug("unidirectional stream over {max} bytes: not echoed", {
          max: maxUniBytes,
        });
        await reader.cancel("too large").catch(() => {});
        return;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
    streamReleased();
  }
  log.debug("unidirectional stream of {size} bytes ended: echoing", { size });
  const reply = await session.createUnidirectionalStream();
  const writer = reply.getWriter();
  try {
    for (const chunk of chunks) await writer.write(chunk);
    await writer.close();
    stats.streamBytes += size;
  } finally {
    writer.releaseLock();
    streamReleased();
  }
}

async function _echoDatagrams(
  session: WebTransport,
  stats: EchoStats,
): Promise<void> {
  const reader = session.datagrams.readable.getReader();
  const writer = session.datagrams.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stats.datagrams++;
      // Datagrams are unreliable by contract: a failed send is a lost echo.
      writer.write(value).catch(() => {});
    }
  } catch (error) {
    log.debug("datagram echo ended: {error}", { error: String(error) });
  } finally {
    reader.releaseLock();
    writer.releaseLock();
  }
}

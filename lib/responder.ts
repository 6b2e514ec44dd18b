/**
 * The server's side of one session: answers every PING with a PONG, on each
 * bidirectional stream and on datagrams.
 *
 * A malformed frame gets an ERROR and its stream is closed; the session's
 * other streams, and the process, carry on.
 *
 * Backpressure: pongs are written without waiting for each write, but a
 * stream is not read again while its writer has a few pongs queued
 * ({@linkcode BACKPRESSURE_AT}), and datagrams likewise. A peer that stops reading its
 * pongs thus stops being read: its PINGs wait in QUIC's flow-control window,
 * not in the server's memory. That wait is a stall ({@linkcode waitWritable}):
 * the session's hooks bound how long it may last and how many streams of
 * the server may be stalled at once (lib/limits.ts).
 *
 * @module
 */
import { streamReleased } from "./_gc.ts";
import {
  DecodeError,
  decodeMessage,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  encodeMessage,
  ErrorCode,
  Flag,
  FrameDecoder,
  type Message,
  MessageType,
  pongFor,
} from "./codec.ts";
import { logger } from "./log.ts";
import { datagramPongInPlace, framePongInPlace } from "./pong_in_place.ts";

const log = logger("responder");

/**
 * `desiredSize` at which a writer holds back reading: it is the high-water
 * mark (1 on a stream, `outgoingHighWaterMark` on datagrams) minus the writes
 * queued, so -3 means a stream has 4 pongs queued. The usual case (one pong
 * in flight) never waits, so the hot path gains no promise; a peer that does
 * not read its pongs leaves at most 4 messages queued per stream.
 */
export const BACKPRESSURE_AT = -3;

/** Counters a responder keeps for its session. */
export interface ResponderStats {
  /** PINGs answered (streams and datagrams). */
  pongs: number;
  /** Frames or datagrams refused as malformed. */
  malformed: number;
  /** Streams opened by the peer. */
  streams: number;
}

/**
 * Hooks through which a session's limits are enforced (see lib/limits.ts).
 * A hook returning `false` means the session was closed: stop serving.
 */
export interface SessionHooks {
  /** A stream was accepted; `false` to stop accepting. */
  streamOpened?(): boolean;
  /** A stream ended. */
  streamClosed?(): void;
  /** A PING arrived; `false` to drop it and stop. */
  ping?(): boolean;
  /** A message over the size limit arrived. */
  oversize?(detail: string): void;
  /**
   * A message other than a PING arrived, on a stream or in a datagram
   * (malformed, unexpected, or an ERROR from the peer): it costs a ping;
   * `false` to send no ERROR back and stop.
   */
  malformed?(): boolean;
  /**
   * A writer has replies queued and waits for the peer to read them (the
   * slow path of backpressure; see {@linkcode waitWritable}). `stream`: a
   * stream's writer, rather than the datagram writer.
   *
   * @returns What ends the stall (called once it ends), or `false` when the
   * session was closed: stop serving.
   */
  stallBegan?(stream: boolean): (() => void) | false;
}

/** Options of {@linkcode serveSession}. */
export interface ResponderOptions {
  /**
   * Largest message accepted on a stream or in a datagram.
   *
   * @default {65536}
   */
  maxFrameSize?: number;
  /**
   * Counters to update; pass one object to aggregate many sessions.
   *
   * @default {a fresh object}
   */
  stats?: ResponderStats;
  /**
   * Limit hooks, called as streams and PINGs arrive.
   *
   * @default {{}}
   */
  hooks?: SessionHooks;
}

/**
 * Serves one session until it closes. Never rejects: failures of the session
 * or of one stream are logged and end only that session or stream.
 *
 * @example
 * ```ts ignore
 * import { serveSession } from "./responder.ts";
 * declare const session: WebTransport;
 * await serveSession(session, { maxFrameSize: 4096 });
 * ```
 */
export async function serveSession(
  session: WebTransport,
  options: ResponderOptions = {},
): Promise<void> {
  const maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  const stats = options.stats ?? { pongs: 0, malformed: 0, streams: 0 };
  const hooks = options.hooks ?? {};
  const streams = acceptStreams(session, maxFrameSize, stats, hooks);
  const datagrams = answerDatagrams(session, maxFrameSize, stats, hooks);
  await Promise.allSettled([session.closed, streams, datagrams]);
}

async function acceptStreams(
  session: WebTransport,
  maxFrameSize: number,
  stats: ResponderStats,
  hooks: SessionHooks,
): Promise<void> {
  const reader = session.incomingBidirectionalStreams.getReader();
  try {
    for (;;) {
      const { value: stream, done } = await reader.read();
      if (done) break;
      stats.streams++;
      if (hooks.streamOpened?.() === false) break;
      answerStream(stream, maxFrameSize, stats, hooks);
    }
  } catch (error) {
    log.debug("stream accept ended: {error}", { error: String(error) });
  } finally {
    reader.releaseLock();
  }
}

/**
 * Answers PINGs on one bidirectional stream until the peer ends it.
 *
 * @internal Exported for tests.
 * @example
 * ```ts ignore
 * import { answerStream } from "./responder.ts";
 * declare const stream: WebTransportBidirectionalStream;
 * const stats = { pongs: 0, malformed: 0, streams: 1 };
 * await answerStream(stream, 65_536, stats);
 * console.log(stats.pongs); // PINGs answered before the peer ended it
 * ```
 */
export async function answerStream(
  stream: WebTransportBidirectionalStream,
  maxFrameSize: number,
  stats: ResponderStats,
  hooks: SessionHooks = {},
): Promise<void> {
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  const decoder = new FrameDecoder({ maxFrameSize });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (decoder.buffered === 0) {
        // The usual chunk is one whole PING: answer it without decoding.
        const flags = framePongInPlace(value, maxFrameSize);
        if (flags >= 0) {
          if (hooks.ping?.() === false) return;
          writer.write(value).catch(ignore);
          stats.pongs++;
          if (flags & Flag.FINAL) {
            await reader.cancel("final").catch(ignore);
            return await closeWriter(writer, hooks);
          }
          if (
            writer.desiredSize! <= BACKPRESSURE_AT &&
            !await waitWritable(writer, hooks, true)
          ) return;
          continue;
        }
      }
      let messages: Message[];
      try {
        messages = decoder.push(value);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        stats.malformed++;
        log.debug("malformed frame: {reason}", { reason: error.message });
        if (error.kind === "too-large") hooks.oversize?.(error.message);
        // Junk costs a ping, on streams as on datagrams: ERROR replies
        // never come faster than the ping rate.
        if (hooks.malformed?.() === false) return;
        // Not awaited: a peer that does not read it holds the close below,
        // where that wait is a stall like any other.
        writer.write(
          encodeFrame({
            type: MessageType.ERROR,
            code: error.errorCode,
            reason: error.message,
          }),
        ).catch(ignore);
        await reader.cancel(error.kind).catch(() => {});
        break;
      }
      for (const message of messages) {
        if (message.type === MessageType.PING) {
          if (hooks.ping?.() === false) return;
          // Not awaited one by one: a batch of PINGs is written back to back
          // (one chunk's worth at most; backpressure below).
          writer.write(encodeFrame(pongFor(message))).catch(ignore);
          stats.pongs++;
          if (message.flags & Flag.FINAL) {
            await reader.cancel("final").catch(() => {});
            return await closeWriter(writer, hooks);
          }
        } else if (message.type === MessageType.ERROR) {
          if (hooks.malformed?.() === false) return;
          log.info("peer reported error {code}: {reason}", {
            code: message.code,
            reason: message.reason,
          });
        } else {
          stats.malformed++;
          if (hooks.malformed?.() === false) return;
          writer.write(encodeFrame({
            type: MessageType.ERROR,
            code: ErrorCode.UNEXPECTED,
            reason: "a server accepts PING and ERROR only",
          })).catch(ignore);
          await reader.cancel("unexpected").catch(() => {});
          return await closeWriter(writer, hooks);
        }
      }
      if (
        writer.desiredSize! <= BACKPRESSURE_AT &&
        !await waitWritable(writer, hooks, true)
      ) return;
    }
    await closeWriter(writer, hooks);
  } catch (error) {
    log.debug("stream ended: {error}", { error: String(error) });
    await writer.abort().catch(() => {});
  } finally {
    reader.releaseLock();
    writer.releaseLock();
    streamReleased();
    hooks.streamClosed?.();
  }
}

/** Shared no-op rejection handler, so a write allocates no closure. */
function ignore(): void {}

/**
 * Waits until `writer` takes more, as a stall of the session (see
 * {@linkcode SessionHooks.stallBegan}): the slow path of backpressure, for
 * a writer with replies queued. The usual case never calls it.
 *
 * @param writer The writer with a backlog.
 * @param hooks The session's hooks.
 * @param stream Whether `writer` is a stream's, not the datagram writer.
 * @returns `false` when the session was closed instead: stop serving.
 * @throws What `writer.ready` rejects with (the stream was reset).
 * @example
 * ```ts ignore
 * import { BACKPRESSURE_AT, waitWritable } from "./responder.ts";
 * declare const writer: WritableStreamDefaultWriter<Uint8Array>;
 * if (writer.desiredSize! <= BACKPRESSURE_AT && !await waitWritable(writer, {}, true)) {
 *   // closed for a limit: stop serving
 * }
 * ```
 */
export async function waitWritable(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  hooks: SessionHooks,
  stream: boolean,
): Promise<boolean> {
  const end = hooks.stallBegan?.(stream);
  if (end === false) return false;
  try {
    await writer.ready;
  } finally {
    if (end) end();
  }
  return true;
}

/**
 * Closes a stream's `writer` once its replies are sent; never rejects. Only
 * the last reply (the usual case) may still be in flight; a backlog behind
 * it waits as a stall ({@linkcode waitWritable}), so a peer that never reads
 * cannot hold a closing stream longer than an open one.
 *
 * @example
 * ```ts ignore
 * import { closeWriter } from "./responder.ts";
 * declare const writer: WritableStreamDefaultWriter<Uint8Array>;
 * await closeWriter(writer, {});
 * ```
 */
export async function closeWriter(
  writer: WritableStreamDefaultWriter<Uint8Array>,
  hooks: SessionHooks,
): Promise<void> {
  try {
    if (writer.desiredSize! < 0 && !await waitWritable(writer, hooks, true)) {
      return;
    }
  } catch {
    return;
  }
  await writer.close().catch(() => {});
}

async function answerDatagrams(
  session: WebTransport,
  maxFrameSize: number,
  stats: ResponderStats,
  hooks: SessionHooks,
): Promise<void> {
  const reader = session.datagrams.readable.getReader();
  const writer = session.datagrams.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      if (datagramPongInPlace(value, maxFrameSize) >= 0) {
        if (hooks.ping?.() === false) break;
        writer.write(value).catch(ignore);
        stats.pongs++;
        if (
          writer.desiredSize! <= BACKPRESSURE_AT &&
          !await waitWritable(writer, hooks, false)
        ) break;
        continue;
      }
      let reply: Uint8Array;
      try {
        const message = decodeMessage(value, maxFrameSize);
        if (message.type === MessageType.PING) {
          if (hooks.ping?.() === false) break;
          reply = encodeMessage(pongFor(message));
          stats.pongs++;
        } else if (message.type === MessageType.ERROR) {
          if (hooks.malformed?.() === false) break;
          continue;
        } else {
          stats.malformed++;
          if (hooks.malformed?.() === false) break;
          reply = encodeMessage({
            type: MessageType.ERROR,
            code: ErrorCode.UNEXPECTED,
            reason: "a server accepts PING and ERROR only",
          });
        }
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        stats.malformed++;
        if (error.kind === "too-large") hooks.oversize?.(error.message);
        // Replies to junk count against the ping rate: no free amplifier.
        if (hooks.malformed?.() === false) break;
        reply = encodeMessage({
          type: MessageType.ERROR,
          code: error.errorCode,
          reason: error.kind,
        });
      }
      // Datagrams are unreliable by contract: a failed send is a lost pong.
      writer.write(reply).catch(ignore);
      if (
        writer.desiredSize! <= BACKPRESSURE_AT &&
        !await waitWritable(writer, hooks, false)
      ) break;
    }
  } catch (error) {
    log.debug("datagram loop ended: {error}", { error: String(error) });
  } finally {
    reader.releaseLock();
    writer.releaseLock();
  }
}

/**
 * The pingpong wire format, shared by client and server.
 *
 * A message is `version (u8) | type (u8) | flags (u8) | body`. On a bidirectional stream
 * each message travels as a frame: a QUIC variable-length integer (RFC 9000
 * §16) giving the message length, then the message. A datagram carries
 * exactly one message and no length prefix. See docs/protocol.md.
 *
 * @module
 */

/** The protocol version this build speaks. */
export const PROTOCOL_VERSION = 1;

/** Bytes in a PING or PONG before its padding: version, type, flags, seq, timestamp. */
export const PING_HEADER_SIZE = 19;

/** Bytes in an ERROR before its reason: version, type, flags, code. */
export const ERROR_HEADER_SIZE = 5;

/** Bits of the flags byte. Receivers ignore bits they do not know. */
export const Flag = {
  /**
   * On a PING: the sender sends nothing more on this stream, so the receiver
   * may release it after answering. The PONG repeats it. An explicit marker
   * because Deno 2.9 sends no QUIC FIN on close (denoland/deno#36822).
   */
  FINAL: 0x01,
} as const;

/** Largest message a decoder accepts unless told otherwise (64 KiB). */
export const DEFAULT_MAX_FRAME_SIZE = 65_536;

/** Longest ERROR reason, in UTF-8 bytes, that {@linkcode encodeMessage} sends. */
export const MAX_REASON_BYTES = 1024;

/** Message type numbers on the wire. */
export const MessageType = {
  PING: 0x01,
  PONG: 0x02,
  ERROR: 0x03,
} as const;

/** Codes carried by ERROR messages. */
export const ErrorCode = {
  /** The peer sent bytes that are not a valid message. */
  MALFORMED: 400,
  /** The peer sent a message longer than the receiver's maximum. */
  TOO_LARGE: 413,
  /** The peer sent a message type the receiver does not accept here. */
  UNEXPECTED: 422,
  /** The peer went over a rate or resource limit. */
  LIMIT: 429,
  /** The receiver failed for a reason of its own. */
  INTERNAL: 500,
} as const;

/**
 * Application close codes of a WebTransport session (a 32-bit number the
 * closing side sends with a reason). HTTP-like values so logs read easily.
 */
export const CloseCode = {
  /** The client is done. */
  NORMAL: 0,
  /** The session asked for a path the server does not serve. */
  NOT_FOUND: 404,
  /** The server is shutting down; reconnect (to another replica) at once. */
  GOING_AWAY: 1001,
  /** The session presented no token, or a wrong one. */
  UNAUTHORIZED: 401,
  /** The session's Origin is not on the server's allow-list. */
  FORBIDDEN: 403,
  /**
   * The session sent no message for the server's idle timeout, or left its
   * replies unread for the stall timeout.
   */
  IDLE_TIMEOUT: 408,
  /** The session sent a message over the server's size limit. */
  TOO_LARGE: 413,
  /** The session went over a rate or stream limit. */
  RATE_LIMITED: 429,
  /**
   * The server already serves as many sessions as it may, or has as many
   * streams waiting for clients that do not read; retry later.
   */
  BUSY: 503,
} as const;

/** A PING, or the PONG that answers it. */
export interface PingMessage {
  /** {@linkcode MessageType.PING} or {@linkcode MessageType.PONG}. */
  type: typeof MessageType.PING | typeof MessageType.PONG;
  /** Sequence number chosen by the pinger; the PONG repeats it. */
  seq: number;
  /** The pinger's clock when it sent the PING, in ms; the PONG repeats it. */
  timestamp: number;
  /** Filler that brings the message to the requested size; the PONG repeats it. */
  padding: Uint8Array;
  /** Bits of {@linkcode Flag}; the PONG repeats them. */
  flags: number;
}

/** An ERROR: the receiver refused something the peer sent. */
export interface ErrorMessage {
  /** {@linkcode MessageType.ERROR}. */
  type: typeof MessageType.ERROR;
  /** One of {@linkcode ErrorCode} (other values are passed through). */
  code: number;
  /** Human-readable cause. */
  reason: string;
}

/** Any message of the protocol. */
export type Message = PingMessage | ErrorMessage;

/** Why a decoder refused its input. */
export type DecodeErrorKind =
  | "truncated"
  | "too-large"
  | "version"
  | "type"
  | "invalid";

/**
 * Thrown when bytes are not a valid message or frame.
 *
 * @example Telling a malformed frame apart from other failures
 * ```ts
 * import { DecodeError, decodeMessage } from "./codec.ts";
 * try {
 *   decodeMessage(new Uint8Array([9, 1]));
 * } catch (error) {
 *   if (error instanceof DecodeError) console.log(error.kind); // "version"
 * }
 * ```
 */
export class DecodeError extends Error {
  /** What was wrong with the input. */
  readonly kind: DecodeErrorKind;

  /**
   * @param kind What was wrong with the input.
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(kind: DecodeErrorKind, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DecodeError";
    this.kind = kind;
  }

  /** The ERROR code that reports this failure to the peer. */
  get errorCode(): number {
    return this.kind === "too-large"
      ? ErrorCode.TOO_LARGE
      : ErrorCode.MALFORMED;
  }
}

const utf8Encoder = new TextEncoder();
// ignoreBOM: a reason starting with U+FEFF must keep it (the default strips
// it, so such a reason did not survive a round trip).
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const EMPTY = new Uint8Array(0);

/**
 * Makes a PING of exactly `size` bytes (at least {@linkcode PING_HEADER_SIZE}).
 *
 * @example
 * ```ts
 * import { encodeMessage, makePing } from "./codec.ts";
 * const bytes = encodeMessage(makePing(1, Date.now(), 64));
 * console.log(bytes.length); // 64
 * ```
 */
export function makePing(
  seq: number,
  timestamp: number,
  size: number = PING_HEADER_SIZE,
): PingMessage {
  if (size < PING_HEADER_SIZE) {
    throw new RangeError(
      `a PING needs at least ${PING_HEADER_SIZE} bytes, got ${size}`,
    );
  }
  const padding = size === PING_HEADER_SIZE
    ? EMPTY
    : new Uint8Array(size - PING_HEADER_SIZE);
  return { type: MessageType.PING, seq, timestamp, padding, flags: 0 };
}

/**
 * The PONG that answers `ping`: same seq, timestamp and padding.
 *
 * @example
 * ```ts
 * import { makePing, pongFor } from "./codec.ts";
 * console.log(pongFor(makePing(7, 0)).seq); // 7
 * ```
 */
export function pongFor(ping: PingMessage): PingMessage {
  return {
    type: MessageType.PONG,
    seq: ping.seq,
    timestamp: ping.timestamp,
    padding: ping.padding,
    flags: ping.flags,
  };
}

/**
 * Size of `message` on the wire, without a frame's length prefix.
 *
 * @example
 * ```ts
 * import { makePing, messageSize } from "./codec.ts";
 * console.log(messageSize(makePing(1, 0, 100))); // 100
 * ```
 */
export function messageSize(message: Message): number {
  if (message.type === MessageType.ERROR) {
    return ERROR_HEADER_SIZE + reasonBytes(message.reason).length;
  }
  return PING_HEADER_SIZE + message.padding.length;
}

function reasonBytes(reason: string): Uint8Array {
  let bytes = utf8Encoder.encode(reason);
  if (bytes.length > MAX_REASON_BYTES) {
    // Cut on a character boundary so the receiver's strict UTF-8 check passes.
    let end = MAX_REASON_BYTES;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  return bytes;
}

function checkSeq(seq: number): void {
  if (!Number.isSafeInteger(seq) || seq < 0) {
    throw new RangeError(`seq must be a non-negative safe integer, got ${seq}`);
  }
}

function writeMessage(message: Message, out: Uint8Array, at: number): void {
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[at] = PROTOCOL_VERSION;
  out[at + 1] = message.type;
  if (message.type === MessageType.ERROR) {
    out[at + 2] = 0;
    view.setUint16(at + 3, message.code & 0xffff);
    out.set(reasonBytes(message.reason), at + ERROR_HEADER_SIZE);
  } else {
    checkSeq(message.seq);
    out[at + 2] = message.flags & 0xff;
    // Two u32 halves: a BigInt per message costs more than the rest of it.
    view.setUint32(at + 3, Math.floor(message.seq / 2 ** 32));
    view.setUint32(at + 7, message.seq >>> 0);
    view.setFloat64(at + 11, message.timestamp);
    out.set(message.padding, at + PING_HEADER_SIZE);
  }
}

/**
 * Encodes one message, as sent in a datagram.
 *
 * @example
 * ```ts
 * import { encodeMessage, MessageType } from "./codec.ts";
 * const bytes = encodeMessage({ type: MessageType.ERROR, code: 400, reason: "bad" });
 * console.log(bytes.length); // 8
 * ```
 */
export function encodeMessage(message: Message): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(messageSize(message));
  writeMessage(message, out, 0);
  return out;
}

/**
 * Encodes one message as a stream frame: varint length, then the message.
 *
 * @example
 * ```ts
 * import { encodeFrame, makePing } from "./codec.ts";
 * console.log(encodeFrame(makePing(1, 0, 64)).length); // 65: 1-byte length + 64
 * ```
 */
export function encodeFrame(message: Message): Uint8Array<ArrayBuffer> {
  const size = messageSize(message);
  const prefix = varintSize(size);
  const out = new Uint8Array(prefix + size);
  writeVarint(size, out, 0);
  writeMessage(message, out, prefix);
  return out;
}

/**
 * Decodes exactly one message (a datagram, or a frame without its prefix).
 *
 * @throws {DecodeError} on truncated input, an unknown version or type,
 * trailing bytes in an ERROR that are not UTF-8, or more than `maxSize` bytes.
 * @example
 * ```ts
 * import { decodeMessage, encodeMessage, makePing } from "./codec.ts";
 * const ping = decodeMessage(encodeMessage(makePing(3, 0)));
 * console.log(ping.type, "seq" in ping && ping.seq); // 1 3
 * ```
 */
export function decodeMessage(
  bytes: Uint8Array,
  maxSize: number = DEFAULT_MAX_FRAME_SIZE,
): Message {
  if (bytes.length > maxSize) {
    throw new DecodeError(
      "too-large",
      `message of ${bytes.length} bytes is over the maximum of ${maxSize}`,
    );
  }
  if (bytes.length < 3) {
    throw new DecodeError(
      "truncated",
      `message of ${bytes.length} bytes is shorter than its 3-byte header`,
    );
  }
  if (bytes[0] !== PROTOCOL_VERSION) {
    throw new DecodeError(
      "version",
      `unknown protocol version ${
        bytes[0]
      } (this build speaks ${PROTOCOL_VERSION})`,
    );
  }
  const type = bytes[1];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (type === MessageType.PING || type === MessageType.PONG) {
    if (bytes.length < PING_HEADER_SIZE) {
      throw new DecodeError(
        "truncated",
        `${
          type === MessageType.PING ? "PING" : "PONG"
        } of ${bytes.length} bytes is shorter than its ${PING_HEADER_SIZE}-byte header`,
      );
    }
    const high = view.getUint32(3);
    if (high > 0x1f_ffff) {
      throw new DecodeError(
        "invalid",
        `sequence number ${view.getBigUint64(3)} is too large`,
      );
    }
    return {
      type,
      seq: high * 2 ** 32 + view.getUint32(7),
      timestamp: view.getFloat64(11),
      padding: bytes.subarray(PING_HEADER_SIZE),
      flags: bytes[2],
    };
  }
  if (type === MessageType.ERROR) {
    if (bytes.length < ERROR_HEADER_SIZE) {
      throw new DecodeError(
        "truncated",
        `ERROR of ${bytes.length} bytes is shorter than its ${ERROR_HEADER_SIZE}-byte header`,
      );
    }
    let reason: string;
    try {
      reason = utf8Decoder.decode(bytes.subarray(ERROR_HEADER_SIZE));
    } catch (cause) {
      throw new DecodeError("invalid", "ERROR reason is not valid UTF-8", {
        cause,
      });
    }
    return { type, code: view.getUint16(3), reason };
  }
  throw new DecodeError("type", `unknown message type 0x${hex2(type)}`);
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, "0");
}

/** Largest value a QUIC variable-length integer holds: 2^62 - 1. */
export const MAX_VARINT = 2 ** 62 - 1;

/**
 * Bytes a QUIC variable-length integer needs for `value`.
 *
 * @example
 * ```ts
 * import { varintSize } from "./codec.ts";
 * console.log(varintSize(63), varintSize(64)); // 1 2
 * ```
 */
export function varintSize(value: number): 1 | 2 | 4 | 8 {
  if (value < 0x40) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x4000_0000) return 4;
  return 8;
}

/**
 * Writes `value` as a QUIC variable-length integer at `out[at]`.
 *
 * @returns the number of bytes written.
 * @example
 * ```ts
 * import { writeVarint } from "./codec.ts";
 * const out = new Uint8Array(2);
 * writeVarint(300, out, 0);
 * console.log(out); // Uint8Array(2) [ 65, 44 ]
 * ```
 */
export function writeVarint(
  value: number,
  out: Uint8Array,
  at: number,
): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`varint must be a non-negative integer, got ${value}`);
  }
  const size = varintSize(value);
  let rest = value;
  for (let i = size - 1; i >= 0; i--) {
    out[at + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  out[at] |= [0x00, 0x40, 0, 0x80, 0, 0, 0, 0xc0][size - 1];
  return size;
}

/**
 * Reads a QUIC variable-length integer at `bytes[at]`, not past `end`.
 *
 * @returns `[value, size]`, or `undefined` if `bytes` ends before the integer does.
 * Values above 2^53 are returned inexactly; callers compare them to a limit.
 * @example
 * ```ts
 * import { readVarint } from "./codec.ts";
 * console.log(readVarint(new Uint8Array([0x41, 0x2c]), 0)); // [ 300, 2 ]
 * ```
 */
export function readVarint(
  bytes: Uint8Array,
  at: number,
  end: number = bytes.length,
): [value: number, size: number] | undefined {
  if (at >= end) return undefined;
  const size = 1 << (bytes[at] >> 6);
  if (at + size > end) return undefined;
  let value = bytes[at] & 0x3f;
  for (let i = 1; i < size; i++) value = value * 256 + bytes[at + i];
  return [value, size];
}

/** Options of {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /**
   * Largest message length accepted; a longer length prefix fails at once,
   * before its body arrives.
   *
   * @default {65536}
   */
  maxFrameSize?: number;
}

/**
 * Splits a byte stream into messages.
 *
 * Feed it chunks as they arrive; it buffers partial frames and returns the
 * complete ones. A length over `maxFrameSize` throws as soon as the prefix is
 * read, so a hostile peer cannot make it buffer without bound.
 *
 * @example
 * ```ts
 * import { encodeFrame, FrameDecoder, makePing } from "./codec.ts";
 * const frame = encodeFrame(makePing(1, 0));
 * const decoder = new FrameDecoder();
 * console.log(decoder.push(frame.subarray(0, 5)).length); // 0
 * console.log(decoder.push(frame.subarray(5)).length); // 1
 * ```
 */
export class FrameDecoder {
  readonly #maxFrameSize: number;
  #buffer: Uint8Array = EMPTY;
  #start = 0;
  #end = 0;

  /** @param options Limits; see {@linkcode FrameDecoderOptions}. */
  constructor(options: FrameDecoderOptions = {}) {
    this.#maxFrameSize = options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
  }

  /** Bytes received but not yet returned as messages. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * Adds `chunk` and returns every message it completes, in order.
   *
   * @throws {DecodeError} on the first invalid frame; the decoder should then
   * be discarded with its stream.
   */
  push(chunk: Uint8Array): Message[] {
    const messages: Message[] = [];
    let input: Uint8Array;
    let pos: number;
    let end: number;
    if (this.#start === this.#end) {
      // Fast path: nothing buffered, decode straight from the chunk.
      input = chunk;
      pos = 0;
      end = chunk.length;
    } else {
      this.#append(chunk);
      input = this.#buffer;
      pos = this.#start;
      end = this.#end;
    }
    while (pos < end) {
      const header = readVarint(input, pos, end);
      if (header === undefined) break;
      const [length, prefix] = header;
      if (length > this.#maxFrameSize) {
        throw new DecodeError(
          "too-large",
          `frame length ${length} is over the maximum of ${this.#maxFrameSize}`,
        );
      }
      if (pos + prefix + length > end) break;
      const body = input.subarray(pos + prefix, pos + prefix + length);
      // Copy so that returned messages stay valid after the buffer is reused.
      messages.push(decodeMessage(body.slice(), this.#maxFrameSize));
      pos += prefix + length;
    }
    if (input === chunk) {
      if (pos < end) {
        this.#start = 0;
        this.#end = 0;
        this.#append(chunk.subarray(pos));
      }
    } else if (pos === end) {
      this.#start = 0;
      this.#end = 0;
    } else {
      this.#start = pos;
    }
    return messages;
  }

  #append(chunk: Uint8Array): void {
    const live = this.#end - this.#start;
    if (this.#end + chunk.length > this.#buffer.length) {
      if (live + chunk.length > this.#buffer.length) {
        const next = new Uint8Array(
          Math.max(live + chunk.length, this.#buffer.length * 2, 256),
        );
        next.set(this.#buffer.subarray(this.#start, this.#end));
        this.#buffer = next;
      } else {
        this.#buffer.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buffer.set(chunk, this.#end);
    this.#end += chunk.length;
  }
}

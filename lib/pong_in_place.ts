/**
 * The server's fast path: a chunk or datagram that holds exactly one valid
 * PING becomes its PONG by changing the type byte in place, and is sent back
 * as it came. A PONG repeats the PING's seq, timestamp, flags and padding
 * (docs/protocol.md), so nothing else changes; no message object, no copy, no
 * new buffer per pong. Anything else (several frames in a chunk, a partial
 * frame, an ERROR, a malformed message) returns -1 and takes the general path
 * through {@linkcode FrameDecoder}, which also produces the error replies.
 *
 * @module
 */
import { MessageType, PING_HEADER_SIZE, PROTOCOL_VERSION } from "./codec.ts";

/**
 * If `bytes[at..]` is exactly one valid PING message, makes it the PONG in
 * place and returns the PING's flags; otherwise returns -1 and leaves
 * `bytes` untouched.
 */
function pongAt(bytes: Uint8Array, at: number): number {
  if (
    bytes.length - at < PING_HEADER_SIZE ||
    bytes[at] !== PROTOCOL_VERSION ||
    bytes[at + 1] !== MessageType.PING ||
    // seq is a u64 that must stay a safe integer (< 2^53): top 11 bits zero.
    bytes[at + 3] !== 0 || bytes[at + 4] > 0x1f
  ) {
    return -1;
  }
  bytes[at + 1] = MessageType.PONG;
  return bytes[at + 2];
}

/**
 * Turns a stream chunk that is exactly one PING frame (length prefix and
 * message) into the PONG frame, in place.
 *
 * @returns the PING's flags, or -1 when the chunk is anything else.
 * @example
 * ```ts
 * import { encodeFrame, makePing, MessageType } from "./codec.ts";
 * import { framePongInPlace } from "./pong_in_place.ts";
 * const chunk = encodeFrame(makePing(1, 0, 64));
 * console.log(framePongInPlace(chunk, 65_536)); // 0
 * console.log(chunk[2] === MessageType.PONG); // true
 * ```
 */
export function framePongInPlace(
  chunk: Uint8Array,
  maxFrameSize: number,
): number {
  if (chunk.length === 0) return -1;
  const first = chunk[0];
  const prefix = 1 << (first >> 6);
  if (prefix > 2 || chunk.length < prefix) return -1;
  const length = prefix === 1 ? first : ((first & 0x3f) << 8) | chunk[1];
  if (length !== chunk.length - prefix || length > maxFrameSize) return -1;
  return pongAt(chunk, prefix);
}

/**
 * Turns a datagram that is exactly one PING into the PONG, in place.
 *
 * @returns the PING's flags, or -1 when the datagram is anything else.
 * @example
 * ```ts
 * import { encodeMessage, makePing } from "./codec.ts";
 * import { datagramPongInPlace } from "./pong_in_place.ts";
 * console.log(datagramPongInPlace(encodeMessage(makePing(1, 0)), 65_536)); // 0
 * ```
 */
export function datagramPongInPlace(
  datagram: Uint8Array,
  maxFrameSize: number,
): number {
  if (datagram.length > maxFrameSize) return -1;
  return pongAt(datagram, 0);
}

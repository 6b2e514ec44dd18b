/**
 * Raw connections to the server's TCP port for hostile tests: HTTP/2 frames
 * written by hand over TLS (so the test itself never goes through
 * `node:http2`), plain HTTP/1.1, or a TCP connection that never speaks.
 *
 * @module
 */
import { connect as tlsConnect } from "node:tls";

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/**
 * One HTTP/2 frame: 9-byte header and payload.
 *
 * @example
 * ```ts ignore
 * const settings = h2Frame(0x4, 0, 0);
 * ```
 */
export function h2Frame(
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(),
): Uint8Array {
  const frame = new Uint8Array(9 + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length << 8);
  frame[3] = type;
  frame[4] = flags;
  view.setUint32(5, streamId & 0x7fffffff);
  frame.set(payload, 9);
  return frame;
}

/** An empty SETTINGS frame. */
export function h2Settings(): Uint8Array {
  return h2Frame(0x4, 0, 0);
}

/** A GOAWAY frame (RFC 9113 §6.8). */
export function h2Goaway(lastStreamId: number, errorCode = 0): Uint8Array {
  const payload = new Uint8Array(8);
  const view = new DataView(payload.buffer);
  view.setUint32(0, lastStreamId & 0x7fffffff);
  view.setUint32(4, errorCode);
  return h2Frame(0x7, 0, 0, payload);
}

/**
 * A HEADERS frame (END_HEADERS set) carrying `headers` as HPACK literals
 * without indexing and without Huffman coding (RFC 7541 §6.2.2): no header
 * table needed, any name or value up to 126 bytes.
 *
 * @example
 * ```ts ignore
 * h2Headers(1, [[":method", "CONNECT"], [":path", "/pingpong"]]);
 * ```
 */
export function h2Headers(
  streamId: number,
  headers: [string, string][],
): Uint8Array {
  const encoder = new TextEncoder();
  const block: number[] = [];
  for (const [name, value] of headers) {
    block.push(0x00);
    for (const text of [name, value]) {
      const bytes = encoder.encode(text);
      if (bytes.length > 126) throw new RangeError(`header too long: ${text}`);
      block.push(bytes.length, ...bytes);
    }
  }
  return h2Frame(0x1, 0x4, streamId, new Uint8Array(block));
}

/** HTTP/2 frame type of GOAWAY. */
export const H2_GOAWAY = 0x7;

/**
 * The types of the HTTP/2 frames in `bytes`, in order (a cut-off last frame
 * included).
 *
 * @example
 * ```ts ignore
 * h2FrameTypes(seen.received).includes(H2_GOAWAY);
 * ```
 */
export function h2FrameTypes(bytes: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length;) {
    types.push(bytes[at + 3]);
    at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2]);
  }
  return types;
}

/** What a raw exchange saw. */
export interface RawExchange {
  /** Every byte the server sent (after TLS). */
  received: Uint8Array;
  /** Whether the server closed the connection within the wait. */
  closedByPeer: boolean;
  /** Time from connect to close (or to giving up), ms. */
  elapsedMs: number;
}

/** Options of {@linkcode rawExchange}. */
export interface RawExchangeOptions {
  /** Address of the server. */
  hostname: string;
  /** TCP port. */
  port: number;
  /** Bytes to send once connected (none: stay silent). */
  send?: Uint8Array;
  /** Do TLS first, with these ALPN protocols (default: plain TCP). */
  tls?: { alpn: string[] };
  /** Give up waiting for the server to close after this long, ms. */
  waitMs: number;
}

/**
 * Connects, sends `send`, and reads until the server closes or `waitMs`
 * passes; the connection is closed in every case.
 *
 * @example
 * ```ts ignore
 * const seen = await rawExchange({ hostname: "127.0.0.1", port, waitMs: 2000 });
 * ```
 */
export function rawExchange(options: RawExchangeOptions): Promise<RawExchange> {
  return options.tls ? _overTls(options) : _overTcp(options);
}

function _concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, c) => sum + c.length, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

function _overTls(options: RawExchangeOptions): Promise<RawExchange> {
  const started = performance.now();
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let closedByPeer = false;
    const socket = tlsConnect({
      host: options.hostname,
      port: options.port,
      ALPNProtocols: options.tls!.alpn,
      rejectUnauthorized: false,
    });
    const timer = setTimeout(() => socket.destroy(), options.waitMs);
    socket.once("secureConnect", () => {
      if (options.send) socket.write(options.send);
    });
    socket.on("data", (chunk: Uint8Array) => chunks.push(chunk));
    socket.once("end", () => closedByPeer = true);
    socket.on("error", () => closedByPeer = true);
    socket.once("close", () => {
      clearTimeout(timer);
      resolve({
        received: _concat(chunks),
        closedByPeer,
        elapsedMs: performance.now() - started,
      });
    });
  });
}

async function _overTcp(options: RawExchangeOptions): Promise<RawExchange> {
  const started = performance.now();
  const conn = await Deno.connect({
    hostname: options.hostname,
    port: options.port,
  });
  const chunks: Uint8Array[] = [];
  let closedByPeer = false;
  let gaveUp = false;
  const timer = setTimeout(() => {
    gaveUp = true;
    try {
      conn.close();
    } catch {
      // Closed by the server meanwhile.
    }
  }, options.waitMs);
  try {
    if (options.send) await conn.write(options.send);
    const buffer = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buffer).catch(() => undefined);
      if (n === undefined) {
        // Reset by the server, or closed by the timer.
        closedByPeer = !gaveUp;
        break;
      }
      if (n === null) {
        closedByPeer = true;
        break;
      }
      chunks.push(buffer.slice(0, n));
    }
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
  return {
    received: _concat(chunks),
    closedByPeer,
    elapsedMs: performance.now() - started,
  };
}

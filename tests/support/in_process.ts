/**
 * An in-process server and raw client sessions for tests of lib/ modules
 * over real QUIC on loopback (no subprocess).
 *
 * @module
 */
import { parseCertHash } from "../../lib/certificates.ts";
import {
  PingPongServer,
  type PingPongServerOptions,
} from "../../lib/server_core.ts";
import { connectWebTransport } from "../../lib/transport.ts";

/** A PingPongServer on 127.0.0.1 and a free port, shut down on dispose. */
export async function startInProcessServer(
  options: PingPongServerOptions = {},
): Promise<PingPongServer & AsyncDisposable> {
  const server = await PingPongServer.start({
    hostname: "127.0.0.1",
    port: 0,
    ...options,
  });
  return Object.assign(server, {
    [Symbol.asyncDispose]: () => server.shutdown(100),
  });
}

/** Opens a session to `server` (at `path`, default its own), pinning its hash. */
export async function openSession(
  server: PingPongServer,
  path?: string,
): Promise<WebTransport & Disposable> {
  const url = new URL(server.url);
  if (path !== undefined) url.pathname = path;
  const { session } = await connectWebTransport(url.href, {
    certHash: parseCertHash(server.certificate.hash),
    timeoutMs: 5000,
  });
  return Object.assign(session, {
    [Symbol.dispose]: () => {
      try {
        session.close();
      } catch {
        // Already closed by the test or the server.
      }
    },
  });
}

/** Reads from `reader` until `decode` yields `n` messages or the stream ends. */
export async function readMessages<T>(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  decode: (chunk: Uint8Array) => T[],
  n: number,
): Promise<T[]> {
  const out: T[] = [];
  while (out.length < n) {
    const { value, done } = await reader.read();
    if (done) break;
    out.push(...decode(value));
  }
  return out;
}

/**
 * Writes `chunk` on a new bidirectional stream of `session` whenever the
 * stream takes more, never reading anything back (a peer that does not read
 * its replies), until `until` settles or `ms` pass. The writes are paced
 * (5 ms ticks), not readiness waits.
 *
 * @returns How many chunks the stream took.
 */
export async function writeWithoutReading(
  session: WebTransport,
  chunk: Uint8Array,
  until: Promise<unknown>,
  ms = 10_000,
): Promise<number> {
  let settled = false;
  until.then(() => settled = true, () => settled = true);
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  let accepted = 0;
  const deadline = performance.now() + ms;
  try {
    while (!settled && performance.now() < deadline) {
      if (writer.desiredSize! > 0) {
        writer.write(chunk).then(() => accepted++, () => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    writer.releaseLock();
  }
  return accepted;
}

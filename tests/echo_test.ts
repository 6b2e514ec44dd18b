import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { type EchoStats, serveEcho } from "../lib/echo.ts";
import { runPings } from "../lib/pinger.ts";
import {
  connectWebTransport,
  type IncomingSession,
  listenWebTransport,
} from "../lib/transport.ts";

/** A listener on loopback whose sessions go to `serve`, and a client session to it. */
async function connectedPair(serve: (session: WebTransport) => Promise<void>) {
  const certificate = await generateCertificate();
  const served: Promise<void>[] = [];
  const listener = listenWebTransport({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session }: IncomingSession) => served.push(serve(session)),
  });
  const { session } = await connectWebTransport(
    `https://127.0.0.1:${listener.addr.port}/echo`,
    { certHash: parseCertHash(certificate.hash), timeoutMs: 5000 },
  );
  return {
    session,
    async [Symbol.asyncDispose]() {
      session.close();
      // Bounded clean-up: the server's handlers end soon after the close.
      await Promise.race([
        Promise.allSettled(served),
        new Promise((resolve) => setTimeout(resolve, 1000)),
      ]);
      listener.close();
    },
  };
}

Deno.test("serveEcho() returns a bidirectional stream's bytes on the same stream, and every datagram", async (t) => {
  const stats: EchoStats = { streamBytes: 0, datagrams: 0, streams: 0 };
  await using pair = await connectedPair((session) =>
    serveEcho(session, { stats })
  );
  const { session } = pair;
  await t.step("bidirectional stream", async () => {
    const stream = await session.createBidirectionalStream();
    const writer = stream.writable.getWriter();
    const reader = stream.readable.getReader();
    const sent = new Uint8Array(3000).map((_, i) => i * 13);
    await writer.write(sent);
    const received: number[] = [];
    while (received.length < sent.length) {
      const { value, done } = await reader.read();
      assert.ok(!done, "stream ended before the echo did");
      received.push(...value);
    }
    assert.deepEqual(new Uint8Array(received), sent);
    assert.equal(stats.streams, 1);
    reader.cancel().catch(() => {});
    writer.releaseLock();
  });
  await t.step("datagrams", async () => {
    const writer = session.datagrams.writable.getWriter();
    const reader = session.datagrams.readable.getReader();
    const sent = new TextEncoder().encode("datagram echo");
    // Datagrams may be dropped: resend (a bounded number of times) until one returns.
    for (let attempt = 0; attempt < 5; attempt++) {
      await writer.write(sent);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        reader.read(),
        new Promise<undefined>((resolve) =>
          timer = setTimeout(() => resolve(undefined), 1000)
        ),
      ]);
      clearTimeout(timer);
      if (result?.value) {
        assert.deepEqual(result.value, sent);
        break;
      }
    }
    assert.ok(stats.datagrams >= 1);
    reader.releaseLock();
    writer.releaseLock();
  });
});

Deno.test("runPings({ echo: true }) counts an echo that differs from the PING as lost and reports it", async () => {
  // A faulty echo server: every datagram comes back with its last byte flipped.
  await using pair = await connectedPair(async (session) => {
    const reader = session.datagrams.readable.getReader();
    const writer = session.datagrams.writable.getWriter();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        value[value.length - 1] ^= 0xff;
        writer.write(value).catch(() => {});
      }
    } catch {
      // The session closed.
    }
  });
  const errors: string[] = [];
  const stats = await runPings(pair.session, {
    echo: true,
    mode: "datagram",
    count: 3,
    intervalMs: 0,
    timeoutMs: 500,
    onError: (_code, reason) => errors.push(reason),
  });
  assert.equal(stats.summary().received, 0);
  assert.ok(
    errors.some((reason) => /echo of seq 1 differs/.test(reason)),
    errors.join("; "),
  );
});

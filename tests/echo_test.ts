import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { CloseCode } from "../lib/codec.ts";
import { ECHO_PATH, type EchoStats, serveEcho } from "../lib/echo.ts";
import { SessionGuard } from "../lib/limits.ts";
import { runPings } from "../lib/pinger.ts";
import {
  ConnectError,
  connectWebTransport,
  type IncomingSession,
  listenWebTransport,
} from "../lib/transport.ts";
import {
  openSession,
  startInProcessServer,
  writeWithoutReading,
} from "./support/in_process.ts";
import { within } from "./support/poll.ts";

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

Deno.test("/echo runs under the server's limits: an idle echo session is closed with 408", async () => {
  await using server = await startInProcessServer({
    limits: { idleTimeoutMs: 1000 },
  });
  using session = await openSession(server, ECHO_PATH);
  const info = await within(session.closed, 5000);
  assert.equal(info?.closeCode, CloseCode.IDLE_TIMEOUT);
  assert.equal(info?.reason, "idle: no message for 1 s");
  assert.equal(server.refusals.get(CloseCode.IDLE_TIMEOUT), 1);
});

Deno.test("/echo: a bidirectional stream whose echoes are never read closes its session with 408 at the stall timeout", async () => {
  await using server = await startInProcessServer({
    limits: { stallTimeoutMs: 300 },
  });
  using session = await openSession(server, ECHO_PATH);
  const closed = within(session.closed, 10_000);
  await writeWithoutReading(
    session,
    new Uint8Array(65_000).fill(7),
    closed,
    10_000,
  );
  const info = await closed;
  assert.equal(info?.closeCode, CloseCode.IDLE_TIMEOUT);
  assert.equal(info?.reason, "stalled: not reading its echoes for 0.3 s");
  assert.equal(server.stalledStreams, 0);
});

Deno.test("/echo: datagrams past --max-ping-rate close the session with 429", async () => {
  await using server = await startInProcessServer({
    limits: { maxPingsPerSecond: 20 },
  });
  using session = await openSession(server, ECHO_PATH);
  const writer = session.datagrams.writable.getWriter();
  for (let i = 0; i < 100; i++) {
    writer.write(new Uint8Array([i])).catch(() => {});
    // Paced a little so the datagrams are not all lost to the socket buffer.
    if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const info = await within(session.closed, 5000);
  assert.equal(info?.closeCode, CloseCode.RATE_LIMITED);
  assert.equal(info?.reason, "too many messages: at most 20 a second");
});

Deno.test("/echo: unidirectional streams held open count against --max-streams (429)", async () => {
  await using server = await startInProcessServer({
    limits: { maxStreams: 3 },
  });
  using session = await openSession(server, ECHO_PATH);
  for (let i = 0; i < 6; i++) {
    // A Deno peer never ends them (no FIN): each holds its bytes.
    const stream = await within(session.createUnidirectionalStream(), 1000)
      .catch(() => undefined);
    if (!stream) break;
    stream.getWriter().write(new Uint8Array(10)).catch(() => {});
  }
  const info = await within(session.closed, 5000);
  assert.equal(info?.closeCode, CloseCode.RATE_LIMITED);
  assert.equal(info?.reason, "too many streams: at most 3 open at once");
});

Deno.test("serveEcho() closes a session whose held unidirectional bytes go over its budget with 413", async () => {
  let guard: SessionGuard | undefined;
  await using pair = await connectedPair((session) => {
    guard = new SessionGuard(
      {
        maxSessions: 0,
        maxStreams: 0,
        maxPingsPerSecond: 0,
        idleTimeoutMs: 0,
        stallTimeoutMs: 0,
        maxStalled: 0,
      },
      (refusal) => session.close(refusal),
    );
    return serveEcho(session, { hooks: guard, maxBufferedBytes: 1000 });
  });
  const stream = await pair.session.createUnidirectionalStream();
  stream.getWriter().write(new Uint8Array(3000)).catch(() => {});
  const info = await within(pair.session.closed, 5000);
  guard?.dispose();
  assert.equal(info?.closeCode, CloseCode.TOO_LARGE);
  assert.match(info?.reason ?? "", /^echo buffer over 1000 bytes/);
});

Deno.test("PingPongServer with echo: false refuses /echo with 404", async () => {
  await using server = await startInProcessServer({ echo: false });
  await assert.rejects(
    openSession(server, ECHO_PATH),
    (error) => error instanceof ConnectError && error.closeCode === 404,
  );
});

import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { CloseCode } from "../lib/codec.ts";
import {
  isRefusal,
  MODES,
  runPings,
  SessionClosedError,
} from "../lib/pinger.ts";
import { RttStats } from "../lib/stats.ts";
import { listenWebTransport } from "../lib/transport.ts";
import { openSession, startInProcessServer } from "./support/in_process.ts";
import { parseCertHash } from "../lib/certificates.ts";
import { connectWebTransport } from "../lib/transport.ts";

Deno.test("runPings() gets every pong back in each mode", async (t) => {
  await using server = await startInProcessServer();
  for (const mode of MODES) {
    await t.step(mode, async () => {
      using session = await openSession(server);
      const replies: number[] = [];
      const stats = await runPings(session, {
        mode,
        count: 10,
        intervalMs: 0,
        size: 100,
        onReply: (seq, rtt, bytes) => {
          assert.ok(rtt > 0);
          assert.equal(bytes, 100);
          replies.push(seq);
        },
      });
      assert.deepEqual(replies, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.equal(stats.summary().received, 10);
    });
  }
});

Deno.test("runPings() continues sequence numbers and statistics across runs", async () => {
  await using server = await startInProcessServer();
  const stats = new RttStats();
  const seqs: number[] = [];
  for (const firstSeq of [1, 4]) {
    using session = await openSession(server);
    await runPings(session, {
      count: 3,
      intervalMs: 0,
      firstSeq,
      stats,
      onReply: (seq) => seqs.push(seq),
    });
  }
  assert.deepEqual(seqs, [1, 2, 3, 4, 5, 6]);
  assert.equal(stats.summary().transmitted, 6);
});

Deno.test("runPings() counts pings with no pong as timeouts", async () => {
  // A server that accepts sessions but never answers.
  const certificate = await generateCertificate();
  const held: WebTransport[] = [];
  const listener = listenWebTransport({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session }) => held.push(session),
  });
  try {
    const { session } = await connectWebTransport(
      `https://127.0.0.1:${listener.addr.port}/pingpong`,
      { certHash: parseCertHash(certificate.hash) },
    );
    const timeouts: number[] = [];
    const stats = await runPings(session, {
      mode: "datagram",
      count: 3,
      intervalMs: 10,
      timeoutMs: 100,
      onTimeout: (seq) => timeouts.push(seq),
    });
    assert.deepEqual(timeouts, [1, 2, 3]);
    assert.deepEqual(stats.summary().loss, 1);
    session.close();
  } finally {
    listener.close();
  }
});

Deno.test("runPings() stops early when its signal aborts", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const controller = new AbortController();
  const stats = await runPings(session, {
    count: Infinity,
    intervalMs: 0,
    signal: controller.signal,
    onReply: (seq) => {
      if (seq === 5) controller.abort();
    },
  });
  assert.equal(stats.summary().received, 5);
});

Deno.test("runPings() throws SessionClosedError with the server's close code", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  await assert.rejects(
    runPings(session, {
      count: Infinity,
      intervalMs: 20,
      onReply: (seq) => {
        if (seq === 2) server.shutdown(100);
      },
    }),
    (error: unknown) => {
      assert.ok(error instanceof SessionClosedError);
      assert.equal(error.closeCode, CloseCode.GOING_AWAY);
      assert.match(error.message, /server shutting down/);
      return true;
    },
  );
});

Deno.test("runPings() takes back the ping in flight when the server refuses the session: no timeout, nothing transmitted", async () => {
  // A server that refuses the session once a ping arrives (as one that checks
  // the path or token after the handshake does), so a ping is surely in flight.
  const certificate = await generateCertificate();
  const listener = listenWebTransport({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: async ({ session }) => {
      const reader = session.incomingBidirectionalStreams.getReader();
      await reader.read();
      session.close({ closeCode: CloseCode.UNAUTHORIZED, reason: "no" });
    },
  });
  try {
    const { session } = await connectWebTransport(
      `https://127.0.0.1:${listener.addr.port}/pingpong`,
      { certHash: parseCertHash(certificate.hash) },
    );
    const stats = new RttStats();
    const timeouts: number[] = [];
    await assert.rejects(
      runPings(session, {
        count: 1,
        timeoutMs: 5000,
        stats,
        onTimeout: (seq) => timeouts.push(seq),
      }),
      (error: unknown) =>
        error instanceof SessionClosedError &&
        error.closeCode === CloseCode.UNAUTHORIZED,
    );
    assert.deepEqual(timeouts, []);
    assert.equal(stats.summary().transmitted, 0);
  } finally {
    listener.close();
  }
});

Deno.test("runPings() cut off by a rate limit keeps what was answered and takes back what was in flight", async () => {
  await using server = await startInProcessServer({
    limits: { maxPingsPerSecond: 20 },
  });
  for (const mode of MODES) {
    using session = await openSession(server);
    const stats = new RttStats();
    const timeouts: number[] = [];
    await assert.rejects(
      runPings(session, {
        mode,
        count: 1000,
        intervalMs: 0,
        timeoutMs: 5000,
        stats,
        onTimeout: (seq) => timeouts.push(seq),
      }),
      (error: unknown) =>
        error instanceof SessionClosedError &&
        error.closeCode === CloseCode.RATE_LIMITED,
    );
    const summary = stats.summary();
    assert.deepEqual(timeouts, [], mode);
    assert.ok(summary.received > 0, mode);
    assert.equal(summary.transmitted, summary.received, mode);
  }
});

Deno.test("isRefusal() tells a refusal from a loss", () => {
  for (
    const code of [
      CloseCode.NOT_FOUND,
      CloseCode.UNAUTHORIZED,
      CloseCode.FORBIDDEN,
      CloseCode.TOO_LARGE,
      CloseCode.RATE_LIMITED,
      CloseCode.BUSY,
    ]
  ) assert.ok(isRefusal(code), String(code));
  for (
    const code of [
      undefined,
      CloseCode.NORMAL,
      CloseCode.GOING_AWAY,
      CloseCode.IDLE_TIMEOUT,
    ]
  ) assert.ok(!isRefusal(code), String(code));
});

Deno.test("runPings() refuses a datagram size above the path's limit", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  await assert.rejects(
    runPings(session, { mode: "datagram", count: 1, size: 60_000 }),
    /datagram limit/,
  );
});

Deno.test("runPings() sends keep-alive probes between pings far apart, answered but not counted", async (t) => {
  await using server = await startInProcessServer();
  for (const mode of MODES) {
    await t.step(mode, async () => {
      using session = await openSession(server);
      let alive = 0;
      const replies: number[] = [];
      const stats = await runPings(session, {
        mode,
        count: 2,
        intervalMs: 400,
        keepAliveMs: 50,
        onAlive: () => alive++,
        onReply: (seq) => replies.push(seq),
      });
      assert.deepEqual(replies, [1, 2]);
      assert.equal(stats.summary().transmitted, 2);
      // 400 ms between the pings, a probe after every 50 ms of quiet
      // (checked every 25): several probe replies besides the 2 pongs.
      assert.ok(alive >= 2 + 3, `${alive} messages came back`);
    });
  }
  await t.step("no probes by default", async () => {
    using session = await openSession(server);
    let alive = 0;
    await runPings(session, {
      count: 2,
      intervalMs: 200,
      onAlive: () => alive++,
    });
    assert.equal(alive, 2);
  });
});

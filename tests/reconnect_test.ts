import assert from "node:assert/strict";
import { parseCertHash } from "../lib/cert_hash.ts";
import { generateCertificate } from "../lib/certificates.ts";
import { CloseCode } from "../lib/codec.ts";
import { SessionClosedError } from "../lib/pinger.ts";
import {
  DeadPathDetector,
  keepAliveFor,
  missedSlots,
  pingWithReconnect,
  RECONNECT_DEFAULTS,
  ReconnectFailedError,
  type ReconnectInfo,
} from "../lib/reconnect.ts";
import type { PingPongServer } from "../lib/server_core.ts";
import { ConnectError, connectWebTransport } from "../lib/transport.ts";
import type { TransportSession } from "../lib/transport_select.ts";
import { startInProcessServer } from "./support/in_process.ts";
import { serveSession } from "../lib/responder.ts";
import { listenWebTransportH2 } from "../lib/transport_h2.ts";

Deno.test("DeadPathDetector counts silence from the server's last sign of life, not from the first unanswered ping", () => {
  const detector = new DeadPathDetector(3000, 0);
  detector.alive(500); // the last pong
  detector.sent(2500); // the next ping, never answered
  // Dead 3 s after the pong at 500, not 3 s after the ping at 2500.
  assert.equal(detector.isDead(3499), false);
  assert.equal(detector.isDead(3500), true);
  detector.sent(4000); // a later ping changes nothing
  assert.equal(detector.isDead(3500), true);
});

Deno.test("DeadPathDetector calls nothing dead while nothing was sent since the last sign of life", () => {
  const detector = new DeadPathDetector(3000, 0);
  assert.equal(detector.isDead(60_000), false, "nothing sent");
  detector.sent(50);
  detector.alive(100); // answered
  assert.equal(detector.isDead(60_000), false);
  detector.sent(60_000);
  assert.equal(detector.isDead(60_000), true, "silent since 100");
});

Deno.test("DeadPathDetector takes the session's start as its first sign of life", () => {
  const detector = new DeadPathDetector(3000, 1000);
  detector.sent(1001);
  assert.equal(detector.isDead(3999), false);
  assert.equal(detector.isDead(4000), true);
});

Deno.test("keepAliveFor() probes only when pings are more than a third of --dead-after apart", () => {
  assert.equal(keepAliveFor(0, 3000), Infinity);
  assert.equal(keepAliveFor(1000, 3000), Infinity);
  assert.equal(keepAliveFor(1001, 3000), 1000);
  assert.equal(keepAliveFor(2500, 3000), 1000);
  assert.equal(keepAliveFor(3_600_000, 3000), 1000);
  assert.equal(keepAliveFor(200, 300), 100);
});

/**
 * When a detector notices a server that stops answering at `failAt`, for
 * pings `intervalMs` apart and keep-alive probes as runPings sends them
 * (after `keepAliveFor()` of quiet, checked every half of it), with a round
 * trip of `rttMs`. Simulated on a 10 ms clock: no real time passes.
 */
function detectionTime(
  intervalMs: number,
  failAt: number,
  rttMs = 1,
  deadAfterMs = 3000,
): number | undefined {
  const detector = new DeadPathDetector(deadAfterMs, 0);
  const keepAliveMs = keepAliveFor(intervalMs, deadAfterMs);
  const replies: number[] = [];
  let lastSentAt = -Infinity;
  let nextPing = 0;
  let nextCheck = keepAliveMs / 2;
  const send = (t: number) => {
    lastSentAt = t;
    detector.sent(t);
    if (t < failAt) replies.push(t + rttMs);
  };
  for (let t = 0; t <= 300_000; t += 10) {
    while (replies.length > 0 && replies[0] <= t) {
      detector.alive(replies.shift()!);
    }
    if (t >= nextPing) {
      send(t);
      nextPing += intervalMs;
    }
    if (t >= nextCheck) {
      if (t - lastSentAt >= keepAliveMs) send(t);
      nextCheck += keepAliveMs / 2;
    }
    if (detector.isDead(t)) return t;
  }
  return undefined;
}

Deno.test("a dead path is noticed within --dead-after of the failure whatever the interval", () => {
  for (const intervalMs of [100, 1000, 2500, 10_000, 60_000]) {
    for (const failAt of [20_000, 20_400, 21_000, 22_490, 27_770]) {
      const at = detectionTime(intervalMs, failAt);
      assert.ok(at !== undefined, `-i ${intervalMs / 1000}: never noticed`);
      assert.ok(
        at - failAt <= 3000,
        `-i ${intervalMs / 1000}, failure at ${failAt}: noticed after ${
          at - failAt
        } ms`,
      );
    }
  }
});

Deno.test("a live path with round trips up to 1.5 s is never called dead", () => {
  for (const intervalMs of [100, 1000, 2500, 10_000, 60_000]) {
    for (const rttMs of [1, 500, 1500]) {
      assert.equal(
        detectionTime(intervalMs, Infinity, rttMs),
        undefined,
        `-i ${intervalMs / 1000}, rtt ${rttMs} ms`,
      );
    }
  }
});

Deno.test("RECONNECT_DEFAULTS detect within 3 s and cap one delay at 5 s", () => {
  assert.equal(RECONNECT_DEFAULTS.deadAfterMs, 3000);
  assert.equal(RECONNECT_DEFAULTS.maxDelayMs, 5000);
  assert.ok(RECONNECT_DEFAULTS.maxRetries >= 1);
});

Deno.test("missedSlots() counts the intervals strictly between the last ping and the new session", () => {
  assert.equal(missedSlots(1000, 6050, 100, Infinity), 50); // 1100 ... 6000
  assert.equal(missedSlots(1000, 6000, 100, Infinity), 49); // 6000 is the next ping
  assert.equal(missedSlots(1000, 1050, 100, Infinity), 0);
});

Deno.test("missedSlots() stops at the pings left and counts none back to back", () => {
  assert.equal(missedSlots(0, 10_000, 100, 7), 7);
  assert.equal(missedSlots(0, 10_000, 0, Infinity), 0);
});

/** Opens a real session to an in-process server, as connectTransport would. */
async function sessionTo(server: PingPongServer): Promise<TransportSession> {
  const { session, handshakeMs } = await connectWebTransport(server.url, {
    certHash: parseCertHash(server.certificate.hash),
  });
  return { session, handshakeMs, transport: "h3" };
}

const NOT_BACK_YET = () =>
  Promise.reject(new ConnectError("timeout", "no answer (not back yet)"));

/**
 * A run of 6 pings, 20 ms apart, whose first session ends after pong 3 by
 * `cut`; the first reconnect attempt fails, the second reaches `second`.
 * Records the connects and the backoff sleeps in order.
 */
async function cutAndReconnect(
  cut: (first: { server: PingPongServer; session: WebTransport }) => void,
) {
  await using first = await startInProcessServer();
  await using second = await startInProcessServer();
  const steps: string[] = [];
  const attempts = [
    () => sessionTo(first),
    NOT_BACK_YET,
    () => sessionTo(second),
  ];
  let session: WebTransport | undefined;
  const reconnects: ReconnectInfo[] = [];
  const result = await pingWithReconnect({
    url: first.url,
    count: 6,
    intervalMs: 20,
    random: () => 0.5,
    connect: async () => {
      steps.push("connect");
      const connected = await attempts.shift()!();
      session ??= connected.session;
      return connected;
    },
    sleep: (ms) => {
      steps.push(`sleep ${ms}`);
      return Promise.resolve();
    },
    onReply: (seq) => {
      if (seq === 3) cut({ server: first, session: session! });
    },
    onReconnect: (info) => reconnects.push(info),
  });
  return { steps, result, reconnects };
}

Deno.test("pingWithReconnect() after a going-away close retries at once, with no backoff", async () => {
  const { steps, result, reconnects } = await cutAndReconnect(
    ({ server }) => void server.shutdown(100),
  );
  // The first session, then two attempts back to back: no sleep between.
  assert.deepEqual(steps, ["connect", "connect", "connect"]);
  assert.equal(reconnects.length, 1);
  assert.equal(reconnects[0].attempts, 2);
  assert.match(reconnects[0].reason, /code 1001/);
  assert.equal(result.failure, undefined);
  assert.equal(result.stats.transmitted, 6);
  assert.ok(result.stats.receivedCount >= 3);
});

Deno.test("pingWithReconnect() after another loss backs off before its second attempt", async () => {
  const { steps, reconnects } = await cutAndReconnect(({ session }) =>
    session.close({ closeCode: 4000, reason: "cut by the test" })
  );
  // Full jitter at 0.5 of the first ceiling (250 ms): 125 ms.
  assert.deepEqual(steps, ["connect", "connect", "sleep 125", "connect"]);
  assert.equal(reconnects[0].attempts, 2);
  assert.doesNotMatch(reconnects[0].reason, /code 1001/);
});

Deno.test("pingWithReconnect() ends with the statistics so far and why, when it may not reconnect", async () => {
  await using server = await startInProcessServer();
  const result = await pingWithReconnect({
    url: server.url,
    count: 100,
    intervalMs: 10,
    policy: { enabled: false },
    connect: () => sessionTo(server),
    onReply: (seq) => {
      if (seq === 3) void server.shutdown(100);
    },
  });
  assert.ok(result.failure instanceof SessionClosedError);
  assert.equal(result.failure.closeCode, CloseCode.GOING_AWAY);
  assert.ok(result.stats.receivedCount >= 3);
  assert.ok(result.stats.transmitted < 100);
});

Deno.test("pingWithReconnect() ends with the statistics so far and why, when retries run out", async () => {
  await using server = await startInProcessServer();
  const sleeps: number[] = [];
  let connects = 0;
  const result = await pingWithReconnect({
    url: server.url,
    count: 100,
    intervalMs: 10,
    policy: { maxRetries: 3 },
    random: () => 0.5,
    connect: () => ++connects === 1 ? sessionTo(server) : NOT_BACK_YET(),
    sleep: (ms) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
    onReply: (seq) => {
      if (seq === 3) void server.shutdown(100);
    },
  });
  assert.ok(result.failure instanceof ReconnectFailedError);
  assert.match(result.failure.message, /gave up after 3 attempts/);
  // Going away: the first retry at once, then 0.5 of the 250 ms ceiling.
  assert.deepEqual(sleeps, [125]);
  assert.ok(result.stats.receivedCount >= 3);
});

/** A loopback UDP port nothing listens on: a server that is down. */
function deadUrl(): string {
  const socket = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const { port } = socket.addr as Deno.NetAddr;
  socket.close();
  return `https://127.0.0.1:${port}/pingpong`;
}

/** Options for fast runs: short connect deadline, no backoff wait. */
const FAST = {
  transport: "h3",
  connectTimeoutMs: 300,
  count: 2,
  intervalMs: 0,
  random: () => 0,
} as const;

Deno.test("pingWithReconnect() with retryFirst moves past a first server that is down", async () => {
  await using server = await startInProcessServer();
  const certHash = parseCertHash(server.certificate.hash);
  const dead = deadUrl();
  const connected: string[] = [];
  const { stats } = await pingWithReconnect({
    ...FAST,
    url: dead,
    certHash,
    servers: [{ url: server.url, certHash }],
    retryFirst: true,
    onConnected: (_ms, _transport, url) => connected.push(url),
  });
  assert.deepEqual(connected, [server.url]);
  assert.equal(stats.summary().received, 2);
  // Without retryFirst the first server's failure ends the run.
  await assert.rejects(
    pingWithReconnect({
      ...FAST,
      url: dead,
      certHash,
      servers: [{ url: server.url, certHash }],
    }),
    { name: "ConnectError", kind: "timeout" },
  );
});

Deno.test("pingWithReconnect() with retryFirst gives up after the policy's attempts, naming the servers", async () => {
  const [a, b] = [deadUrl(), deadUrl()];
  const started = performance.now();
  const error = await pingWithReconnect({
    ...FAST,
    url: a,
    servers: [{ url: b }],
    retryFirst: true,
    policy: { maxRetries: 3 },
  }).catch((error) => error);
  assert.ok(error instanceof ReconnectFailedError, String(error));
  const hosts = [a, b].map((url) => new URL(url).host).join(", ");
  assert.match(
    error.message,
    new RegExp(`^no server answered \\(${hosts}\\); gave up after 3 attempts`),
  );
  // Three attempts of 300 ms each, no backoff wait (random 0).
  assert.ok(performance.now() - started < 3000);
  // Each server is tried once even when --max-retries allows fewer.
  await assert.rejects(
    pingWithReconnect({
      ...FAST,
      url: a,
      servers: [{ url: b }],
      retryFirst: true,
      policy: { maxRetries: 1 },
    }),
    { name: "ReconnectFailedError", message: /gave up after 2 attempts/ },
  );
});

Deno.test("pingWithReconnect() with retryFirst stops at a rejected certificate instead of trying the next server", async () => {
  await using server = await startInProcessServer();
  const right = parseCertHash(server.certificate.hash);
  const wrong = new Uint8Array(32);
  const connected: string[] = [];
  await assert.rejects(
    pingWithReconnect({
      ...FAST,
      url: server.url,
      certHash: wrong,
      servers: [{ url: server.url, certHash: right }],
      retryFirst: true,
      onConnected: (_ms, _transport, url) => connected.push(url),
    }),
    (error) => error instanceof ConnectError && error.kind === "certificate",
  );
  assert.deepEqual(connected, []);
});

Deno.test("pingWithReconnect() over HTTP/2 fails at once when the reconnect is refused with 404", async () => {
  const certificate = await generateCertificate();
  const sessions: WebTransport[] = [];
  const listener = await listenWebTransportH2({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session }) => {
      sessions.push(session);
      if (sessions.length === 1) {
        serveSession(session);
      } else {
        // As a server restarted with another --path answers.
        session.close({
          closeCode: CloseCode.NOT_FOUND,
          reason: "not found: /pingpong",
        });
      }
    },
  });
  try {
    const started = performance.now();
    const { failure } = await pingWithReconnect({
      url: `https://127.0.0.1:${listener.addr.port}/pingpong`,
      certHash: parseCertHash(certificate.hash),
      transport: "h2",
      count: 1000,
      intervalMs: 10,
      // The first session goes away after a few pongs: reconnect at once.
      onReply: (seq) => {
        if (seq === 3) {
          sessions[0].close({
            closeCode: CloseCode.GOING_AWAY,
            reason: "restarting",
          });
        }
      },
    });
    // The run ends with the refusal as its failure, not a retry.
    assert.ok(
      failure instanceof ConnectError && failure.kind === "closed" &&
        failure.closeCode === CloseCode.NOT_FOUND,
      String(failure),
    );
    // One reconnect reached the server, and was not tried again.
    assert.equal(sessions.length, 2);
    assert.ok(performance.now() - started < 1500);
  } finally {
    listener.close();
  }
});

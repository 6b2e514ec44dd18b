import assert from "node:assert/strict";
import { parseCertHash } from "../lib/cert_hash.ts";
import {
  DeadPathDetector,
  missedSlots,
  pingWithReconnect,
  RECONNECT_DEFAULTS,
  ReconnectFailedError,
} from "../lib/reconnect.ts";
import { ConnectError } from "../lib/transport.ts";
import { startInProcessServer } from "./support/in_process.ts";

Deno.test("DeadPathDetector calls a path dead only after deadAfterMs of silence with pings outstanding", () => {
  const detector = new DeadPathDetector(3000);
  assert.equal(detector.isDead(10_000), false, "nothing sent: not dead");
  detector.sent(1000);
  detector.sent(2000); // a later ping does not restart the clock
  assert.equal(detector.isDead(3999), false);
  assert.equal(detector.isDead(4000), true);
});

Deno.test("DeadPathDetector starts over from the first ping after a pong", () => {
  const detector = new DeadPathDetector(3000);
  detector.sent(0);
  detector.replied();
  assert.equal(detector.isDead(5000), false);
  detector.sent(5000);
  assert.equal(detector.isDead(7999), false);
  assert.equal(detector.isDead(8000), true);
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

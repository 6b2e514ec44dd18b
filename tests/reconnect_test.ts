import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { CloseCode } from "../lib/codec.ts";
import {
  DeadPathDetector,
  missedSlots,
  pingWithReconnect,
  RECONNECT_DEFAULTS,
} from "../lib/reconnect.ts";
import { serveSession } from "../lib/responder.ts";
import { ConnectError } from "../lib/transport.ts";
import { listenWebTransportH2 } from "../lib/transport_h2.ts";

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
    await assert.rejects(
      pingWithReconnect({
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
      }),
      (error: unknown) =>
        error instanceof ConnectError && error.kind === "closed" &&
        error.closeCode === CloseCode.NOT_FOUND,
    );
    // One reconnect reached the server, and was not tried again.
    assert.equal(sessions.length, 2);
    assert.ok(performance.now() - started < 1500);
  } finally {
    listener.close();
  }
});

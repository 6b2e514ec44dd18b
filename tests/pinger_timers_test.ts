import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { parseCertHash } from "../lib/cert_hash.ts";
import { runPings, SessionClosedError } from "../lib/pinger.ts";
import { connectWebTransport } from "../lib/transport.ts";

/** A real WebTransport server on loopback that reads but never answers. */
async function silentServer() {
  const certificate = await generateCertificate();
  const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
  const listener = endpoint.listen({
    cert: certificate.certPem,
    key: certificate.keyPem,
    alpnProtocols: ["h3"],
  });
  (async () => {
    for await (const incoming of listener) {
      (async () => {
        const session = await Deno.upgradeWebTransport(await incoming.accept());
        session.closed.catch(() => {});
        const reader = session.datagrams.readable.getReader();
        while (!(await reader.read()).done) { /* drop every datagram */ }
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    url: `https://127.0.0.1:${endpoint.addr.port}/silent`,
    hash: certificate.hash,
    close: () => endpoint.close(),
  };
}

/** A session to a fresh silent server; both closed on dispose. */
async function silentSession() {
  const server = await silentServer();
  const { session } = await connectWebTransport(server.url, {
    certHash: parseCertHash(server.hash),
  });
  return {
    session,
    [Symbol.dispose]: () => {
      try {
        session.close();
      } catch {
        // Closed by the test.
      }
      server.close();
    },
  };
}

Deno.test("runPings() counts each unanswered ping as lost once, after its timeout", async () => {
  using silent = await silentSession();
  const timedOut: number[] = [];
  const started = performance.now();
  const stats = await runPings(silent.session, {
    mode: "datagram",
    count: 3,
    intervalMs: 50,
    timeoutMs: 300,
    onTimeout: (seq) => timedOut.push(seq),
  });
  const elapsed = performance.now() - started;
  assert.deepEqual(timedOut, [1, 2, 3]);
  assert.equal(stats.summary().received, 0);
  assert.equal(stats.summary().transmitted, 3);
  // The last ping leaves at ~100 ms and is lost 300 ms later, not before.
  assert.ok(elapsed >= 390, `ended after ${elapsed} ms`);
});

Deno.test("runPings() stops at once when its signal aborts during a wait", async () => {
  using silent = await silentSession();
  for (const intervalMs of [0, 60_000]) {
    const controller = new AbortController();
    const run = runPings(silent.session, {
      mode: "datagram",
      count: 5,
      intervalMs,
      timeoutMs: 60_000,
      signal: controller.signal,
      onTimeout: (seq) => assert.fail(`seq ${seq} reported lost`),
    });
    setTimeout(() => controller.abort(), 100);
    const started = performance.now();
    const stats = await run;
    assert.ok(
      performance.now() - started < 30_000,
      `interval ${intervalMs}: still waiting after abort`,
    );
    // The one ping sent was in flight, its reply not due for a minute: an
    // interrupt takes it back rather than count it lost (as ping(8) does).
    assert.deepEqual(
      stats.summary(),
      { transmitted: 0, received: 0, loss: 0, rtt: undefined },
      `interval ${intervalMs}`,
    );
  }
});

Deno.test("runPings() interrupted counts a ping past its timeout as lost and takes back the others", async () => {
  using silent = await silentSession();
  const controller = new AbortController();
  const timedOut: number[] = [];
  // A ping every 300 ms with a 450 ms timeout, interrupted as seq 3 leaves
  // (at 600 ms): seq 1 was due at 450 and is lost; seq 2 is not due before
  // 750 and seq 3 was just sent: both are taken back. 150 ms either side.
  const stats = await runPings(silent.session, {
    mode: "datagram",
    count: 10,
    intervalMs: 300,
    timeoutMs: 450,
    signal: controller.signal,
    onTimeout: (seq) => timedOut.push(seq),
    onSend: (seq) => {
      if (seq === 3) controller.abort();
    },
  });
  assert.deepEqual(timedOut, [1]);
  assert.equal(stats.summary().transmitted, 1);
  assert.equal(stats.summary().received, 0);
});

Deno.test("runPings() abandoned reports every ping in flight as lost", async () => {
  using silent = await silentSession();
  const abandon = new AbortController();
  const timedOut: number[] = [];
  const stats = await runPings(silent.session, {
    mode: "datagram",
    count: 10,
    intervalMs: 10,
    timeoutMs: 60_000,
    abandon: abandon.signal,
    onTimeout: (seq) => timedOut.push(seq),
    onSend: (seq) => {
      if (seq === 3) abandon.abort();
    },
  });
  assert.deepEqual(timedOut, [1, 2, 3]);
  assert.deepEqual(stats.summary().transmitted, 3);
  assert.deepEqual(stats.summary().loss, 1);
});

Deno.test("runPings() reports the pings in flight as lost when the session ends", async () => {
  using silent = await silentSession();
  const timedOut: number[] = [];
  await assert.rejects(
    runPings(silent.session, {
      mode: "datagram",
      count: 10,
      intervalMs: 10,
      timeoutMs: 60_000,
      onTimeout: (seq) => timedOut.push(seq),
      onSend: (seq) => {
        if (seq === 3) silent.session.close();
      },
    }),
    SessionClosedError,
  );
  assert.deepEqual(timedOut, [1, 2, 3]);
});

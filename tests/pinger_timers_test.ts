import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { runPings } from "../lib/pinger.ts";
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

Deno.test("runPings() counts each unanswered ping as lost once, after its timeout", async () => {
  const server = await silentServer();
  const { session } = await connectWebTransport(server.url, {
    certHash: Uint8Array.from(
      server.hash.match(/../g)!.map((h) => parseInt(h, 16)),
    ),
  });
  try {
    const timedOut: number[] = [];
    const started = performance.now();
    const stats = await runPings(session, {
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
  } finally {
    session.close();
    server.close();
  }
});

Deno.test("runPings() stops at once when its signal aborts during a wait", async () => {
  const server = await silentServer();
  const { session } = await connectWebTransport(server.url, {
    certHash: Uint8Array.from(
      server.hash.match(/../g)!.map((h) => parseInt(h, 16)),
    ),
  });
  try {
    for (const intervalMs of [0, 60_000]) {
      const controller = new AbortController();
      const run = runPings(session, {
        mode: "datagram",
        count: 5,
        intervalMs,
        timeoutMs: 60_000,
        signal: controller.signal,
      });
      setTimeout(() => controller.abort(), 100);
      const started = performance.now();
      const stats = await run;
      assert.ok(
        performance.now() - started < 30_000,
        `interval ${intervalMs}: still waiting after abort`,
      );
      assert.equal(stats.summary().transmitted, 1, `interval ${intervalMs}`);
    }
  } finally {
    session.close();
    server.close();
  }
});

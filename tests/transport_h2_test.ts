import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { runPings } from "../lib/pinger.ts";
import { serveSession } from "../lib/responder.ts";
import { ConnectError } from "../lib/transport.ts";
import {
  connectWebTransportH2,
  listenWebTransportH2,
} from "../lib/transport_h2.ts";

async function withListener(
  body: (
    url: string,
    certificate: Awaited<ReturnType<typeof generateCertificate>>,
  ) => Promise<void>,
): Promise<void> {
  const certificate = await generateCertificate();
  const listener = await listenWebTransportH2({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session }) => serveSession(session),
    httpHandler: (request) =>
      new Response(`page for ${new URL(request.url).pathname}`),
  });
  try {
    await body(`https://127.0.0.1:${listener.addr.port}`, certificate);
  } finally {
    listener.close();
  }
}

Deno.test("connectWebTransportH2() carries 300 stream-per-ping pings, past the library's 100-stream credit", async () => {
  await withListener(async (origin, certificate) => {
    const { session } = await connectWebTransportH2(`${origin}/pingpong`, {
      certHash: parseCertHash(certificate.hash),
      timeoutMs: 5000,
    });
    try {
      const stats = await runPings(session, {
        mode: "stream-per-ping",
        count: 300,
        intervalMs: 0,
        timeoutMs: 5000,
      });
      assert.equal(stats.summary().received, 300);
    } finally {
      session.close();
    }
  });
});

Deno.test("connectWebTransportH2() survives a cancelled datagram reader when the session closes", async () => {
  await withListener(async (origin, certificate) => {
    for (let round = 0; round < 2; round++) {
      const { session } = await connectWebTransportH2(`${origin}/pingpong`, {
        certHash: parseCertHash(certificate.hash),
      });
      const stats = await runPings(session, {
        mode: "datagram",
        count: 10,
        intervalMs: 0,
      });
      assert.equal(stats.summary().received, 10);
      session.close();
      await session.closed.catch(() => {});
    }
  });
});

Deno.test("connectWebTransportH2() rejects a wrong pinned hash with kind certificate", async () => {
  await withListener(async (origin) => {
    await assert.rejects(
      connectWebTransportH2(`${origin}/pingpong`, {
        certHash: parseCertHash("ab".repeat(32)),
        timeoutMs: 5000,
      }),
      (error: unknown) =>
        error instanceof ConnectError && error.kind === "certificate" &&
        /check --cert-hash/.test(error.message),
    );
  });
});

Deno.test("connectWebTransportH2() reports a closed TCP port with kind refused", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  await assert.rejects(
    connectWebTransportH2(`https://127.0.0.1:${port}/pingpong`, {
      timeoutMs: 5000,
    }),
    (error: unknown) =>
      error instanceof ConnectError && error.kind === "refused",
  );
});

Deno.test("listenWebTransportH2() answers GET requests with its httpHandler over TLS", async () => {
  await withListener(async (origin, certificate) => {
    using client = Deno.createHttpClient({ caCerts: [certificate.certPem] });
    const response = await fetch(`${origin}/some/page`, { client });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "page for /some/page");
  });
});

Deno.test("listenWebTransportH2() refuses a TCP port that is taken", async () => {
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await assert.rejects(
      listenWebTransportH2({
        hostname: "127.0.0.1",
        port: (taken.addr as Deno.NetAddr).port,
        certificate: await generateCertificate(),
        onSession: () => {},
      }),
      /cannot listen on TCP 127\.0\.0\.1:\d+: address already in use/,
    );
  } finally {
    taken.close();
  }
});

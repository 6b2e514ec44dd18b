import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { serveSession } from "../lib/responder.ts";
import { ConnectError } from "../lib/transport.ts";
import {
  connectTransport,
  listenTransports,
  type Transport,
} from "../lib/transport_select.ts";
import { openTcpOnlyPath } from "./support/tcp_only.ts";

async function withServer(
  body: (port: number, hash: string, seen: Transport[]) => Promise<void>,
): Promise<void> {
  const certificate = await generateCertificate();
  const seen: Transport[] = [];
  const listener = await listenTransports({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session, transport }) => {
      seen.push(transport);
      serveSession(session);
    },
  });
  try {
    await body(listener.addr.port, certificate.hash, seen);
  } finally {
    listener.close();
  }
}

Deno.test("listenTransports() serves HTTP/3 and HTTP/2 on one port number", async () => {
  await withServer(async (port, hash, seen) => {
    for (const transport of ["h3", "h2"] as const) {
      const connected = await connectTransport(
        `https://127.0.0.1:${port}/pingpong`,
        { transport, certHash: parseCertHash(hash) },
      );
      assert.equal(connected.transport, transport);
      connected.session.close();
    }
    assert.deepEqual(seen, ["h3", "h2"]);
  });
});

Deno.test("connectTransport() auto keeps HTTP/3 when UDP gets through", async () => {
  await withServer(async (port, hash) => {
    const connected = await connectTransport(
      `https://127.0.0.1:${port}/pingpong`,
      { certHash: parseCertHash(hash) },
    );
    assert.equal(connected.transport, "h3");
    connected.session.close();
  });
});

Deno.test("connectTransport() auto starts HTTP/2 after raceDelayMs when UDP is black-holed", async () => {
  await withServer(async (port, hash, seen) => {
    await using path = openTcpOnlyPath({ hostname: "127.0.0.1", port });
    const connected = await connectTransport(
      `https://127.0.0.1:${path.port}/pingpong`,
      { certHash: parseCertHash(hash), raceDelayMs: 200, timeoutMs: 5000 },
    );
    assert.equal(connected.transport, "h2");
    assert.ok(connected.handshakeMs >= 200, `${connected.handshakeMs} ms`);
    assert.deepEqual(seen, ["h2"]);
    connected.session.close();
  });
});

Deno.test("connectTransport() auto names both transports when neither answers", async () => {
  const sink = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const port = (sink.addr as Deno.NetAddr).port;
    await assert.rejects(
      connectTransport(`https://127.0.0.1:${port}/pingpong`, {
        timeoutMs: 500,
        raceDelayMs: 50,
      }),
      (error: unknown) =>
        error instanceof ConnectError &&
        /^HTTP\/3: .*; HTTP\/2: .*refused/.test(error.message),
    );
  } finally {
    sink.close();
  }
});

Deno.test("connectTransport() h3 alone suggests --transport h2 on a timeout", async () => {
  const sink = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  try {
    const port = (sink.addr as Deno.NetAddr).port;
    await assert.rejects(
      connectTransport(`https://127.0.0.1:${port}/pingpong`, {
        transport: "h3",
        timeoutMs: 300,
      }),
      (error: unknown) =>
        error instanceof ConnectError && error.kind === "timeout" &&
        /try --transport h2/.test(error.message),
    );
  } finally {
    sink.close();
  }
});

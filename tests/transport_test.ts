import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { serveSession } from "../lib/responder.ts";
import { runPings } from "../lib/pinger.ts";
import {
  connectableHost,
  connectWebTransport,
  listenWebTransport,
} from "../lib/transport.ts";

Deno.test("connectableHost() turns a wildcard into loopback of its family", () => {
  assert.equal(connectableHost("::"), "::1");
  assert.equal(connectableHost("0:0:0:0:0:0:0:0"), "::1");
  assert.equal(connectableHost("0.0.0.0"), "127.0.0.1");
  assert.equal(connectableHost("::1"), "::1");
  assert.equal(connectableHost("192.0.2.7"), "192.0.2.7");
  assert.equal(connectableHost("fe80::1"), "fe80::1");
  assert.equal(connectableHost("pp.example"), "pp.example");
});

Deno.test("connectWebTransport() reaches an IPv6 literal over HTTP/3", async () => {
  // Deno's WebTransport alone fails with "invalid server name: [::1]".
  const certificate = await generateCertificate();
  const listener = listenWebTransport({
    hostname: "::1",
    port: 0,
    certificate,
    onSession: ({ session }) => serveSession(session),
  });
  try {
    const url = `https://[::1]:${listener.addr.port}/pingpong`;
    const { session } = await connectWebTransport(url, {
      certHash: parseCertHash(certificate.hash),
      timeoutMs: 5000,
    });
    const stats = await runPings(session, {
      count: 3,
      intervalMs: 0,
      timeoutMs: 5000,
    });
    session.close();
    assert.equal(stats.summary().received, 3);
    // URL#hostname is itself again afterwards.
    assert.equal(new URL(url).hostname, "[::1]");
  } finally {
    listener.close();
  }
});

import assert from "node:assert/strict";
import { parseCertHash } from "../lib/cert_hash.ts";
import { generateCertificate } from "../lib/certificates.ts";
import { runPings } from "../lib/pinger.ts";
import { serveSession } from "../lib/responder.ts";
import {
  connectableHost,
  ConnectError,
  type ConnectErrorKind,
  connectWebTransport,
  formatHostPort,
  formatSeconds,
  listenWebTransport,
} from "../lib/transport.ts";
import { startInProcessServer } from "./support/in_process.ts";

const URL_ = "https://10.1.2.3:4433/pingpong";

/**
 * A session whose handshake ends as `ready` says and whose `closed` carries
 * `closeInfo` (or fails), through connectWebTransport's `createSession`
 * hook: what Deno's WebTransport reports, fed to the classification.
 */
function session(
  ready: Promise<void>,
  closeInfo?: WebTransportCloseInfo,
): () => WebTransport {
  return () => {
    ready.catch(() => {});
    const closed = closeInfo
      ? Promise.resolve(closeInfo)
      : Promise.reject(new Error("closed"));
    closed.catch(() => {});
    return { ready, closed, close: () => {} } as unknown as WebTransport;
  };
}

async function failure(
  createSession: () => WebTransport,
  options: {
    timeoutMs?: number;
    signal?: AbortSignal;
    certHash?: Uint8Array<ArrayBuffer>;
  } = {},
): Promise<ConnectError> {
  try {
    await connectWebTransport(URL_, { createSession, ...options });
  } catch (error) {
    assert.ok(error instanceof ConnectError, String(error));
    assert.ok(!error.message.includes("\n"), "one line");
    return error;
  }
  throw new Error("connected");
}

Deno.test("connectWebTransport() classifies handshake failures by what went wrong", async () => {
  const cases: [string, ConnectErrorKind, RegExp][] = [
    [
      "invalid peer certificate: UnknownIssuer",
      "certificate",
      /^certificate of 10\.1\.2\.3:4433 rejected: not trusted by the system CA store \(pass --cert-hash\)$/,
    ],
    [
      "invalid peer certificate: NotValidForName",
      "certificate",
      /rejected: NotValidForName \(check --cert-hash\)$/,
    ],
    ["certificate expired", "certificate", /rejected: certificate expired/],
    [
      "connection timed out",
      "timeout",
      /^no answer from 10\.1\.2\.3:4433: connection timed out$/,
    ],
    [
      "Connection refused (os error 111)",
      "refused",
      /^10\.1\.2\.3:4433 refused the connection: Connection refused/,
    ],
    ["connection reset by peer", "refused", /refused the connection/],
    ["Network is unreachable", "refused", /refused the connection/],
    [
      "Bad resource ID",
      "network",
      /^cannot connect to 10\.1\.2\.3:4433: Bad resource ID$/,
    ],
  ];
  for (const [text, kind, message] of cases) {
    const error = await failure(session(Promise.reject(new Error(text))));
    assert.equal(error.kind, kind, text);
    assert.match(error.message, message);
    assert.equal((error.cause as Error).message, text);
  }
});

Deno.test("connectWebTransport() with a pinned hash reads UnknownIssuer as a hash that does not match", async () => {
  const error = await failure(
    session(
      Promise.reject(new Error("invalid peer certificate: UnknownIssuer")),
    ),
    { certHash: parseCertHash("ab".repeat(32)) },
  );
  assert.equal(error.kind, "certificate");
  assert.equal(
    error.message,
    "certificate of 10.1.2.3:4433 rejected: it does not match the pinned hash (check --cert-hash)",
  );
});

Deno.test("connectWebTransport() reports a server's close during the handshake with its code and reason", async () => {
  const error = await failure(
    session(Promise.reject(new Error("Bad resource ID")), {
      closeCode: 404,
      reason: "no such path",
    }),
  );
  assert.equal(error.kind, "closed");
  assert.equal(error.closeCode, 404);
  assert.equal(error.reason, "no such path");
  assert.equal(
    error.message,
    "10.1.2.3:4433 closed the session with code 404: no such path",
  );
});

Deno.test("connectWebTransport() gives up at its timeout, and when its signal aborts", async () => {
  const never = new Promise<void>(() => {});
  const timedOut = await failure(session(never), { timeoutMs: 50 });
  assert.equal(timedOut.kind, "timeout");
  assert.equal(
    timedOut.message,
    "no answer from 10.1.2.3:4433 within 0.05 s (is the server running and UDP reachable?)",
  );
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 10);
  const aborted = await failure(session(never), {
    timeoutMs: 60_000,
    signal: controller.signal,
  });
  assert.equal(aborted.kind, "aborted");
});

Deno.test("connectWebTransport() reports a session that cannot even be made as a network error", async () => {
  const error = await failure(() => {
    throw new TypeError("Invalid URL");
  });
  assert.equal(error.kind, "network");
  assert.equal(error.message, "cannot connect to 10.1.2.3:4433: Invalid URL");
});

Deno.test("connectWebTransport() over real QUIC: a wrong pin is a certificate error", async () => {
  await using server = await startInProcessServer();
  await assert.rejects(
    connectWebTransport(server.url, {
      certHash: parseCertHash("ab".repeat(32)),
      timeoutMs: 5000,
    }),
    (error: unknown) => {
      assert.ok(error instanceof ConnectError);
      assert.equal(error.kind, "certificate");
      assert.match(error.message, /\(check --cert-hash\)$/);
      return true;
    },
  );
});

Deno.test("formatHostPort() brackets IPv6 and formatSeconds() trims zeros", () => {
  assert.equal(formatHostPort("::1", 4433), "[::1]:4433");
  assert.equal(formatHostPort("127.0.0.1", 1), "127.0.0.1:1");
  assert.equal(formatSeconds(2000), "2 s");
  assert.equal(formatSeconds(1500), "1.5 s");
  assert.equal(formatSeconds(50), "0.05 s");
});

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

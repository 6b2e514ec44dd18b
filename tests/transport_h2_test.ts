import assert from "node:assert/strict";
import {
  type CertificateBundle,
  generateCertificate,
  parseCertHash,
} from "../lib/certificates.ts";
import { runPings } from "../lib/pinger.ts";
import { serveSession } from "../lib/responder.ts";
import { ConnectError } from "../lib/transport.ts";
import {
  connectWebTransportH2,
  listenWebTransportH2,
  requestUrl,
} from "../lib/transport_h2.ts";
import {
  H2_PREFACE,
  h2Headers,
  h2Settings,
  rawExchange,
} from "./support/raw_tcp.ts";

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

Deno.test("requestUrl() reads a CONNECT's path whatever its authority", () => {
  // node:http2 clients send an IPv6 authority without brackets.
  assert.equal(
    requestUrl("/pingpong?token=t", "::1:4433").href,
    "https://[::1]:4433/pingpong?token=t",
  );
  assert.equal(
    requestUrl("/pingpong", "[::1]:4433").href,
    "https://[::1]:4433/pingpong",
  );
  assert.equal(
    requestUrl("/pingpong", "127.0.0.1:4433").href,
    "https://127.0.0.1:4433/pingpong",
  );
  for (const authority of [undefined, "", "a b", "evil/path", "user@host"]) {
    const url = requestUrl("/pingpong?x=1", authority);
    assert.equal(url.host, "localhost", String(authority));
    assert.equal(url.pathname + url.search, "/pingpong?x=1");
  }
  assert.throws(() => requestUrl("http://[", "localhost:1"), TypeError);
});

Deno.test("listenWebTransportH2() closes a session whose path makes no URL with 404 and goes on serving", async () => {
  const certificate = await generateCertificate();
  const paths: string[] = [];
  const listener = await listenWebTransportH2({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session, url }) => {
      paths.push(url.pathname);
      serveSession(session);
    },
  });
  try {
    const seen = await rawExchange({
      hostname: "127.0.0.1",
      port: listener.addr.port,
      tls: { alpn: ["h2"] },
      send: new Uint8Array([
        ...H2_PREFACE,
        ...h2Settings(),
        ...h2Headers(1, [
          [":method", "CONNECT"],
          [":protocol", "webtransport"],
          [":scheme", "https"],
          // Passes nghttp2's checks; a backslash reads as a slash in a URL,
          // which makes "//[" with host "[".
          [":path", "/\\["],
          [":authority", "::1:4433"],
        ]),
      ]),
      waitMs: 1500,
    });
    // WT_CLOSE_SESSION capsule (type 0x2843) with code 404.
    assert.ok(
      indexOf(seen.received, [0x68, 0x43]) >= 0 &&
        indexOf(seen.received, [0x00, 0x00, 0x01, 0x94]) >= 0,
      "no CLOSE_SESSION with 404",
    );
    assert.deepEqual(paths, []);
    // The listener serves the next session as usual.
    const { session } = await connectWebTransportH2(
      `https://127.0.0.1:${listener.addr.port}/pingpong`,
      { certHash: parseCertHash(certificate.hash), timeoutMs: 5000 },
    );
    const stats = await runPings(session, {
      count: 3,
      intervalMs: 0,
      timeoutMs: 5000,
    });
    session.close();
    assert.equal(stats.summary().received, 3);
    assert.deepEqual(paths, ["/pingpong"]);
  } finally {
    listener.close();
  }
});

function indexOf(haystack: Uint8Array, needle: number[]): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

async function withGuardedListener(
  options: { handshakeTimeoutMs: number; maxPendingHandshakes?: number },
  body: (port: number, certificate: CertificateBundle) => Promise<void>,
): Promise<void> {
  const certificate = await generateCertificate();
  const listener = await listenWebTransportH2({
    hostname: "127.0.0.1",
    port: 0,
    certificate,
    onSession: ({ session }) => serveSession(session),
    ...options,
  });
  try {
    await body(listener.addr.port, certificate);
  } finally {
    listener.close();
  }
}

Deno.test("listenWebTransportH2() answers HTTP/1.1 with 505 and closes the connection", async () => {
  await withGuardedListener({ handshakeTimeoutMs: 5000 }, async (port) => {
    const seen = await rawExchange({
      hostname: "127.0.0.1",
      port,
      tls: { alpn: ["http/1.1"] },
      send: new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
      ),
      waitMs: 4000,
    });
    const text = new TextDecoder().decode(seen.received);
    assert.match(text, /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/);
    assert.match(text, /curl --http2/);
    assert.ok(seen.closedByPeer);
    assert.ok(seen.elapsedMs < 4000, `${seen.elapsedMs} ms`);
  });
});

Deno.test("listenWebTransportH2() closes TCP connections that open no stream within handshakeTimeoutMs", async (t) => {
  await withGuardedListener({ handshakeTimeoutMs: 300 }, async (port) => {
    await t.step("a connection that never starts TLS", async () => {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port,
        waitMs: 5000,
      });
      assert.ok(seen.closedByPeer);
      assert.ok(seen.elapsedMs >= 250 && seen.elapsedMs < 5000);
    });
    await t.step("TLS and the HTTP/2 preface, then silence", async () => {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port,
        tls: { alpn: ["h2"] },
        send: new Uint8Array([...H2_PREFACE, ...h2Settings()]),
        waitMs: 5000,
      });
      assert.ok(seen.closedByPeer);
      assert.ok(seen.elapsedMs >= 250 && seen.elapsedMs < 5000);
    });
  });
});

Deno.test("listenWebTransportH2() keeps a connection whose session stays open past handshakeTimeoutMs", async () => {
  await withGuardedListener(
    { handshakeTimeoutMs: 200 },
    async (port, certificate) => {
      const { session } = await connectWebTransportH2(
        `https://127.0.0.1:${port}/pingpong`,
        { certHash: parseCertHash(certificate.hash), timeoutMs: 5000 },
      );
      try {
        // 8 pings 100 ms apart: 4 times the timeout.
        const stats = await runPings(session, {
          count: 8,
          intervalMs: 100,
          timeoutMs: 2000,
        });
        assert.equal(stats.summary().received, 8);
      } finally {
        session.close();
      }
    },
  );
});

Deno.test("listenWebTransportH2() refuses TCP connections past maxPendingHandshakes", async () => {
  await withGuardedListener(
    { handshakeTimeoutMs: 10_000, maxPendingHandshakes: 2 },
    async (port) => {
      const held = [
        await Deno.connect({ hostname: "127.0.0.1", port }),
        await Deno.connect({ hostname: "127.0.0.1", port }),
      ];
      try {
        // Both are accepted before the third arrives.
        const third = await rawExchange({
          hostname: "127.0.0.1",
          port,
          waitMs: 5000,
        });
        assert.ok(third.closedByPeer);
        assert.ok(third.elapsedMs < 5000, `${third.elapsedMs} ms`);
      } finally {
        for (const conn of held) conn.close();
      }
    },
  );
});

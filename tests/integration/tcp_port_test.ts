/**
 * The server's TCP port (HTTP/2 and the page) against clients that do not
 * speak HTTP/2, or nothing at all, and when the port is busy.
 */
import assert from "node:assert/strict";
import { runServer, startServer } from "../support/processes.ts";
import { rawExchange } from "../support/raw_tcp.ts";

Deno.test("server.ts's TCP port answers HTTP/1.1 with 505 and cuts silent connections after --handshake-timeout", async (t) => {
  await using server = await startServer({
    args: ["--handshake-timeout", "1"],
  });

  await t.step("HTTP/1.1 (curl --http1.1) is told to use HTTP/2", async () => {
    const seen = await rawExchange({
      hostname: "127.0.0.1",
      port: server.port,
      tls: { alpn: ["http/1.1"] },
      send: new TextEncoder().encode(
        "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: curl/8\r\n\r\n",
      ),
      waitMs: 5000,
    });
    assert.match(
      new TextDecoder().decode(seen.received),
      /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/,
    );
    assert.ok(seen.closedByPeer, "connection left open");
  });

  await t.step(
    "a TCP connection that never starts TLS is closed after 1 s",
    async () => {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port: server.port,
        waitMs: 10_000,
      });
      assert.ok(seen.closedByPeer, "connection left open");
      assert.ok(
        seen.elapsedMs >= 900 && seen.elapsedMs < 10_000,
        `${seen.elapsedMs} ms`,
      );
    },
  );

  await t.step("the server logged why, and stops cleanly", async () => {
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0);
    assert.ok(
      server.stderr.some((line) =>
        /closed TCP connection from .*no HTTP\/2 stream.* within 1000 ms/
          .test(line)
      ),
      server.stderr.join("\n"),
    );
  });
});

Deno.test("server.ts with only its TCP port busy retries, then exits 1 naming TCP", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    const { code, stderr } = await runServer([], { port });
    assert.equal(code, 1, stderr);
    const last = stderr.trim().split("\n").at(-1)!;
    const match = new RegExp(
      `^pingpong-server: cannot listen on TCP 127\\.0\\.0\\.1:${port}: address already in use \\(gave up after (\\d+) attempts in [\\d.]+ s\\)$`,
    ).exec(last);
    assert.ok(match, last);
    assert.ok(Number(match[1]) >= 2, "it never retried");
    assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
  } finally {
    held.close();
  }
});

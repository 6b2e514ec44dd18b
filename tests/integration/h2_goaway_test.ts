import assert from "node:assert/strict";
import {
  expectAllPongs,
  runClient,
  startServer,
} from "../support/processes.ts";
import {
  H2_GOAWAY,
  H2_PREFACE,
  h2FrameTypes,
  h2Goaway,
  h2Settings,
  rawExchange,
} from "../support/raw_tcp.ts";

// Deno 2.9's node:http2 frees an HTTP/2 session from inside nghttp2's own
// callback when a GOAWAY arrives on a connection with no open stream
// (denoland/deno#36788); what happens next depends on what reused the memory.
// glibc's MALLOC_PERTURB_ overwrites freed memory at once, which turns that
// use-after-free into a crash on the first GOAWAY: without lib/http2_guard.ts
// this server dies in the first step.
const PERTURB = { MALLOC_PERTURB_: "165" };

Deno.test("the server survives GOAWAYs on idle HTTP/2 connections and after limit closes", async (t) => {
  await using server = await startServer({
    env: PERTURB,
    args: [
      "--max-message-size",
      "1000",
      "--max-ping-rate",
      "100",
      "--idle-timeout",
      "1",
    ],
  });
  const base = [
    server.url,
    "--cert-hash",
    server.certHash,
    "--transport",
    "h2",
  ];
  const alive = () => {
    assert.equal(
      server.stderr.find((line) => /nghttp2|Assertion|Uncaught/.test(line)),
      undefined,
    );
  };

  await t.step("40 raw connections that only say GOAWAY", async () => {
    for (let i = 0; i < 40; i++) {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port: server.port,
        tls: { alpn: ["h2"] },
        send: new Uint8Array([...H2_PREFACE, ...h2Settings(), ...h2Goaway(0)]),
        waitMs: 5000,
      });
      // The server answers with its own GOAWAY and closes the connection.
      assert.ok(
        h2FrameTypes(seen.received).includes(H2_GOAWAY),
        `connection ${i}: no GOAWAY from the server\n${
          server.stderr.join("\n")
        }`,
      );
      assert.ok(seen.closedByPeer, `connection ${i} was not closed`);
    }
    alive();
  });

  await t.step(
    "sessions closed for size, rate and idleness (413, 429, 408)",
    async () => {
      const oversize = await runClient([...base, "-c", "2", "-s", "2000"], {
        env: PERTURB,
      });
      assert.equal(oversize.code, 2, oversize.stderr);
      assert.match(oversize.stderr, /code 413/);
      const rate = await runClient([...base, "-c", "400", "-i", "0"], {
        env: PERTURB,
      });
      assert.equal(rate.code, 2, rate.stderr);
      assert.match(rate.stderr, /code 429/);
      // A ping every 1.5 s against a 1 s idle timeout: closed with 408 after
      // each ping, the client reconnects each time.
      const idle = await runClient([...base, "-c", "3", "-i", "1.5"], {
        env: PERTURB,
      });
      assert.equal(idle.code, 0, idle.stdout + idle.stderr);
      assert.match(idle.stdout, /code 408/);
      alive();
    },
  );

  await t.step("it still answers, and stops cleanly", async () => {
    await expectAllPongs(server.url, server.certHash, {
      args: ["--transport", "h2"],
      context: () => server.stderr.join("\n"),
    });
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.stderr.join("\n"));
  });
});

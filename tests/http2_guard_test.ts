import assert from "node:assert/strict";
import { createSecureServer } from "node:http2";
import { generateCertificate } from "../lib/certificates.ts";
import { guardHttp2Sessions } from "../lib/http2_guard.ts";
import {
  H2_GOAWAY,
  H2_PREFACE,
  h2FrameTypes,
  h2Goaway,
  h2Settings,
  rawExchange,
} from "./support/raw_tcp.ts";

Deno.test("guardHttp2Sessions() finds Deno's native HTTP/2 session and is idempotent", () => {
  assert.equal(guardHttp2Sessions(), true);
  assert.equal(guardHttp2Sessions(), true);
});

Deno.test("a node:http2 server survives clients that send GOAWAY with no stream open", async () => {
  // Without the guard, node:http2 frees the nghttp2 session inside the
  // GOAWAY's own callback (denoland/deno#36788) and this process dies.
  assert.equal(guardHttp2Sessions(), true);
  const certificate = await generateCertificate();
  const server = createSecureServer({
    cert: certificate.certPem,
    key: certificate.keyPem,
  });
  const rounds = 30;
  let closed = 0;
  const allClosed = Promise.withResolvers<void>();
  server.on("session", (session) => {
    session.on("error", () => {});
    session.on("close", () => ++closed === rounds && allClosed.resolve());
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const { port } = server.address() as { port: number };
  try {
    for (let i = 0; i < rounds; i++) {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port,
        tls: { alpn: ["h2"] },
        send: new Uint8Array([...H2_PREFACE, ...h2Settings(), ...h2Goaway(0)]),
        waitMs: 5000,
      });
      // The server answered with its own GOAWAY and closed the connection.
      assert.ok(seen.closedByPeer, `round ${i}: connection left open`);
      assert.deepEqual(
        h2FrameTypes(seen.received).filter((type) => type === H2_GOAWAY),
        [H2_GOAWAY],
      );
    }
    // Every session was torn down: the deferred destroy ran.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      allClosed.promise,
      new Promise((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`${closed} of ${rounds} sessions closed`)),
          5000,
        )
      ),
    ]).finally(() => clearTimeout(timer));
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

Deno.test("an exception out of a node:http2 callback drops that connection, not the process", async () => {
  assert.equal(guardHttp2Sessions(), true);
  const certificate = await generateCertificate();
  const server = createSecureServer({
    cert: certificate.certPem,
    key: certificate.keyPem,
  });
  let thrown = 0;
  server.on("session", (session) => {
    session.on("error", () => {});
    // Emitted from inside nghttp2's frame callback, i.e. inside receive().
    session.on("goaway", () => {
      thrown++;
      throw new Error("a handler failed");
    });
  });
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const { port } = server.address() as { port: number };
  try {
    for (let i = 0; i < 3; i++) {
      const seen = await rawExchange({
        hostname: "127.0.0.1",
        port,
        tls: { alpn: ["h2"] },
        send: new Uint8Array([...H2_PREFACE, ...h2Settings(), ...h2Goaway(0)]),
        waitMs: 5000,
      });
      assert.ok(seen.closedByPeer, `round ${i}: connection left open`);
    }
    assert.equal(thrown, 3);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
});

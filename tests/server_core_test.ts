import assert from "node:assert/strict";
import { generateCertificate, parseCertHash } from "../lib/certificates.ts";
import { CloseCode } from "../lib/codec.ts";
import { runPings } from "../lib/pinger.ts";
import { PingPongServer } from "../lib/server_core.ts";
import {
  BindError,
  ConnectError,
  connectWebTransport,
} from "../lib/transport.ts";
import { openSession, startInProcessServer } from "./support/in_process.ts";

Deno.test("PingPongServer closes a session for another path with 404 and keeps serving", async () => {
  await using server = await startInProcessServer();
  await assert.rejects(openSession(server, "/nope"), (error: unknown) => {
    assert.ok(error instanceof ConnectError);
    assert.equal(error.kind, "closed");
    assert.equal(error.closeCode, CloseCode.NOT_FOUND);
    assert.match(error.reason, /not found: \/nope/);
    return true;
  });
  using good = await openSession(server);
  assert.equal(
    await Promise.race([
      good.closed.then(() => "closed"),
      good.ready.then(() => "ready"),
    ]),
    "ready",
  );
});

Deno.test("PingPongServer.shutdown() closes sessions with the going-away code", async () => {
  const server = await PingPongServer.start({ hostname: "127.0.0.1", port: 0 });
  const session = await openSession(server);
  // A pong proves the server registered the session.
  await runPings(session, { count: 1, intervalMs: 0 });
  assert.equal(server.sessionCount, 1);
  await server.shutdown(500);
  const info = await session.closed;
  assert.equal(info.closeCode, CloseCode.GOING_AWAY);
});

Deno.test("PingPongServer renews a short-lived ephemeral certificate and serves the new one", async () => {
  const renewed = Promise.withResolvers<string>();
  let made = 0;
  await using server = await startInProcessServer({
    generateCertificate: () => {
      made++;
      return generateCertificate({ validityMs: 1500, backdateMs: 0 });
    },
    onCertificate: (bundle) => renewed.resolve(bundle.hash),
  });
  const first = server.certificate.hash;
  const next = await renewed.promise;
  assert.notEqual(next, first);
  assert.equal(server.certificate.hash, next);
  assert.ok(made >= 2);
  // New connections get the new certificate: pinning it works, the old one fails.
  const { session } = await connectWebTransport(server.url, {
    certHash: parseCertHash(next),
  });
  session.close();
  await assert.rejects(
    connectWebTransport(server.url, {
      certHash: parseCertHash(first),
      timeoutMs: 3000,
    }),
    (error: unknown) =>
      error instanceof ConnectError && error.kind === "certificate",
  );
});

Deno.test("PingPongServer.start() throws BindError naming a busy port", async () => {
  await using first = await startInProcessServer();
  await assert.rejects(
    PingPongServer.start({ hostname: "127.0.0.1", port: first.addr.port }),
    (error: unknown) => {
      assert.ok(error instanceof BindError);
      assert.match(
        error.message,
        new RegExp(`127\\.0\\.0\\.1:${first.addr.port}.*in use`),
      );
      return true;
    },
  );
});

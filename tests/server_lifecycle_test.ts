import assert from "node:assert/strict";
import { abortableSleep } from "../lib/retry.ts";
import { startWithBindRetry } from "../lib/server_lifecycle.ts";
import { BindError } from "../lib/transport.ts";

Deno.test("startWithBindRetry() binds once a busy port frees up during its retries", async () => {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (held.addr as Deno.NetAddr).port;
  let waits = 0;
  const server = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
    maxAttempts: 5,
    baseDelayMs: 10,
    // The old holder lets go while the server waits for its second attempt.
    sleep: (ms, signal) => {
      if (waits++ === 0) held.close();
      return abortableSleep(ms, signal);
    },
  });
  try {
    assert.equal(server.addr.port, port);
    assert.equal(waits, 1);
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("startWithBindRetry() gives up after maxAttempts with a BindError naming the attempts", async () => {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      startWithBindRetry({ hostname: "127.0.0.1", port }, {
        maxAttempts: 3,
        baseDelayMs: 1,
      }),
      (error: unknown) =>
        error instanceof BindError &&
        /address already in use \(gave up after 3 attempts in [\d.]+ s\)$/.test(
          error.message,
        ),
    );
  } finally {
    held.close();
  }
});

Deno.test("startWithBindRetry() also retries when only the TCP port (HTTP/2) is busy", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  let waits = 0;
  const server = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
    maxAttempts: 5,
    baseDelayMs: 10,
    sleep: (ms, signal) => {
      if (waits++ === 0) held.close();
      return abortableSleep(ms, signal);
    },
  });
  try {
    assert.equal(server.addr.port, port);
    assert.equal(waits, 1);
  } finally {
    await server.shutdown(0);
  }
});

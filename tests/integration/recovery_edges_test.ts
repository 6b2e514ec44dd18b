/**
 * Recovery's limits with real processes: what is not retried, what gives up,
 * and one bad session beside a good one.
 */
import assert from "node:assert/strict";
import { parseCertHash } from "../../lib/certificates.ts";
import { connectWebTransport } from "../../lib/transport.ts";
import { spawnClient } from "../support/live_client.ts";
import { startUdpProxy } from "../support/udp_proxy.ts";
import {
  jsonLines,
  runClient,
  runServer,
  startServer,
} from "../support/processes.ts";

Deno.test("server.ts on a busy port retries for 8 s, then exits 1 with one line naming the port", async () => {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (held.addr as Deno.NetAddr).port;
  const { code, stderr } = await runServer([], { port });
  assert.equal(code, 1, stderr);
  const last = stderr.trim().split("\n").at(-1)!;
  assert.match(
    last,
    new RegExp(
      `^pingpong-server: cannot listen on UDP 127\\.0\\.0\\.1:${port}: address already in use \\(gave up after \\d+ attempts in 8\\.\\d s\\)$`,
    ),
  );
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
});

Deno.test("a client whose server comes back with another certificate fails fast with exit 2", async () => {
  const first = await startServer();
  let second;
  try {
    await using client = spawnClient([
      first.url,
      "--cert-hash",
      first.certHash,
      "-c",
      "100",
      "-i",
      "0.05",
    ]);
    await client.waitForLine(/^seq=5 /);
    await first.stop("SIGTERM");
    // No --state-dir: a new ephemeral certificate with another hash.
    second = await startServer({ args: ["--port", String(first.port)] });
    assert.notEqual(second.certHash, first.certHash);
    const { code } = await client.exited;
    assert.equal(code, 2);
    const last = client.stderr.at(-1)!;
    assert.match(
      last,
      /^pingpong-client: certificate of 127\.0\.0\.1:\d+ rejected/,
    );
    assert.ok(
      client.stdout.some((line) =>
        /^connection lost \(session closed by server with code 1001/.test(line)
      ),
    );
  } finally {
    await first.stop("SIGKILL");
    await second?.stop("SIGKILL");
  }
});

/** The lines of a text summary at the end of `stdout`, as ping(8) prints it. */
function assertTextSummary(stdout: string[]): void {
  const at = stdout.findIndex((line) => / ping statistics ---$/.test(line));
  assert.ok(at > 0, `no statistics in:\n${stdout.join("\n")}`);
  assert.match(
    stdout[at + 1],
    /^(\d+) transmitted, (\d+) received, [<>\d.]+% loss$/,
  );
  assert.match(stdout[at + 2], /^rtt min\/avg\/max\/mdev = /);
}

Deno.test("--max-retries bounds an outage: the statistics, then exit 2 with one line once the attempts are spent", async () => {
  const server = await startServer();
  try {
    await using client = spawnClient([
      server.url,
      "--cert-hash",
      server.certHash,
      "-i",
      "0.05",
      "--timeout",
      "0.5",
      "--max-retries",
      "2",
      "--retry-max-delay",
      "0.2",
    ]);
    await client.waitForLine(/^seq=5 /);
    await server.stop("SIGKILL");
    const { code, elapsedMs } = await client.exited;
    assert.equal(code, 2, client.stderr.join("\n"));
    assert.match(
      client.stderr.at(-1)!,
      /^pingpong-client: lost 127\.0\.0\.1:\d+ \(no pong for 3 s\); gave up after 2 attempts in [\d.]+ s: (HTTP\/3: )?no answer from/,
    );
    assertTextSummary(client.stdout);
    assert.ok(elapsedMs < 30_000);
  } finally {
    await server.stop("SIGKILL");
  }
});

Deno.test("--no-reconnect ends the run with its statistics and exit 2 when the server goes away", async (t) => {
  for (const json of [false, true]) {
    await t.step(json ? "--json" : "text", async () => {
      const server = await startServer();
      try {
        await using client = spawnClient([
          server.url,
          "--cert-hash",
          server.certHash,
          "-i",
          "0.05",
          "--no-reconnect",
          ...(json ? ["--json"] : []),
        ]);
        await client.waitForLine(json ? /"type":"pong","seq":8,/ : /^seq=8 /);
        await server.stop("SIGTERM");
        const { code } = await client.exited;
        assert.equal(code, 2);
        assert.equal(client.stderr.length, 1, client.stderr.join("\n"));
        assert.match(
          client.stderr[0],
          /^pingpong-client: session closed by server with code 1001/,
        );
        if (json) {
          const events = jsonLines(client.stdout.join("\n"));
          const summary = events.at(-1)!;
          assert.equal(summary.type, "summary");
          const pongs = events.filter((event) => event.type === "pong");
          const lost = events.filter((event) => event.type === "timeout");
          assert.ok(pongs.length >= 8);
          assert.equal(summary.received, pongs.length);
          // Every ping is answered or reported lost, the ones in flight at
          // the going-away included.
          assert.equal(summary.transmitted, pongs.length + lost.length);
          assert.ok(!events.some((event) => event.type === "reconnect"));
        } else {
          assertTextSummary(client.stdout);
          assert.ok(
            !client.stdout.some((line) => line.startsWith("reconnected")),
          );
        }
      } finally {
        await server.stop("SIGKILL");
      }
    });
  }
});

Deno.test("a session that sends garbage and resets streams does not disturb another session", async () => {
  await using server = await startServer();
  const { session } = await connectWebTransport(server.url, {
    certHash: parseCertHash(server.certHash),
  });
  const bad = (async () => {
    for (let i = 0; i < 20; i++) {
      const stream = await session.createBidirectionalStream();
      const writer = stream.writable.getWriter();
      await writer.write(new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      await writer.abort("reset").catch(() => {});
      await stream.readable.cancel().catch(() => {});
    }
    const writer = session.datagrams.writable.getWriter();
    for (let i = 0; i < 20; i++) await writer.write(new Uint8Array([9, 9, 9]));
    writer.releaseLock();
  })();
  const good = runClient([
    server.url,
    "--cert-hash",
    server.certHash,
    "-c",
    "50",
    "-i",
    "0.01",
    "--json",
  ]);
  const [result] = await Promise.all([good, bad]);
  session.close();
  assert.equal(result.code, 0, result.stderr);
  const summary = jsonLines(result.stdout).at(-1)!;
  assert.equal(summary.received, 50);
});

Deno.test("SIGTERM with a client that cannot answer still exits 0 within --drain-timeout", async () => {
  const server = await startServer({ args: ["--drain-timeout", "1"] });
  try {
    await using proxy = startUdpProxy({
      target: { hostname: "127.0.0.1", port: server.port },
    });
    await using client = spawnClient([
      `https://127.0.0.1:${proxy.addr.port}/pingpong`,
      "--cert-hash",
      server.certHash,
      "-i",
      "0.05",
      "--no-reconnect",
    ]);
    await client.waitForLine(/^seq=5 /);
    // Neither the going-away nor the client's close can cross any more.
    proxy.partition(true);
    const signalled = performance.now();
    const status = await server.stop("SIGTERM");
    const drainMs = performance.now() - signalled;
    assert.equal(status.code, 0, server.stderr.join("\n"));
    // At most 1 s of drain; 1.5 s more for the process to end on a busy machine.
    assert.ok(drainMs <= 2500, `drained in ${drainMs} ms`);
  } finally {
    await server.stop("SIGKILL");
  }
});

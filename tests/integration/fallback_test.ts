import assert from "node:assert/strict";
import {
  expectAllPongs,
  jsonLines,
  runClient,
  startServer,
} from "../support/processes.ts";
import { openTcpOnlyPath } from "../support/tcp_only.ts";

const NO_STACK_TRACE = /^\s+at /m;
const LIBRARY_NOISE = /quiche|http3 loader/i;

Deno.test("client.ts --transport auto pings over HTTP/2 with no loss where UDP is black-holed", async (t) => {
  await using server = await startServer();
  await using path = openTcpOnlyPath({
    hostname: "127.0.0.1",
    port: server.port,
  });
  const url = `https://127.0.0.1:${path.port}/pingpong`;

  await t.step("auto falls back to HTTP/2 and loses nothing", async () => {
    const result = await runClient([
      url,
      "--cert-hash",
      server.certHash,
      "--count",
      "20",
      "--interval",
      "0",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.doesNotMatch(result.stderr, LIBRARY_NOISE);
    const events = jsonLines(result.stdout);
    assert.equal(events[0].type, "start");
    assert.equal(events[0].transport, "h2");
    const pongs = events.filter((event) => event.type === "pong");
    assert.deepEqual(
      pongs.map((pong) => pong.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const summary = events.at(-1)!;
    assert.equal(summary.type, "summary");
    assert.equal(summary.received, 20);
    assert.equal(summary.loss, 0);
    // HTTP/3 was tried first, and its packets vanished.
    assert.ok(path.udpDropped > 0, "no QUIC packet reached the black hole");
    assert.ok(path.tcpForwarded > 0);
    // Neither side shows the library's complaint about its native addon.
    assert.doesNotMatch(
      [...server.stdout, ...server.stderr].join("\n"),
      LIBRARY_NOISE,
    );
  });

  await t.step("the text output names HTTP/2", async () => {
    const result = await runClient([
      url,
      "--cert-hash",
      server.certHash,
      "--count",
      "2",
      "--interval",
      "0",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /connected over HTTP\/2 in [\d.]+ ms/);
  });

  await t.step("--transport h3 fails with exit 2 and suggests h2", async () => {
    const result = await runClient([
      url,
      "--cert-hash",
      server.certHash,
      "--count",
      "1",
      "--timeout",
      "1",
      "--transport",
      "h3",
    ]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^pingpong-client: no answer from .*--transport h2/,
    );
    assert.doesNotMatch(result.stderr, NO_STACK_TRACE);
    assert.equal(result.stderr.trim().split("\n").length, 1);
  });
});

Deno.test("client.ts gets 20 of 20 pongs over --transport h2 in every mode", async (t) => {
  await using server = await startServer();
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      const events = await expectAllPongs(server.url, server.certHash, {
        mode,
        args: ["--transport", "h2"],
        quiet: true,
      });
      assert.equal(events[0].transport, "h2");
      assert.equal(events.at(-1)!.loss, 0);
    });
  }
});

Deno.test("client.ts --transport h2 reports a wrong pin and an unknown path in one line", async (t) => {
  await using server = await startServer();
  await t.step("wrong --cert-hash", async () => {
    const result = await runClient([
      server.url,
      "--cert-hash",
      "ab".repeat(32),
      "--count",
      "1",
      "--transport",
      "h2",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /certificate of .* rejected.*--cert-hash/);
    assert.doesNotMatch(result.stderr, NO_STACK_TRACE);
  });
  await t.step("unknown path", async () => {
    const result = await runClient([
      server.url.replace(/\/pingpong$/, "/nope"),
      "--cert-hash",
      server.certHash,
      "--count",
      "1",
      "--transport",
      "h2",
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /server refused path \/nope/);
    assert.doesNotMatch(result.stderr, NO_STACK_TRACE);
  });
});

Deno.test("client.ts --transport auto uses HTTP/3 when UDP gets through", async () => {
  await using server = await startServer();
  const result = await runClient([
    server.url,
    "--cert-hash",
    server.certHash,
    "--count",
    "3",
    "--interval",
    "0",
    "--json",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(jsonLines(result.stdout)[0].transport, "h3");
});

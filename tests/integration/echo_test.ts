import assert from "node:assert/strict";
import {
  expectAllPongs,
  jsonLines,
  runClient,
  startServer,
} from "../support/processes.ts";

Deno.test("client.ts --echo gets 20 of 20 echoes from server.ts /echo in every mode", async (t) => {
  await using server = await startServer();
  const echoUrl = server.url.replace(/\/pingpong$/, "/echo");
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      const result = await runClient([
        echoUrl,
        "--echo",
        "--cert-hash",
        server.certHash,
        "--count",
        "20",
        "--interval",
        "0",
        "--mode",
        mode,
        "--json",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const events = jsonLines(result.stdout);
      assert.deepEqual(
        events.filter((event) => event.type === "pong").map((pong) => pong.seq),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const summary = events.at(-1)!;
      assert.equal(summary.type, "summary");
      assert.equal(summary.received, 20);
    });
  }
});

Deno.test("client.ts names the other protocol when --echo meets /pingpong or a plain ping meets /echo, and exits 2", async (t) => {
  await using server = await startServer();
  const common = [
    "--cert-hash",
    server.certHash,
    "-c",
    "3",
    "-i",
    "0",
    "-W",
    "0.5",
    "--json",
  ];
  const cases = [
    {
      name: "--echo against /pingpong",
      url: server.url,
      extra: ["--echo"],
      hint: /PONG, not an echo: drop --echo$/,
    },
    {
      name: "no --echo against /echo",
      url: server.url.replace(/\/pingpong$/, "/echo"),
      extra: [],
      hint: /plain echo server: add --echo$/,
    },
  ];
  for (const { name, url, extra, hint } of cases) {
    await t.step(name, async () => {
      const result = await runClient([url, ...extra, ...common]);
      assert.equal(result.code, 2, result.stderr);
      const lines = result.stderr.trim().split("\n");
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0], hint);
      // The first reply already tells: the run stops there, with its summary.
      const summary = jsonLines(result.stdout).at(-1)!;
      assert.equal(summary.type, "summary");
      assert.equal(summary.received, 0);
      assert.equal(summary.transmitted, 1);
    });
  }
});

Deno.test("client.ts --echo --mode stream-per-ping is not cut off by --max-streams: streams count while they hold data", async () => {
  // A Deno client never ends its streams (no FIN) until it collects them,
  // in batches of 32: counted from arrival they would trip the limit.
  await using server = await startServer({ args: ["--max-streams", "4"] });
  const echoUrl = server.url.replace(/\/pingpong$/, "/echo");
  await expectAllPongs(echoUrl, server.certHash, {
    mode: "stream-per-ping",
    count: 100,
    args: ["--echo"],
    context: () => server.stderr.join("\n"),
  });
});

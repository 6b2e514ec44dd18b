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

Deno.test("client.ts --echo counts PONGs from /pingpong as lost, and plain pings count /echo's echoes as lost", async (t) => {
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
  await t.step("--echo against /pingpong", async () => {
    const result = await runClient([server.url, "--echo", ...common]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(jsonLines(result.stdout).at(-1)!.received, 0);
  });
  await t.step("no --echo against /echo", async () => {
    const url = server.url.replace(/\/pingpong$/, "/echo");
    const result = await runClient([url, ...common]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(jsonLines(result.stdout).at(-1)!.received, 0);
  });
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

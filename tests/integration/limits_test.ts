import assert from "node:assert/strict";
import { runClient, startServer } from "../support/processes.ts";
import { statsReader, waitForSessions } from "../support/server_stats.ts";

Deno.test("client.ts over a server limit is cut off with one line naming the limit", async (t) => {
  await using server = await startServer({
    args: [
      "--max-ping-rate",
      "50",
      "--max-message-size",
      "100",
      "--max-sessions",
      "1",
    ],
  });
  const base = [server.url, "--cert-hash", server.certHash];
  const stats = statsReader(server);

  await t.step("pinging faster than --max-ping-rate: 429, exit 2", async () => {
    const result = await runClient([...base, "-c", "500", "-i", "0"]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(
      result.stderr.trim(),
      /^pingpong-client: session closed by server with code 429: too many pings: at most 50 a second$/,
    );
  });

  await t.step("a PING over --max-message-size: 413, exit 2", async () => {
    const result = await runClient([...base, "-c", "1", "-s", "200"]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.match(
      result.stderr,
      /session closed by server with code 413: frame length 200 is over the maximum of 100/,
    );
  });

  await t.step(
    "a second session over --max-sessions 1: refused as busy, the first unharmed",
    async () => {
      // Earlier steps' sessions are gone before the first client takes the place.
      await waitForSessions(stats, 0);
      let first: Deno.ChildProcess | undefined;
      const running = runClient([...base, "-i", "0.1", "-s", "64", "--json"], {
        onSpawn: (child) => first = child,
      });
      await waitForSessions(stats, 1);
      const second = await runClient([...base, "-c", "1"]);
      assert.equal(second.code, 2, second.stdout + second.stderr);
      assert.match(
        second.stderr.trim(),
        /^pingpong-client: server refused the session: server busy: 1 sessions already open \(try again later\)$/,
      );
      first!.kill("SIGINT");
      const result = await running;
      assert.ok(
        !result.stdout.includes('"timeout"'),
        "the first client lost no ping",
      );
      assert.match(result.stdout, /"type":"summary"/);
    },
  );
});

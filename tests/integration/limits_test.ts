import assert from "node:assert/strict";
import { runClient, startServer } from "../support/processes.ts";

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
      let first: Deno.ChildProcess | undefined;
      const running = runClient([...base, "-i", "0.1", "-s", "64", "--json"], {
        onSpawn: (child) => first = child,
      });
      // Until the first client holds the one place, a second one is served:
      // try again (bounded) until it is refused.
      let second;
      for (let i = 0; i < 50; i++) {
        second = await runClient([...base, "-c", "1"]);
        if (second.code === 2) break;
      }
      assert.equal(second!.code, 2, second!.stdout + second!.stderr);
      assert.match(
        second!.stderr.trim(),
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

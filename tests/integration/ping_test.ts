import assert from "node:assert/strict";
import { jsonLines, runClient, startServer } from "../support/processes.ts";

Deno.test("client.ts gets 20 of 20 pongs from server.ts in every mode", async (t) => {
  await using server = await startServer();
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      const result = await runClient([
        server.url,
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
      const pongs = events.filter((event) => event.type === "pong");
      assert.deepEqual(
        pongs.map((pong) => pong.seq),
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      const summary = events.at(-1)!;
      assert.equal(summary.type, "summary");
      assert.equal(summary.transmitted, 20);
      assert.equal(summary.received, 20);
      assert.equal(summary.loss, 0);
    });
  }
});

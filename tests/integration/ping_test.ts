import { expectAllPongs, startServer } from "../support/processes.ts";

Deno.test("client.ts gets 20 of 20 pongs from server.ts in every mode", async (t) => {
  await using server = await startServer();
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      await expectAllPongs(server.url, server.certHash, {
        mode,
        context: () => server.stderr.join("\n"),
      });
    });
  }
});

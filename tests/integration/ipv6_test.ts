import assert from "node:assert/strict";
import { expectAllPongs, startServer } from "../support/processes.ts";

Deno.test("a server on every interface prints a URL on ::1 that each transport pings over", async (t) => {
  // The default --host: startServer adds --no-advertise for a wildcard.
  await using server = await startServer({ host: "::" });
  const line = server.stdout.find((line) => line.startsWith("listening on "));
  const url = line!.slice("listening on ".length);
  assert.equal(url, `https://[::1]:${server.port}/pingpong`);
  const context = () => server.stderr.join("\n");

  for (const transport of ["auto", "h3", "h2"]) {
    await t.step(`--transport ${transport}`, async () => {
      const events = await expectAllPongs(url, server.certHash, {
        args: ["--transport", transport],
        context,
        quiet: true,
      });
      assert.equal(events[0].transport, transport === "h2" ? "h2" : "h3");
    });
  }

  await t.step("the server is still up, and stops cleanly", async () => {
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, context());
    assert.doesNotMatch(context(), /Uncaught|TypeError/);
  });
});

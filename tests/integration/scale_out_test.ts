/**
 * The single-machine model of the Kubernetes deployment: three server
 * replicas behind a static `--server` list (what a headless Service's DNS SRV
 * records give), one killed while clients ping.
 */
import assert from "node:assert/strict";
import { generateCertificate } from "../../lib/certificates.ts";
import { RECONNECT_DEFAULTS } from "../../lib/reconnect.ts";
import { spawnClient } from "../support/live_client.ts";
import { type ServerProcess, startServer } from "../support/processes.ts";

Deno.test("clients of a killed replica move to another one within the retry bound", async () => {
  // Replicas share one certificate, as pods mounting one Secret do.
  const dir = await Deno.makeTempDir();
  const replicas: ServerProcess[] = [];
  try {
    const certificate = await generateCertificate();
    await Deno.writeTextFile(`${dir}/cert.pem`, certificate.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, certificate.keyPem, {
      mode: 0o600,
    });
    for (let i = 0; i < 3; i++) {
      replicas.push(
        await startServer({
          args: ["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`],
        }),
      );
    }
    const list = replicas.map((replica) => `127.0.0.1:${replica.port}`).join(
      ",",
    );
    const deadAfterS = 1;
    await using client = spawnClient([
      "--server",
      list,
      "--cert-hash",
      certificate.hash,
      "-c",
      "200",
      "-i",
      "0.05",
      "--dead-after",
      String(deadAfterS),
      "--timeout",
      "0.5",
      "--json",
    ]);
    const discovered = JSON.parse(
      await client.waitForLine(/"type":"discovered"/),
    );
    const victimPort = Number(new URL(discovered.url).port);
    const victim = replicas.find((replica) => replica.port === victimPort);
    assert.ok(victim, `the client chose ${discovered.url}, not one of ${list}`);
    await client.waitForLine(/"type":"pong","seq":20,/);
    await victim.stop("SIGKILL");
    const reconnect = JSON.parse(
      await client.waitForLine(/"type":"reconnect"/, 20_000),
    );
    // Moved to a live replica, not back to the dead one.
    const movedTo = Number(reconnect.server.split(":").at(-1));
    assert.notEqual(movedTo, victimPort);
    assert.ok(replicas.some((replica) => replica.port === movedTo));
    // Within the bound: detection, then one attempt per dead target at most
    // (each capped by --timeout) plus the first backoff delays.
    const boundMs = 2 * 500 + RECONNECT_DEFAULTS.baseDelayMs * 4;
    assert.ok(
      reconnect.down_ms <= boundMs,
      `down ${reconnect.down_ms} ms, bound ${boundMs} ms`,
    );
    // And the pings go on: the run ends with pongs after the move.
    const { code } = await client.exited;
    assert.ok(code === 0 || code === 1, `exit ${code}`);
    const summary = JSON.parse(
      client.stdout.findLast((line) => line.includes('"summary"'))!,
    );
    assert.equal(summary.transmitted, 200);
    assert.ok(summary.received >= 150, `received ${summary.received} of 200`);
    console.log(
      `replica killed: moved from :${victimPort} to :${movedTo} in ${reconnect.down_ms} ms, ${reconnect.attempts} attempt(s); ${summary.received}/200 pongs`,
    );
  } finally {
    for (const replica of replicas) await replica.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

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
    const addresses = replicas.map((replica) => `127.0.0.1:${replica.port}`);
    const deadAfterS = 1;
    // One client per replica: each has the list rotated, as clients of a
    // Service spread over its pods, so each starts on another replica.
    await using stack = new AsyncDisposableStack();
    const clients = replicas.map((_, i) =>
      stack.use(spawnClient([
        "--server",
        [...addresses.slice(i), ...addresses.slice(0, i)].join(","),
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
      ]))
    );
    const startedOn: number[] = [];
    for (const client of clients) {
      const discovered = JSON.parse(
        await client.waitForLine(/"type":"discovered"/),
      );
      startedOn.push(Number(new URL(discovered.url).port));
    }
    assert.deepEqual(
      startedOn,
      replicas.map((replica) => replica.port),
      "each client starts on the first server of its list",
    );
    for (const client of clients) {
      await client.waitForLine(/"type":"pong","seq":20,/);
    }
    const victim = replicas[0];
    const moving = clients[0];
    const killedAt = performance.now();
    await victim.stop("SIGKILL");
    const reconnect = JSON.parse(
      await moving.waitForLine(/"type":"reconnect"/, 20_000),
    );
    const sinceKillMs = performance.now() - killedAt;
    // Moved to a live replica, not back to the dead one.
    const movedTo = Number(reconnect.server.split(":").at(-1));
    assert.notEqual(movedTo, victim.port);
    assert.ok(replicas.some((replica) => replica.port === movedTo));
    // Within the bound: detection, then one attempt per dead target at most
    // (each capped by --timeout) plus the first backoff delays.
    const boundMs = 2 * 500 + RECONNECT_DEFAULTS.baseDelayMs * 4;
    assert.ok(
      reconnect.down_ms <= boundMs,
      `down ${reconnect.down_ms} ms, bound ${boundMs} ms`,
    );
    // From the kill: detection (--dead-after) comes first; a second of
    // margin for process scheduling on a loaded machine.
    assert.ok(
      sinceKillMs <= deadAfterS * 1000 + boundMs + 1000,
      `back ${sinceKillMs.toFixed(0)} ms after the kill`,
    );
    // And the pings go on: the run ends with pongs after the move; the
    // clients of the other replicas never noticed.
    const summaries = [];
    for (const [i, client] of clients.entries()) {
      const { code } = await client.exited;
      const summary = JSON.parse(
        client.stdout.findLast((line) => line.includes('"summary"'))!,
      );
      summaries.push(summary);
      assert.equal(summary.transmitted, 200);
      if (i === 0) {
        assert.ok(code === 0 || code === 1, `exit ${code}`);
        assert.ok(summary.received >= 150, `received ${summary.received}`);
      } else {
        assert.equal(code, 0, client.stderr.join("\n"));
        assert.ok(
          !client.stdout.some((line) => line.includes('"type":"reconnect"')),
          `client ${i} reconnected`,
        );
      }
    }
    console.log(
      `replica killed: its client moved from :${victim.port} to :${movedTo} ${
        sinceKillMs.toFixed(0)
      } ms after the kill (down ${reconnect.down_ms} ms, ${reconnect.attempts} attempt(s)); pongs ${
        summaries.map((summary) => `${summary.received}/200`).join(", ")
      }`,
    );
  } finally {
    for (const replica of replicas) await replica.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

import assert from "node:assert/strict";
import { pollUntil } from "../support/poll.ts";
import { TextLineStream } from "../../lib/text_lines.ts";
import {
  expectAllPongs,
  rootPath,
  RUN_FLAGS,
  runClient,
  runServer,
  type ServerProcess,
  startServer,
} from "../support/processes.ts";
import { type Scrape, scrapeMetrics } from "../support/prometheus.ts";

async function healthUrl(server: ServerProcess): Promise<string> {
  const line = await server.waitForLine(/^health on http:\/\//);
  return line.replace(/^health on /, "");
}

async function status(url: string): Promise<number> {
  const response = await fetch(url);
  await response.body?.cancel();
  return response.status;
}

/** Scrapes until `done` holds: at most 100 scrapes, 50 ms apart. */
function scrapeUntil(
  baseUrl: string,
  done: (scrape: Scrape) => boolean,
): Promise<Scrape> {
  return pollUntil(() => scrapeMetrics(baseUrl), done);
}

Deno.test("server.ts --health-port reports sessions and pongs while clients ping", async (t) => {
  await using server = await startServer({ args: ["--health-port", "0"] });
  const health = await healthUrl(server);
  assert.match(health, /^http:\/\/127\.0\.0\.1:\d+$/);

  await t.step("/healthz and /readyz are 200 while serving", async () => {
    assert.equal(await status(`${health}/healthz`), 200);
    assert.equal(await status(`${health}/readyz`), 200);
  });

  await t.step("a pinging client shows as an open session", async () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...RUN_FLAGS,
        rootPath("client.ts"),
        server.url,
        "--cert-hash",
        server.certHash,
        "--count",
        "2000",
        "--interval",
        "0.01",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const lines = child.stdout.pipeThrough(new TextDecoderStream())
        .pipeThrough(new TextLineStream());
      for await (const line of lines) {
        if (/^seq=3 /.test(line)) break;
      }
      const during = await scrapeMetrics(health);
      assert.equal(during.samples.get("pingpong_sessions_open"), 1);
      assert.equal(during.samples.get("pingpong_sessions_total"), 1);
      assert.ok(during.samples.get("pingpong_pings_answered_total")! >= 3);
    } finally {
      child.kill("SIGINT");
      await child.status;
    }
    const after = await scrapeUntil(
      health,
      (scrape) => scrape.samples.get("pingpong_sessions_open") === 0,
    );
    assert.equal(after.samples.get("pingpong_sessions_open"), 0);
  });

  await t.step("pongs, streams and refused paths are counted", async () => {
    const before = await scrapeMetrics(health);
    const pongs = before.samples.get("pingpong_pings_answered_total")!;
    for (const mode of ["stream", "datagram"]) {
      await expectAllPongs(server.url, server.certHash, { mode });
    }
    const refused = await runClient([
      server.url.replace("/pingpong", "/nope"),
      "--cert-hash",
      server.certHash,
      "--count",
      "1",
    ]);
    assert.equal(refused.code, 2);
    const after = await scrapeMetrics(health);
    assert.equal(
      after.samples.get("pingpong_pings_answered_total"),
      pongs + 40,
    );
    assert.equal(after.samples.get("pingpong_sessions_total"), 3);
    assert.equal(
      after.samples.get('pingpong_errors_total{kind="not_found"}'),
      1,
    );
    assert.equal(
      after.samples.get('pingpong_errors_total{kind="malformed"}'),
      0,
    );
    const expiry = after.samples.get(
      "pingpong_certificate_expiry_timestamp_seconds",
    )!;
    // The ephemeral certificate lives 13 days.
    const days = (expiry * 1000 - Date.now()) / 86_400_000;
    assert.ok(days > 12 && days <= 13.01, `expires in ${days} days`);
  });
});

Deno.test("server.ts /metrics counts every kind of refusal: a wrong token shows as unauthorized", async () => {
  await using server = await startServer({
    args: ["--health-port", "0", "--token", "right-token"],
  });
  const health = await healthUrl(server);
  const before = await scrapeMetrics(health);
  for (
    const kind of [
      "unauthorized",
      "forbidden",
      "not_found",
      "idle_timeout",
      "too_large",
      "rate_limited",
      "busy",
      "shutting_down",
    ]
  ) {
    assert.equal(
      before.samples.get(`pingpong_errors_total{kind="${kind}"}`),
      0,
      `${kind} exported before any refusal`,
    );
  }
  const refused = await runClient([
    server.url,
    "--cert-hash",
    server.certHash,
    "--token",
    "wrong-token",
    "--count",
    "1",
  ]);
  assert.equal(refused.code, 2, refused.stderr);
  // The server counts the refusal as it closes the session, before the
  // client sees the close: no wait needed.
  const after = await scrapeMetrics(health);
  assert.equal(
    after.samples.get('pingpong_errors_total{kind="unauthorized"}'),
    1,
  );
  assert.equal(after.samples.get('pingpong_errors_total{kind="busy"}'), 0);
});

Deno.test("server.ts drains on SIGTERM: /readyz fails, pings still answered, a second signal ends it", async () => {
  await using server = await startServer({
    args: ["--health-port", "0", "--drain-delay", "60"],
  });
  const health = await healthUrl(server);
  assert.equal(await status(`${health}/readyz`), 200);
  server.child.kill("SIGTERM");
  await server.waitForLine(/^SIGTERM: draining for 60 s$/);
  assert.equal(await status(`${health}/readyz`), 503);
  assert.equal(await status(`${health}/healthz`), 200);
  const scrape = await scrapeMetrics(health);
  assert.equal(scrape.samples.get("pingpong_draining"), 1);
  const result = await runClient([
    server.url,
    "--cert-hash",
    server.certHash,
    "--count",
    "5",
    "--interval",
    "0",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const started = performance.now();
  const exit = await server.stop("SIGTERM");
  assert.equal(exit.code, 0, server.stderr.join("\n"));
  assert.ok(performance.now() - started < 30_000, "second signal ended it");
});

Deno.test("server.ts exits 1 with one line when the health port is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { code, stderr } = await runServer([
    "--health-port",
    String(taken.addr.port),
  ]);
  assert.equal(code, 1);
  assert.equal(
    stderr,
    `pingpong-server: cannot listen on TCP 127.0.0.1:${taken.addr.port} for --health-port: address already in use\n`,
  );
});

Deno.test("server.ts refuses a --health-port out of range with exit status 2", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, rootPath("server.ts"), "--health-port", "70000"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.match(
    new TextDecoder().decode(output.stderr),
    /--health-port must be from 0 to 65535, got '70000'/,
  );
});

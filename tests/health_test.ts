import assert from "node:assert/strict";
import {
  errorsByKind,
  handleHealthRequest,
  type HealthSource,
  METRICS_CONTENT_TYPE,
  renderMetrics,
  serveHealth,
  type ServerMetrics,
} from "../lib/health.ts";
import { VERSION } from "../lib/cli.ts";
import { parseServerArgs, SERVER_HELP } from "../lib/server_cli.ts";
import { parsePrometheus } from "./support/prometheus.ts";

function sample(overrides: Partial<ServerMetrics> = {}): ServerMetrics {
  return {
    sessionsOpen: 2,
    sessionsTotal: 7,
    pingsAnswered: 123,
    streamsTotal: 9,
    streamsStalled: 4,
    errors: { not_found: 1, malformed: 3 },
    certificateNotAfter: new Date(Date.UTC(2030, 0, 1)),
    draining: false,
    residentMemoryBytes: 4096,
    ...overrides,
  };
}

function source(ready: boolean, metrics = sample()): HealthSource {
  return { ready: () => ready, metrics: () => metrics };
}

Deno.test("renderMetrics() writes every figure as a typed Prometheus sample", () => {
  const { samples, types } = parsePrometheus(renderMetrics(sample()));
  assert.equal(samples.get("pingpong_sessions_open"), 2);
  assert.equal(samples.get("pingpong_sessions_total"), 7);
  assert.equal(samples.get("pingpong_pings_answered_total"), 123);
  assert.equal(samples.get("pingpong_streams_total"), 9);
  assert.equal(samples.get("pingpong_streams_stalled"), 4);
  assert.equal(samples.get('pingpong_errors_total{kind="malformed"}'), 3);
  assert.equal(samples.get('pingpong_errors_total{kind="not_found"}'), 1);
  assert.equal(
    samples.get("pingpong_certificate_expiry_timestamp_seconds"),
    Date.UTC(2030, 0, 1) / 1000,
  );
  assert.equal(samples.get("pingpong_draining"), 0);
  assert.equal(samples.get("process_resident_memory_bytes"), 4096);
  assert.equal(samples.get(`pingpong_build_info{version="${VERSION}"}`), 1);
  assert.equal(types.get("pingpong_sessions_open"), "gauge");
  assert.equal(types.get("pingpong_streams_stalled"), "gauge");
  assert.equal(types.get("pingpong_pings_answered_total"), "counter");
  assert.equal(types.get("pingpong_errors_total"), "counter");
});

Deno.test("errorsByKind() names every refusal close code, at 0 when none happened", () => {
  const errors = errorsByKind(
    4,
    new Map([
      [401, 2],
      [403, 1],
      [404, 3],
      [408, 5],
      [413, 6],
      [429, 7],
      [
        503,
        8,
      ],
      [1001, 9],
      [4242, 1],
    ]),
  );
  assert.deepEqual(errors, {
    malformed: 4,
    unauthorized: 2,
    forbidden: 1,
    not_found: 3,
    idle_timeout: 5,
    too_large: 6,
    rate_limited: 7,
    busy: 8,
    shutting_down: 9,
    close_4242: 1,
  });
  assert.deepEqual(errorsByKind(0, new Map()), {
    malformed: 0,
    unauthorized: 0,
    forbidden: 0,
    not_found: 0,
    idle_timeout: 0,
    too_large: 0,
    rate_limited: 0,
    busy: 0,
    shutting_down: 0,
  });
});

Deno.test("renderMetrics() shows draining as 1 and escapes label values", () => {
  const text = renderMetrics(
    sample({ draining: true, errors: { 'odd"kind\\': 1 } }),
  );
  const { samples } = parsePrometheus(text);
  assert.equal(samples.get("pingpong_draining"), 1);
  assert.equal(samples.get('pingpong_errors_total{kind="odd\\"kind\\\\"}'), 1);
});

Deno.test("handleHealthRequest() answers probes and metrics, and refuses the rest", async (t) => {
  const get = (path: string, ready = true, method = "GET") =>
    handleHealthRequest(
      new Request(`http://health${path}`, { method }),
      source(ready),
    );
  await t.step("/healthz is 200 even while draining", async () => {
    const response = get("/healthz", false);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok\n");
  });
  await t.step("/readyz is 200 when ready and 503 when not", async () => {
    assert.equal(get("/readyz", true).status, 200);
    const draining = get("/readyz", false);
    assert.equal(draining.status, 503);
    assert.equal(await draining.text(), "draining\n");
  });
  await t.step("/metrics has Prometheus' content type", async () => {
    const response = get("/metrics");
    assert.equal(response.headers.get("content-type"), METRICS_CONTENT_TYPE);
    assert.match(await response.text(), /^pingpong_sessions_open 2$/m);
  });
  await t.step("HEAD has no body", () => {
    const response = get("/metrics", true, "HEAD");
    assert.equal(response.status, 200);
    assert.equal(response.body, null);
  });
  await t.step("an unknown path is 404 and a POST is 405", async () => {
    const missing = get("/status");
    assert.equal(missing.status, 404);
    await missing.body?.cancel();
    const post = get("/readyz", true, "POST");
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("serveHealth() serves over TCP and names a busy port in its error", async () => {
  let ready = true;
  const health = serveHealth({
    hostname: "127.0.0.1",
    port: 0,
    source: { ready: () => ready, metrics: () => sample() },
  });
  try {
    assert.match(health.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const first = await fetch(`${health.url}/readyz`);
    assert.equal(first.status, 200);
    await first.body?.cancel();
    ready = false;
    const second = await fetch(`${health.url}/readyz`);
    assert.equal(second.status, 503);
    await second.body?.cancel();
    assert.throws(
      () =>
        serveHealth({
          hostname: "127.0.0.1",
          port: health.addr.port,
          source: source(true),
        }),
      {
        name: "HealthBindError",
        message: new RegExp(
          `^cannot listen on TCP 127\\.0\\.0\\.1:${health.addr.port} for --health-port: address already in use$`,
        ),
      },
    );
  } finally {
    await health.close();
  }
});

Deno.test("parseServerArgs() reads --health-port and --drain-delay, both off by default", () => {
  const plain = parseServerArgs([]);
  assert.equal(plain.healthPort, undefined);
  assert.equal(plain.drainDelayMs, 0);
  const set = parseServerArgs([
    "--health-port",
    "9090",
    "--drain-delay",
    "2.5",
  ]);
  assert.equal(set.healthPort, 9090);
  assert.equal(set.drainDelayMs, 2500);
  assert.throws(() => parseServerArgs(["--drain-delay=-1"]), {
    name: "UsageError",
    message: "--drain-delay must be from 0 to 3600, got '-1'",
  });
  assert.ok(SERVER_HELP.includes("--health-port PORT"));
  assert.ok(SERVER_HELP.includes("--drain-delay SEC"));
});

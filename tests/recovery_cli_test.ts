import assert from "node:assert/strict";
import { UsageError } from "../lib/cli.ts";
import { parseClientArgs } from "../lib/client_cli.ts";
import { formatJson, formatText } from "../lib/report.ts";
import { parseServerArgs } from "../lib/server_cli.ts";

const URL = "https://127.0.0.1:4433/pingpong";

Deno.test("parseClientArgs() defaults to reconnecting: 10 retries, 5 s cap, dead after 3 s", () => {
  const config = parseClientArgs([URL]);
  assert.equal(config.reconnect, true);
  assert.equal(config.maxRetries, 10);
  assert.equal(config.retryMaxDelayMs, 5000);
  assert.equal(config.deadAfterMs, 3000);
});

Deno.test("parseClientArgs() reads --no-reconnect, --max-retries, --retry-max-delay and --dead-after", () => {
  const config = parseClientArgs([
    URL,
    "--no-reconnect",
    "--max-retries",
    "3",
    "--retry-max-delay",
    "1.5",
    "--dead-after",
    "0.5",
  ]);
  assert.equal(config.reconnect, false);
  assert.equal(config.maxRetries, 3);
  assert.equal(config.retryMaxDelayMs, 1500);
  assert.equal(config.deadAfterMs, 500);
});

Deno.test("parseClientArgs() refuses --max-retries 0 and a --dead-after below 50 ms", () => {
  assert.throws(() => parseClientArgs([URL, "--max-retries", "0"]), UsageError);
  assert.throws(
    () => parseClientArgs([URL, "--dead-after", "0.01"]),
    UsageError,
  );
});

Deno.test("parseServerArgs() reads --state-dir and --drain-timeout (default 5 s)", () => {
  assert.equal(parseServerArgs([]).drainTimeoutMs, 5000);
  const config = parseServerArgs([
    "--state-dir",
    "/tmp/x",
    "--drain-timeout",
    "2",
  ]);
  assert.equal(config.stateDir, "/tmp/x");
  assert.equal(config.drainTimeoutMs, 2000);
  assert.throws(
    () => parseServerArgs(["--state-dir", "d", "--cert", "c", "--key", "k"]),
    UsageError,
  );
});

Deno.test("formatText() and formatJson() report a reconnect as the user reads it", () => {
  const event = {
    type: "reconnect" as const,
    downMs: 2104.5,
    attempts: 3,
    missed: 21,
    reason: "no pong for 3 s",
    server: "10.0.0.2:4433",
  };
  assert.deepEqual(formatText(event), [
    "reconnected after 2.1 s, 3 attempts to 10.0.0.2:4433; 21 pings missed, counted lost",
  ]);
  assert.deepEqual(JSON.parse(formatJson(event)), {
    type: "reconnect",
    down_ms: 2104.5,
    attempts: 3,
    missed: 21,
    reason: "no pong for 3 s",
    server: "10.0.0.2:4433",
  });
  assert.deepEqual(
    formatText({ type: "disconnect", reason: "no pong for 3 s" }),
    [
      "connection lost (no pong for 3 s), reconnecting",
    ],
  );
});

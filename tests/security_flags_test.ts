import assert from "node:assert/strict";
import { UsageError } from "../lib/cli.ts";
import { DEFAULT_MAX_FRAME_SIZE } from "../lib/codec.ts";
import { DEFAULT_LIMITS } from "../lib/limits.ts";
import { parseSecurityFlags } from "../lib/security_flags.ts";
import { parseServerArgs } from "../lib/server_cli.ts";
import { parseClientArgs } from "../lib/client_cli.ts";

Deno.test("parseSecurityFlags() defaults to no token and DEFAULT_LIMITS", () => {
  assert.deepEqual(parseSecurityFlags({}), {
    token: undefined,
    allowOrigins: [],
    limits: { ...DEFAULT_LIMITS },
    maxMessageSize: DEFAULT_MAX_FRAME_SIZE,
    handshakeTimeoutMs: 10_000,
  });
});

Deno.test("parseServerArgs() reads every limit flag and the token from PINGPONG_TOKEN", () => {
  const config = parseServerArgs([
    "--max-sessions",
    "3",
    "--max-streams",
    "4",
    "--max-ping-rate",
    "50",
    "--idle-timeout",
    "1.5",
    "--stall-timeout",
    "0.5",
    "--max-stalled",
    "0",
    "--max-message-size",
    "1000",
    "--allow-origin",
    "https://a.example",
    "--allow-origin",
    "https://b.example:8443",
  ], { PINGPONG_TOKEN: "env-token" });
  assert.equal(config.token, "env-token");
  assert.deepEqual(config.limits, {
    maxSessions: 3,
    maxStreams: 4,
    maxPingsPerSecond: 50,
    idleTimeoutMs: 1500,
    stallTimeoutMs: 500,
    maxStalled: 0,
  });
  assert.equal(config.maxMessageSize, 1000);
  assert.deepEqual(config.allowOrigins, [
    "https://a.example",
    "https://b.example:8443",
  ]);
  assert.equal(
    parseServerArgs(["--token", "flag"], { PINGPONG_TOKEN: "env" }).token,
    "flag",
  );
});

Deno.test("parseServerArgs() refuses bad security values with a UsageError naming the flag", () => {
  for (
    const [args, flag] of [
      [["--token", ""], "--token"],
      [["--max-sessions", "-1"], "--max-sessions"],
      [["--max-streams", "1.5"], "--max-streams"],
      [["--max-message-size", "10"], "--max-message-size"],
      [["--idle-timeout", "x"], "--idle-timeout"],
      [["--stall-timeout", "-1"], "--stall-timeout"],
      [["--max-stalled", "2.5"], "--max-stalled"],
      [["--allow-origin", "app.example"], "--allow-origin"],
      [["--allow-origin", "https://a.example/path"], "--allow-origin"],
    ] as const
  ) {
    assert.throws(
      () => parseServerArgs([...args]),
      (error) => error instanceof UsageError && error.message.includes(flag),
      args.join(" "),
    );
  }
});

Deno.test("parseClientArgs() takes --token or PINGPONG_TOKEN and refuses an empty one", () => {
  const url = "https://127.0.0.1:4433/pingpong";
  assert.equal(parseClientArgs([url, "--token", "t"]).token, "t");
  assert.equal(parseClientArgs([url], { PINGPONG_TOKEN: "e" }).token, "e");
  assert.equal(parseClientArgs([url]).token, undefined);
  assert.throws(() => parseClientArgs([url, "--token", ""]), UsageError);
});

Deno.test("parseServerArgs() reads --handshake-timeout in seconds and refuses 0", () => {
  assert.equal(
    parseServerArgs(["--handshake-timeout", "2.5"]).handshakeTimeoutMs,
    2500,
  );
  assert.throws(
    () => parseServerArgs(["--handshake-timeout", "0"]),
    (error) =>
      error instanceof UsageError &&
      error.message.includes("--handshake-timeout"),
  );
});

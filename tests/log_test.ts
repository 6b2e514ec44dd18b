import assert from "node:assert/strict";
import { getLogger, resetSync } from "@logtape/logtape";
import { logger, setupLogging } from "../lib/log.ts";

/** Sets logging up with `options`, writing into the returned array. */
function capture(options: Parameters<typeof setupLogging>[0]): string[] {
  const lines: string[] = [];
  setupLogging({ ...options, write: (line) => lines.push(line) });
  return lines;
}

Deno.test("--log-format json writes one JSON object per line with level, logger, message and properties", () => {
  try {
    const lines = capture({ level: "info", format: "json" });
    logger("client").info("connected to {host} in {ms} ms", {
      host: "127.0.0.1:4433",
      ms: 12.5,
    });
    assert.equal(lines.length, 1);
    assert.ok(lines[0].endsWith("\n") && !lines[0].slice(0, -1).includes("\n"));
    const record = JSON.parse(lines[0]);
    assert.equal(record.level, "INFO");
    assert.equal(record.logger, "pingpong.client");
    assert.equal(record.message, 'connected to "127.0.0.1:4433" in 12.5 ms');
    assert.deepEqual(record.properties, { host: "127.0.0.1:4433", ms: 12.5 });
    assert.ok(!Number.isNaN(Date.parse(record["@timestamp"])));
  } finally {
    resetSync();
  }
});

Deno.test("--log-level writes its level and above, nothing below", () => {
  try {
    const expected = {
      debug: ["DEBUG", "INFO", "WARN", "ERROR"],
      info: ["INFO", "WARN", "ERROR"],
      warning: ["WARN", "ERROR"],
      error: ["ERROR"],
    } as const;
    for (const [level, levels] of Object.entries(expected)) {
      const lines = capture({
        level: level as keyof typeof expected,
        format: "json",
      });
      const log = logger("server");
      log.debug("d");
      log.info("i");
      log.warning("w");
      log.error("e");
      assert.deepEqual(
        lines.map((line) => JSON.parse(line).level),
        levels,
        `--log-level ${level}`,
      );
    }
  } finally {
    resetSync();
  }
});

Deno.test("text logs are one line each, with the level and the part of pingpong", () => {
  try {
    const lines = capture({ level: "warning" });
    logger("reconnect").info("not shown");
    logger("reconnect").warning("attempt {n} failed", { n: 2 });
    assert.equal(lines.length, 1);
    assert.match(lines[0], /\[WRN\] pingpong·reconnect: attempt 2 failed\n$/);
  } finally {
    resetSync();
  }
});

Deno.test("loggers outside pingpong's category are not written", () => {
  try {
    const lines = capture({ level: "debug", format: "json" });
    // A library logging under its own category stays off stderr.
    getLogger(["some-library"]).error("not ours");
    logger("x").debug("ours");
    assert.deepEqual(lines.map((line) => JSON.parse(line).message), ["ours"]);
  } finally {
    resetSync();
  }
});

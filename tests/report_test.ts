import assert from "node:assert/strict";
import {
  formatJson,
  formatText,
  lossPercent,
  Reporter,
} from "../lib/report.ts";
import type { RunSummary } from "../lib/stats.ts";

const summary: RunSummary = {
  transmitted: 3,
  received: 2,
  loss: 1 / 3,
  rtt: {
    min: 0.1,
    avg: 0.2,
    max: 0.3,
    mdev: 0.08165,
    p50: 0.1,
    p90: 0.3,
    p99: 0.3,
  },
};

Deno.test("formatText() prints replies and the summary like ping(8)", () => {
  assert.deepEqual(
    formatText({ type: "pong", seq: 3, rttMs: 0.41234, bytes: 64 }),
    [
      "seq=3 bytes=64 time=0.412 ms",
    ],
  );
  assert.deepEqual(
    formatText({
      type: "summary",
      url: "https://h/p",
      summary,
      handshakeMs: 12.3456,
    }),
    [
      "",
      "--- https://h/p ping statistics ---",
      "3 transmitted, 2 received, 33.3% loss",
      "rtt min/avg/max/mdev = 0.100/0.200/0.300/0.082 ms",
      "rtt p50/p90/p99 = 0.100/0.300/0.300 ms",
      "handshake 12.346 ms",
    ],
  );
});

Deno.test("formatJson() emits the documented objects", () => {
  assert.deepEqual(
    JSON.parse(formatJson({ type: "pong", seq: 3, rttMs: 0.41234, bytes: 64 })),
    {
      type: "pong",
      seq: 3,
      rtt_ms: 0.412,
      bytes: 64,
    },
  );
  assert.deepEqual(JSON.parse(formatJson({ type: "timeout", seq: 4 })), {
    type: "timeout",
    seq: 4,
  });
  const parsed = JSON.parse(
    formatJson({ type: "summary", url: "u", summary, handshakeMs: 1 }),
  );
  assert.equal(parsed.type, "summary");
  assert.equal(parsed.transmitted, 3);
  assert.equal(parsed.received, 2);
  assert.equal(parsed.loss, 0.3333);
  assert.deepEqual(Object.keys(parsed.rtt_ms), [
    "min",
    "avg",
    "max",
    "mdev",
    "p50",
    "p90",
    "p99",
  ]);
  assert.equal(parsed.handshake_ms, 1);
});

Deno.test("formatJson() reports null RTT figures when nothing came back", () => {
  const parsed = JSON.parse(formatJson({
    type: "summary",
    url: "u",
    summary: { transmitted: 1, received: 0, loss: 1, rtt: undefined },
    handshakeMs: undefined,
  }));
  assert.equal(parsed.rtt_ms, null);
  assert.equal(parsed.handshake_ms, null);
});

Deno.test("Reporter writes JSON lines or text lines", () => {
  const lines: string[] = [];
  new Reporter(true, (line) => lines.push(line)).report({
    type: "timeout",
    seq: 1,
  });
  new Reporter(false, (line) => lines.push(line)).report({
    type: "timeout",
    seq: 1,
  });
  assert.deepEqual(lines, ['{"type":"timeout","seq":1}', "seq=1 timeout"]);
});

Deno.test("Reporter holds the start line until the next event, and drops it on discard", () => {
  const start = {
    type: "start",
    url: "https://h:1/p",
    mode: "stream",
    size: 64,
    handshakeMs: 1,
    transport: "h3",
  } as const;
  const lines: string[] = [];
  const reporter = new Reporter(false, (line) => lines.push(line));
  reporter.report(start);
  assert.deepEqual(lines, []);
  reporter.report({ type: "pong", seq: 1, rttMs: 0.5, bytes: 64 });
  assert.equal(lines.length, 2);
  assert.match(lines[0], /^PING https:\/\/h:1\/p .*connected over HTTP\/3/);
  assert.equal(lines[1], "seq=1 bytes=64 time=0.500 ms");

  const refused: string[] = [];
  const second = new Reporter(true, (line) => refused.push(line));
  second.report(start);
  second.discard();
  second.flush();
  assert.deepEqual(refused, []);

  const flushed: string[] = [];
  const third = new Reporter(true, (line) => flushed.push(line));
  third.report(start);
  third.flush();
  third.flush();
  assert.equal(flushed.length, 1);
  assert.equal(JSON.parse(flushed[0]).type, "start");
});

Deno.test("the loss never reads 0% when a ping was lost, nor 100% when one was answered", () => {
  assert.equal(lossPercent(0), "0%");
  assert.equal(lossPercent(1), "100%");
  assert.equal(lossPercent(0.1), "10%");
  assert.equal(lossPercent(1 / 1611), "0.1%");
  assert.equal(lossPercent(1 / 3390), "<0.1%");
  assert.equal(lossPercent(3389 / 3390), ">99.9%");
  const lines = formatText({
    type: "summary",
    url: "u",
    summary: {
      transmitted: 3390,
      received: 3389,
      loss: 1 / 3390,
      rtt: undefined,
    },
    handshakeMs: undefined,
  });
  assert.equal(lines[2], "3390 transmitted, 3389 received, <0.1% loss");
  const parsed = JSON.parse(formatJson({
    type: "summary",
    url: "u",
    summary: {
      transmitted: 30_000,
      received: 29_999,
      loss: 1 / 30_000,
      rtt: undefined,
    },
    handshakeMs: undefined,
  }));
  assert.equal(parsed.loss, 0.00003333);
});

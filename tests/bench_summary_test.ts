import assert from "node:assert/strict";
import { renderChart } from "../bench/chart.ts";
import { fmt, markdownTable, median, summarize } from "../bench/_summary.ts";

Deno.test("summarize() gives nearest-rank p50 and p99 and the sample count", () => {
  const samples = Array.from({ length: 200 }, (_, i) => 200 - i);
  assert.deepEqual(summarize(samples), { p50: 100, p99: 198, n: 200 });
  assert.equal(summarize([]).n, 0);
  assert.ok(Number.isNaN(summarize([]).p50));
  assert.equal(median([3, 1, 2]), 2);
});

Deno.test("fmt() and markdownTable() print figures for the report", () => {
  assert.equal(fmt(0.0123456), "0.0123");
  assert.equal(fmt(18046.4), "18046");
  assert.equal(fmt(NaN), "n/a");
  assert.equal(
    markdownTable(["a", "b"], [["1", "2"]]),
    "| a | b |\n| --- | --- |\n| 1 | 2 |",
  );
});

Deno.test("renderChart() draws a bar per available RTT row and marks the missing ones", () => {
  const svg = renderChart({
    meta: { date: "d", deno: "2.9.6" },
    rtt: [
      { label: "raw UDP echo (floor)", available: true, p50: 0.05, p99: 0.2 },
      { label: "pingpong, stream", available: true, p50: 0.1, p99: 0.5 },
      {
        label: "pingpong HTTP/2 fallback",
        available: false,
        p50: NaN,
        p99: NaN,
      },
    ],
    throughput: [
      {
        server: "product",
        sessions: 1,
        pongsPerSec: 9000,
        serverCpuUsPerPong: 50,
      },
      {
        server: "bare",
        sessions: 1,
        pongsPerSec: 8000,
        serverCpuUsPerPong: 70,
      },
    ],
  });
  assert.ok(svg.startsWith("<svg"));
  assert.ok(svg.includes("0.1 (0.5)"));
  assert.ok(svg.includes("not measured"));
  assert.ok(svg.includes(">9000<"));
  assert.ok(!svg.includes("NaN"));
});

import assert from "node:assert/strict";
import { percentile, RttStats } from "../lib/stats.ts";

function close(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) < 1e-9,
    `${what}: ${actual} != ${expected}`,
  );
}

Deno.test("RttStats.summary() matches hand-computed min/avg/max/mdev", () => {
  const stats = new RttStats();
  // Samples 1, 2, 3, 4, 10: sum 20, avg 4; squares 1+4+9+16+100 = 130,
  // variance 130/5 - 16 = 10, mdev sqrt(10).
  for (const rtt of [3, 1, 10, 2, 4]) {
    stats.sent();
    stats.received(rtt);
  }
  const { rtt, transmitted, received, loss } = stats.summary();
  assert.equal(transmitted, 5);
  assert.equal(received, 5);
  assert.equal(loss, 0);
  assert.ok(rtt);
  assert.equal(rtt.min, 1);
  assert.equal(rtt.max, 10);
  close(rtt.avg, 4, "avg");
  close(rtt.mdev, Math.sqrt(10), "mdev");
  assert.equal(rtt.p50, 3);
  assert.equal(rtt.p90, 10);
  assert.equal(rtt.p99, 10);
});

Deno.test("RttStats.summary() counts pings with no pong as loss", () => {
  const stats = new RttStats();
  for (let i = 0; i < 4; i++) stats.sent();
  stats.received(1);
  const summary = stats.summary();
  assert.equal(summary.loss, 0.75);
  assert.equal(summary.received, 1);
  assert.equal(summary.rtt?.mdev, 0);
});

Deno.test("RttStats.summary() has no RTT figures when nothing came back", () => {
  const stats = new RttStats();
  stats.sent();
  assert.deepEqual(stats.summary(), {
    transmitted: 1,
    received: 0,
    loss: 1,
    rtt: undefined,
  });
  assert.equal(new RttStats().summary().loss, 0);
});

Deno.test("percentile() uses the nearest rank", () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  assert.equal(percentile(sorted, 50), 50);
  assert.equal(percentile(sorted, 90), 90);
  assert.equal(percentile(sorted, 99), 99);
  assert.equal(percentile(sorted, 100), 100);
  assert.equal(percentile(sorted, 0), 1);
  assert.equal(percentile([7], 99), 7);
  assert.throws(() => percentile([], 50), RangeError);
  assert.throws(() => percentile([1], 101), RangeError);
});

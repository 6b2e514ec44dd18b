import assert from "node:assert/strict";
import { LogHistogram, percentile, RttStats } from "../lib/stats.ts";

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

/** 1..n in a fixed shuffled order (a linear congruential walk over 1..n). */
function shuffled(n: number): number[] {
  const out: number[] = [];
  for (let i = 0, x = 7; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(x);
  }
  const order = out.map((x, i) => [x, i + 1]).sort((a, b) => a[0] - b[0]);
  return order.map(([, value]) => value);
}

Deno.test("RttStats past its exact samples keeps min/avg/max/mdev exact and percentiles within 0.5%", () => {
  const stats = new RttStats({ exactSamples: 100 });
  const n = 10_000;
  for (const rtt of shuffled(n)) {
    stats.sent();
    stats.received(rtt);
  }
  const rtt = stats.summary().rtt!;
  // 1..n: avg (n + 1) / 2, population variance (n² - 1) / 12.
  assert.equal(rtt.min, 1);
  assert.equal(rtt.max, n);
  close(rtt.avg, (n + 1) / 2, "avg");
  close(rtt.mdev, Math.sqrt((n * n - 1) / 12), "mdev");
  // Nearest rank of 1..n at p is p% of n.
  for (const [p, value] of [[50, 5000], [90, 9000], [99, 9900]] as const) {
    const got = rtt[`p${p}`];
    assert.ok(
      Math.abs(got - value) <= 0.005 * value,
      `p${p}: ${got} is not within 0.5% of ${value}`,
    );
  }
  assert.ok(stats.retained < 2000, `holds ${stats.retained} numbers`);
});

Deno.test("RttStats holds bounded memory however many pongs arrive", () => {
  const stats = new RttStats();
  // A million pongs between 0.05 and 50 ms: the buckets span a factor of
  // 1000, ln(1000) / ln(1.005 / 0.995) = 691 of them at most.
  for (let i = 0; i < 1_000_000; i++) {
    stats.received(0.05 * 1000 ** ((i * 7919 % 1_000_000) / 1_000_000));
  }
  assert.equal(stats.receivedCount, 1_000_000);
  assert.ok(stats.retained <= 692, `holds ${stats.retained} numbers`);
});

Deno.test("RttStats.summary() keeps mdev exact for round trips far from zero", () => {
  // The same spread as the hand-computed case, shifted by 1e9 ms: a running
  // sum of squares would lose it to rounding; the deviation is still sqrt(10).
  const stats = new RttStats();
  for (const rtt of [3, 1, 10, 2, 4]) stats.received(1e9 + rtt);
  const { rtt } = stats.summary();
  assert.ok(Math.abs(rtt!.mdev - Math.sqrt(10)) < 1e-6, `mdev ${rtt!.mdev}`);
  assert.equal(rtt!.avg, 1e9 + 4);
});

Deno.test("LogHistogram reads every rank back within its relative error", () => {
  const histogram = new LogHistogram({ relativeError: 0.01 });
  const values = [0, 0.013, 0.5, 1, 1, 2.25, 37, 412.5, 9_999];
  for (const value of values) histogram.add(value);
  assert.equal(histogram.count, values.length);
  values.forEach((value, i) => {
    const got = histogram.valueAtRank(i + 1);
    assert.ok(
      Math.abs(got - value) <= 0.01 * value,
      `rank ${i + 1}: ${got} for ${value}`,
    );
  });
  assert.throws(() => histogram.valueAtRank(0), RangeError);
  assert.throws(() => histogram.valueAtRank(values.length + 1), RangeError);
  assert.throws(() => new LogHistogram({ relativeError: 0 }), RangeError);
});

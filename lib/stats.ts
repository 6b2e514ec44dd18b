/**
 * Round-trip statistics as ping(8) reports them, plus percentiles.
 *
 * Pure: no clock, no I/O. The client feeds it what it measured.
 *
 * @module
 */

/** Figures over the round-trip times of one run, in milliseconds. */
export interface RttSummary {
  /** Smallest round trip. */
  min: number;
  /** Arithmetic mean. */
  avg: number;
  /** Largest round trip. */
  max: number;
  /** Standard deviation (population), as ping(8) calls mdev. */
  mdev: number;
  /** Median (nearest rank). */
  p50: number;
  /** 90th percentile (nearest rank). */
  p90: number;
  /** 99th percentile (nearest rank). */
  p99: number;
}

/** Everything a run ends with: counts, loss and RTT figures. */
export interface RunSummary {
  /** Pings sent. */
  transmitted: number;
  /** Pongs received. */
  received: number;
  /** Fraction of pings with no pong, 0 to 1. */
  loss: number;
  /** RTT figures, or `undefined` when no pong arrived. */
  rtt: RttSummary | undefined;
}

/**
 * Value at percentile `p` (0 to 100) of ascending `sorted`, by nearest rank.
 *
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * console.log(percentile([1, 2, 3, 4], 50)); // 2
 * ```
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) throw new RangeError("no samples");
  if (!(p >= 0 && p <= 100)) {
    throw new RangeError(`percentile ${p} is not 0-100`);
  }
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)];
}

/**
 * Collects round-trip times and counts of one run.
 *
 * @example
 * ```ts
 * import { RttStats } from "./stats.ts";
 * const stats = new RttStats();
 * stats.sent(); stats.sent();
 * stats.received(1.5);
 * console.log(stats.summary().loss); // 0.5
 * ```
 */
export class RttStats {
  #samples: number[] = [];
  #transmitted = 0;
  #sum = 0;
  #sumSquares = 0;
  #min = Infinity;
  #max = -Infinity;

  /** Counts one ping sent. */
  sent(): void {
    this.#transmitted++;
  }

  /** Records the round trip of one pong, in ms. */
  received(rttMs: number): void {
    this.#samples.push(rttMs);
    this.#sum += rttMs;
    this.#sumSquares += rttMs * rttMs;
    if (rttMs < this.#min) this.#min = rttMs;
    if (rttMs > this.#max) this.#max = rttMs;
  }

  /** Pings sent so far. */
  get transmitted(): number {
    return this.#transmitted;
  }

  /** Pongs received so far. */
  get receivedCount(): number {
    return this.#samples.length;
  }

  /** The figures so far. */
  summary(): RunSummary {
    const n = this.#samples.length;
    const transmitted = this.#transmitted;
    const loss = transmitted === 0 ? 0 : (transmitted - n) / transmitted;
    if (n === 0) return { transmitted, received: 0, loss, rtt: undefined };
    const avg = this.#sum / n;
    const variance = Math.max(0, this.#sumSquares / n - avg * avg);
    const sorted = this.#samples.slice().sort((a, b) => a - b);
    return {
      transmitted,
      received: n,
      loss,
      rtt: {
        min: this.#min,
        avg,
        max: this.#max,
        mdev: Math.sqrt(variance),
        p50: percentile(sorted, 50),
        p90: percentile(sorted, 90),
        p99: percentile(sorted, 99),
      },
    };
  }
}

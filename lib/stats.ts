/**
 * Round-trip statistics as ping(8) reports them, plus percentiles.
 *
 * Pure: no clock, no I/O. The client feeds it what it measured. Memory is
 * bounded whatever the run's length: see {@linkcode RttStats}.
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

/** Options of {@linkcode LogHistogram}. */
export interface LogHistogramOptions {
  /**
   * Largest relative error of a value read back: a bucket holds the values
   * within this fraction of its representative.
   *
   * @default {0.005}
   */
  relativeError?: number;
}

/**
 * Counts positive values in logarithmic buckets (as DDSketch does): bucket
 * `i` holds `(γ^(i-1), γ^i]` with `γ = (1 + α) / (1 - α)`, and reads back as
 * `2γ^i / (γ + 1)`, within a relative error `α` of every value in it. Memory
 * grows with the range of values, not their number: 0.01 ms to 1000 s at
 * α = 0.5% is at most 1,843 buckets. Values at or below 0 count as 0.
 *
 * @example
 * ```ts
 * import { LogHistogram } from "./stats.ts";
 * const histogram = new LogHistogram({ relativeError: 0.01 });
 * for (const value of [1, 2, 3, 4, 100]) histogram.add(value);
 * const p50 = histogram.valueAtRank(3); // the 3rd smallest: 3, within 1%
 * console.log(Math.abs(p50 - 3) <= 0.03); // true
 * ```
 */
export class LogHistogram {
  readonly #gamma: number;
  readonly #logGamma: number;
  readonly #counts = new Map<number, number>();
  #zeros = 0;
  #count = 0;

  /** @param options The relative error. */
  constructor(options: LogHistogramOptions = {}) {
    const alpha = options.relativeError ?? 0.005;
    if (!(alpha > 0 && alpha < 1)) {
      throw new RangeError(`relativeError ${alpha} is not in (0, 1)`);
    }
    this.#gamma = (1 + alpha) / (1 - alpha);
    this.#logGamma = Math.log(this.#gamma);
  }

  /** Values added so far. */
  get count(): number {
    return this.#count;
  }

  /** Buckets in use: the memory it holds. */
  get buckets(): number {
    return this.#counts.size + (this.#zeros > 0 ? 1 : 0);
  }

  /** Counts one value. */
  add(value: number): void {
    this.#count++;
    if (!(value > 0)) {
      this.#zeros++;
      return;
    }
    const index = Math.ceil(Math.log(value) / this.#logGamma);
    this.#counts.set(index, (this.#counts.get(index) ?? 0) + 1);
  }

  /**
   * The value of rank `rank` (1 = smallest) in ascending order, within the
   * relative error.
   *
   * @throws {RangeError} when `rank` is not from 1 to {@linkcode count}.
   */
  valueAtRank(rank: number): number {
    if (!(rank >= 1 && rank <= this.#count)) {
      throw new RangeError(`rank ${rank} is not 1-${this.#count}`);
    }
    let seen = this.#zeros;
    if (rank <= seen) return 0;
    const indexes = [...this.#counts.keys()].sort((a, b) => a - b);
    for (const index of indexes) {
      seen += this.#counts.get(index)!;
      if (rank <= seen) return 2 * this.#gamma ** index / (this.#gamma + 1);
    }
    throw new Error("unreachable: counts add up to count");
  }
}

/** Options of {@linkcode RttStats}. */
export interface RttStatsOptions {
  /**
   * Round trips kept as they are, for exact percentiles; past this many, the
   * percentiles come from a {@linkcode LogHistogram} (within 0.5%) so a run
   * of any length holds bounded memory. min, avg, max and mdev stay exact.
   *
   * @default {10000}
   */
  exactSamples?: number;
}

/**
 * Collects round-trip times and counts of one run, in bounded memory.
 *
 * min, avg, max and mdev are exact (running figures). The percentiles are
 * exact (nearest rank) for the first {@linkcode RttStatsOptions.exactSamples}
 * pongs; past that they are read from a log-bucketed histogram, within 0.5%
 * of the exact value (and never outside min..max).
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
  readonly #exactSamples: number;
  #samples: number[] | undefined = [];
  #histogram: LogHistogram | undefined;
  #transmitted = 0;
  #received = 0;
  // Welford's running mean and sum of squared deviations: exact to rounding
  // however long the run, where sum-of-squares minus mean² cancels badly.
  #mean = 0;
  #m2 = 0;
  #min = Infinity;
  #max = -Infinity;

  /** @param options When percentiles turn from exact to bucketed. */
  constructor(options: RttStatsOptions = {}) {
    this.#exactSamples = options.exactSamples ?? 10_000;
  }

  /** Counts one ping sent. */
  sent(): void {
    this.#transmitted++;
  }

  /**
   * Takes back one ping counted by {@linkcode sent}: it was still in flight,
   * its reply not yet due, when the run was interrupted, so it is neither
   * answered nor lost (as ping(8) counts on Ctrl-C).
   *
   * @example
   * ```ts
   * import { RttStats } from "./stats.ts";
   * const stats = new RttStats();
   * stats.sent();
   * stats.received(1.2);
   * stats.sent(); // still in flight when Ctrl-C came
   * stats.withdrawn();
   * console.log(stats.summary().transmitted, stats.summary().loss); // 1 0
   * ```
   */
  withdrawn(): void {
    if (this.#transmitted > this.#received) this.#transmitted--;
  }

  /** Records the round trip of one pong, in ms. */
  received(rttMs: number): void {
    this.#received++;
    const delta = rttMs - this.#mean;
    this.#mean += delta / this.#received;
    this.#m2 += delta * (rttMs - this.#mean);
    if (rttMs < this.#min) this.#min = rttMs;
    if (rttMs > this.#max) this.#max = rttMs;
    if (this.#samples) {
      this.#samples.push(rttMs);
      if (this.#samples.length <= this.#exactSamples) return;
      this.#histogram = new LogHistogram();
      for (const sample of this.#samples) this.#histogram.add(sample);
      this.#samples = undefined;
    } else {
      this.#histogram!.add(rttMs);
    }
  }

  /** Pings sent so far. */
  get transmitted(): number {
    return this.#transmitted;
  }

  /** Pongs received so far. */
  get receivedCount(): number {
    return this.#received;
  }

  /**
   * Numbers held for the percentiles (samples or buckets): bounded.
   *
   * @example Past `exactSamples`, memory follows the range of RTTs, not their number
   * ```ts
   * import { RttStats } from "./stats.ts";
   * const stats = new RttStats({ exactSamples: 1000 });
   * const run = (pongs: number) => {
   *   for (let i = 0; i < pongs; i++) stats.received(1 + (i % 100) / 100);
   *   return stats.retained;
   * };
   * console.log(run(10_000) === run(100_000)); // true
   * ```
   */
  get retained(): number {
    return this.#samples?.length ?? this.#histogram!.buckets;
  }

  /**
   * The figures so far; `rtt` is `undefined` until a pong arrives.
   *
   * @example
   * ```ts
   * import { RttStats } from "./stats.ts";
   * const stats = new RttStats();
   * stats.sent();
   * console.log(stats.summary().rtt); // undefined
   * for (const rtt of [1, 2, 3, 4]) {
   *   stats.sent();
   *   stats.received(rtt);
   * }
   * const { received, loss, rtt } = stats.summary();
   * console.log(received, loss, rtt?.min, rtt?.p50, rtt?.max); // 4 0.2 1 2 4
   * ```
   */
  summary(): RunSummary {
    const n = this.#received;
    const transmitted = this.#transmitted;
    const loss = transmitted === 0 ? 0 : (transmitted - n) / transmitted;
    if (n === 0) return { transmitted, received: 0, loss, rtt: undefined };
    let at: (p: number) => number;
    if (this.#samples) {
      const sorted = this.#samples.slice().sort((a, b) => a - b);
      at = (p) => percentile(sorted, p);
    } else {
      const histogram = this.#histogram!;
      at = (p) => {
        const rank = Math.max(1, Math.ceil((p / 100) * n));
        const value = histogram.valueAtRank(rank);
        return Math.min(this.#max, Math.max(this.#min, value));
      };
    }
    return {
      transmitted,
      received: n,
      loss,
      rtt: {
        min: this.#min,
        avg: this.#mean,
        max: this.#max,
        mdev: Math.sqrt(Math.max(0, this.#m2 / n)),
        p50: at(50),
        p90: at(90),
        p99: at(99),
      },
    };
  }
}

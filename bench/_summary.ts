/**
 * Figures of a bench run: percentiles of pooled samples and the markdown
 * tables printed on stdout. Pure functions; run.ts does the measuring.
 *
 * @module
 */
import { percentile } from "../lib/stats.ts";

/** p50, p99 and the number of samples behind them. */
export interface Percentiles {
  /** Median. */
  p50: number;
  /** 99th percentile (nearest rank). */
  p99: number;
  /** Number of samples. */
  n: number;
}

/**
 * p50/p99/n of `samples` (any order).
 *
 * @example
 * ```ts
 * import { summarize } from "./_summary.ts";
 * console.log(summarize([3, 1, 2])); // { p50: 2, p99: 3, n: 3 }
 * ```
 */
export function summarize(samples: readonly number[]): Percentiles {
  if (samples.length === 0) return { p50: NaN, p99: NaN, n: 0 };
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    n: sorted.length,
  };
}

/**
 * Median of `values` (the middle one, or the lower of the two middle ones).
 *
 * @example
 * ```ts
 * import { median } from "./_summary.ts";
 * console.log(median([5, 1, 3])); // 3
 * ```
 */
export function median(values: readonly number[]): number {
  return summarize(values).p50;
}

/**
 * A number for a table: 3 significant digits, `n/a` for NaN.
 *
 * @example
 * ```ts
 * import { fmt } from "./_summary.ts";
 * console.log(fmt(0.123456), fmt(12345.6), fmt(NaN)); // 0.123 12346 n/a
 * ```
 */
export function fmt(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/**
 * A markdown table.
 *
 * @example
 * ```ts
 * import { markdownTable } from "./_summary.ts";
 * console.log(markdownTable(["a", "b"], [["1", "2"]]));
 * // | a | b |
 * // | --- | --- |
 * // | 1 | 2 |
 * ```
 */
export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((row) => `| ${row.join(" | ")} |`),
  ].join("\n");
}

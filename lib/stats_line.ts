/**
 * The server's one-line status report, printed on stdout when the process
 * gets {@linkcode STATS_SIGNAL}, so operators and tests can read live
 * counters without a metrics endpoint.
 *
 * @module
 */
import type { ResponderStats } from "./responder.ts";

/**
 * The signal that asks the server for its status line. Not `SIGUSR1`: since
 * Deno 2.9.2 that signal starts the V8 inspector on 127.0.0.1:9229
 * (denoland/deno#35738), unauthenticated, which would let any local user run
 * code inside the server (docs/security.md).
 *
 * @example
 * ```ts
 * import { STATS_SIGNAL } from "./stats_line.ts";
 * console.log(STATS_SIGNAL); // SIGUSR2
 * ```
 */
export const STATS_SIGNAL: Deno.Signal = "SIGUSR2";

/** What the status line reports. */
export interface ServerStatus {
  /** Sessions open now. */
  sessionCount: number;
  /** Counters over every session served. */
  stats: Readonly<ResponderStats>;
  /** Sessions refused or cut off, by close code. */
  refusals: ReadonlyMap<number, number>;
  /** Streams whose peers do not read their replies, now (`--max-stalled`). */
  stalledStreams: number;
}

/**
 * Formats the status line: `stats N sessions=… streams=… pongs=… malformed=…
 * refused=CODE:COUNT,… stalled=… rss_kib=… heap_used_kib=…`, where `N` numbers the
 * reports so a reader can wait for the one it asked for. Memory figures are
 * given when `memory` is.
 *
 * @example
 * ```ts
 * import { formatStatsLine } from "./stats_line.ts";
 * const line = formatStatsLine(1, {
 *   sessionCount: 2,
 *   stats: { pongs: 5, malformed: 0, streams: 3 },
 *   refusals: new Map([[401, 1]]),
 *   stalledStreams: 0,
 * });
 * console.log(line); // stats 1 sessions=2 streams=3 pongs=5 malformed=0 refused=401:1 stalled=0
 * ```
 */
export function formatStatsLine(
  n: number,
  status: ServerStatus,
  memory?: { rss: number; heapUsed: number },
): string {
  const refused = [...status.refusals].sort(([a], [b]) => a - b)
    .map(([code, count]) => `${code}:${count}`).join(",") || "0";
  const { streams, pongs, malformed } = status.stats;
  const line =
    `stats ${n} sessions=${status.sessionCount} streams=${streams} pongs=${pongs} malformed=${malformed} refused=${refused} stalled=${status.stalledStreams}`;
  if (!memory) return line;
  return `${line} rss_kib=${Math.round(memory.rss / 1024)} heap_used_kib=${
    Math.round(memory.heapUsed / 1024)
  }`;
}

/**
 * Reads a server.ts process's counters from the line it prints on
 * `STATS_SIGNAL` (lib/stats_line.ts), for tests that must know the session count.
 *
 * @module
 */
import { STATS_SIGNAL } from "../../lib/stats_line.ts";
import { pollUntil } from "./poll.ts";
import type { ServerProcess } from "./processes.ts";

/** A parsed `stats` line: counters, and refusals by close code. */
export type Stats = Record<string, number> & {
  refused: Record<string, number>;
};

/** Asks the server for its stats line (`STATS_SIGNAL`) and parses it. */
export function statsReader(server: ServerProcess): () => Promise<Stats> {
  let asked = 0;
  return async () => {
    asked++;
    Deno.kill(server.child.pid, STATS_SIGNAL);
    const line = await server.waitForLine(new RegExp(`^stats ${asked} `), 5000);
    const stats = { refused: {} } as Stats;
    for (const field of line.split(" ").slice(2)) {
      const [key, value] = field.split("=");
      if (key === "refused") {
        for (const pair of value === "0" ? [] : value.split(",")) {
          const [code, count] = pair.split(":");
          stats.refused[code] = Number(count);
        }
      } else {
        stats[key] = Number(value);
      }
    }
    return stats;
  };
}

/** Polls the stats line until `sessions` is `want` (at most 50 times). */
export async function waitForSessions(
  stats: () => Promise<Stats>,
  want: number,
): Promise<Stats> {
  const last = await pollUntil(stats, (s) => s.sessions === want, {
    attempts: 50,
    intervalMs: 100,
  });
  if (last.sessions !== want) {
    throw new Error(`sessions never reached ${want}: ${JSON.stringify(last)}`);
  }
  return last;
}

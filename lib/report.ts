/**
 * The client's output: ping(8)-style text, or one JSON object per line.
 *
 * Pure formatting; the caller decides where lines go.
 *
 * @module
 */
import type { RunSummary } from "./stats.ts";

/** One thing the client reports. */
export type ReportEvent =
  | {
    type: "start";
    url: string;
    mode: string;
    size: number;
    handshakeMs: number;
    /** `h3` or `h2`, when known. */
    transport?: string;
  }
  | { type: "pong"; seq: number; rttMs: number; bytes: number }
  | { type: "timeout"; seq: number }
  | { type: "error"; code: number; reason: string }
  | { type: "disconnect"; reason: string }
  | {
    type: "reconnect";
    downMs: number;
    attempts: number;
    missed: number;
    reason: string;
    server: string;
  }
  | {
    type: "summary";
    url: string;
    summary: RunSummary;
    handshakeMs: number | undefined;
  };

/**
 * Formats `ms` with three decimals, as ping(8) does.
 *
 * @example
 * ```ts
 * import { ms3 } from "./report.ts";
 * console.log(ms3(0.41234)); // 0.412
 * ```
 */
export function ms3(ms: number): string {
  return ms.toFixed(3);
}

function transportName(transport: string): string {
  return ({ h3: "HTTP/3", h2: "HTTP/2" } as Record<string, string>)[
    transport
  ] ?? transport;
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/**
 * Loss as ping(8) shows it, to one decimal, except that a loss never reads
 * as 0% and a reply never as 100%: 1 lost in 3390 is `<0.1%`.
 *
 * @example
 * ```ts
 * import { lossPercent } from "./report.ts";
 * console.log(lossPercent(1 / 3), lossPercent(1 / 3390)); // 33.3% <0.1%
 * ```
 */
export function lossPercent(loss: number): string {
  const shown = Number((loss * 100).toFixed(1));
  if (loss > 0 && shown === 0) return "<0.1%";
  if (loss < 1 && shown === 100) return ">99.9%";
  return `${shown}%`;
}

/** A loss fraction to 4 significant digits: never 0 when a ping was lost. */
function lossFraction(loss: number): number {
  return Number(loss.toPrecision(4));
}

/**
 * The text lines for `event` (none for some events).
 *
 * @example
 * ```ts
 * import { formatText } from "./report.ts";
 * console.log(formatText({ type: "pong", seq: 3, rttMs: 0.4123, bytes: 64 }));
 * // [ "seq=3 bytes=64 time=0.412 ms" ]
 * ```
 */
export function formatText(event: ReportEvent): string[] {
  switch (event.type) {
    case "start":
      return [
        `PING ${event.url} (${event.mode}, ${event.size} bytes): connected${
          event.transport ? ` over ${transportName(event.transport)}` : ""
        } in ${ms3(event.handshakeMs)} ms`,
      ];
    case "pong":
      return [
        `seq=${event.seq} bytes=${event.bytes} time=${ms3(event.rttMs)} ms`,
      ];
    case "timeout":
      return [`seq=${event.seq} timeout`];
    case "error":
      return [`server error ${event.code}: ${event.reason}`];
    case "disconnect":
      return [`connection lost (${event.reason}), reconnecting`];
    case "reconnect":
      return [
        `reconnected after ${
          (event.downMs / 1000).toFixed(1)
        } s, ${event.attempts} attempt${
          event.attempts === 1 ? "" : "s"
        } to ${event.server}${
          event.missed > 0 ? `; ${event.missed} pings missed, counted lost` : ""
        }`,
      ];
    case "summary": {
      const { summary } = event;
      const lines = [
        "",
        `--- ${event.url} ping statistics ---`,
        `${summary.transmitted} transmitted, ${summary.received} received, ${
          lossPercent(summary.loss)
        } loss`,
      ];
      if (summary.rtt) {
        const r = summary.rtt;
        lines.push(
          `rtt min/avg/max/mdev = ${ms3(r.min)}/${ms3(r.avg)}/${ms3(r.max)}/${
            ms3(r.mdev)
          } ms`,
          `rtt p50/p90/p99 = ${ms3(r.p50)}/${ms3(r.p90)}/${ms3(r.p99)} ms`,
        );
      }
      if (event.handshakeMs !== undefined) {
        lines.push(`handshake ${ms3(event.handshakeMs)} ms`);
      }
      return lines;
    }
  }
}

/**
 * The JSON line for `event`.
 *
 * @example
 * ```ts
 * import { formatJson } from "./report.ts";
 * console.log(formatJson({ type: "timeout", seq: 4 })); // {"type":"timeout","seq":4}
 * ```
 */
export function formatJson(event: ReportEvent): string {
  switch (event.type) {
    case "start":
      return JSON.stringify({
        type: "start",
        url: event.url,
        mode: event.mode,
        size: event.size,
        ...(event.transport ? { transport: event.transport } : {}),
        handshake_ms: round3(event.handshakeMs),
      });
    case "pong":
      return JSON.stringify({
        type: "pong",
        seq: event.seq,
        rtt_ms: round3(event.rttMs),
        bytes: event.bytes,
      });
    case "timeout":
      return JSON.stringify({ type: "timeout", seq: event.seq });
    case "error":
      return JSON.stringify({
        type: "error",
        code: event.code,
        reason: event.reason,
      });
    case "disconnect":
      return JSON.stringify({ type: "disconnect", reason: event.reason });
    case "reconnect":
      return JSON.stringify({
        type: "reconnect",
        down_ms: round3(event.downMs),
        attempts: event.attempts,
        missed: event.missed,
        reason: event.reason,
        server: event.server,
      });
    case "summary": {
      const { summary } = event;
      const r = summary.rtt;
      return JSON.stringify({
        type: "summary",
        transmitted: summary.transmitted,
        received: summary.received,
        loss: lossFraction(summary.loss),
        rtt_ms: r
          ? {
            min: round3(r.min),
            avg: round3(r.avg),
            max: round3(r.max),
            mdev: round3(r.mdev),
            p50: round3(r.p50),
            p90: round3(r.p90),
            p99: round3(r.p99),
          }
          : null,
        handshake_ms: event.handshakeMs === undefined
          ? null
          : round3(event.handshakeMs),
      });
    }
  }
}

/**
 * Writes events as text or JSON lines.
 *
 * The `start` line ("connected over HTTP/3 in …") is held until the next
 * event, which is the server's first answer (a pong, an ERROR), a timeout or
 * the summary: `ready` resolves as soon as the server completes the
 * handshake, before it looks at the path or token, so a server that refuses
 * the session closes it only afterwards. A refused run then prints no
 * "connected" line at all ({@linkcode Reporter.discard}).
 *
 * @example
 * ```ts
 * import { Reporter } from "./report.ts";
 * const reporter = new Reporter(false, (line) => console.log(line));
 * reporter.report({ type: "timeout", seq: 1 }); // prints "seq=1 timeout"
 * ```
 */
export class Reporter {
  readonly #json: boolean;
  readonly #write: (line: string) => void;
  #start: ReportEvent | undefined;

  /**
   * @param json Whether to write JSON lines.
   * @param write Writes one line (no newline included).
   */
  constructor(json: boolean, write: (line: string) => void) {
    this.#json = json;
    this.#write = write;
  }

  /** Writes the lines of one event; a `start` event waits for the next. */
  report(event: ReportEvent): void {
    if (event.type === "start") {
      this.#start = event;
      return;
    }
    this.flush();
    this.#emit(event);
  }

  /** Writes a held `start` line now. */
  flush(): void {
    const start = this.#start;
    this.#start = undefined;
    if (start) this.#emit(start);
  }

  /** Drops a held `start` line: the server refused the session. */
  discard(): void {
    this.#start = undefined;
  }

  #emit(event: ReportEvent): void {
    if (this.#json) this.#write(formatJson(event));
    else for (const line of formatText(event)) this.#write(line);
  }
}

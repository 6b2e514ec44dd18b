/**
 * Logging set-up shared by both CLIs: text or JSON lines on stderr through
 * LogTape, so stdout stays free for results.
 *
 * @module
 */
import {
  configureSync,
  defaultTextFormatter,
  getLogger,
  jsonLinesFormatter,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
} from "@logtape/logtape";

/** Levels accepted by `--log-level`. */
export const LOG_LEVELS = [
  "debug",
  "info",
  "warning",
  "error",
] as const satisfies readonly LogLevel[];

/** Formats accepted by `--log-format`. */
export const LOG_FORMATS = ["text", "json"] as const;

/** Options of {@linkcode setupLogging}. */
export interface LogOptions {
  /**
   * Lowest level written.
   *
   * @default {"info"}
   */
  level?: (typeof LOG_LEVELS)[number];
  /**
   * `text` for people, `json` for one JSON object per line.
   *
   * @default {"text"}
   */
  format?: (typeof LOG_FORMATS)[number];
  /**
   * Where lines go.
   *
   * @default {(line) => Deno.stderr.writeSync(...)}
   */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line);
  let written = 0;
  // writeSync may write less than asked; loop so no log line is cut short.
  while (written < bytes.length) {
    written += Deno.stderr.writeSync(bytes.subarray(written));
  }
}

/**
 * Routes the `pingpong` logger category to stderr. Synchronous, so a line
 * logged just before `Deno.exit` is not lost.
 *
 * @example
 * ```ts
 * import { logger, setupLogging } from "./log.ts";
 * setupLogging({ level: "info", format: "json" });
 * logger("server").info("listening");
 * ```
 */
export function setupLogging(options: LogOptions = {}): void {
  const format = options.format === "json"
    ? jsonLinesFormatter
    : defaultTextFormatter;
  const write = options.write ?? writeStderr;
  resetSync();
  configureSync({
    sinks: { stderr: (record: LogRecord) => write(format(record)) },
    loggers: [
      {
        category: ["pingpong"],
        lowestLevel: options.level ?? "info",
        sinks: ["stderr"],
      },
      {
        category: ["logtape", "meta"],
        lowestLevel: "error",
        sinks: ["stderr"],
      },
    ],
  });
}

/**
 * The logger of one part of pingpong, under the `pingpong` category.
 *
 * @example
 * ```ts
 * import { logger } from "./log.ts";
 * logger("client").debug("connecting to {url}", { url: "https://localhost" });
 * ```
 */
export function logger(name: string): Logger {
  return getLogger(["pingpong", name]);
}

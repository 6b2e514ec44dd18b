/**
 * What both command lines share: usage errors, value parsers, help text,
 * and the edge where any error becomes one line and an exit code.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import denoConfig from "../deno.json" with { type: "json" };
import { LOG_FORMATS, LOG_LEVELS, setupLogging } from "./log.ts";

/** The product's version, from deno.json. */
export const VERSION: string = denoConfig.version;

/** Exit codes, as ping(8) uses them. */
export const ExitCode = {
  /** Every ping got its pong; or the server stopped cleanly. */
  OK: 0,
  /** Some pings were lost; or the server failed while running. */
  LOSS: 1,
  /** Bad usage, or the connection could not be made or was lost. */
  USAGE: 2,
} as const;

/**
 * Thrown for a bad flag or value; the CLI prints it and exits 2.
 *
 * @example
 * ```ts
 * import { runMain, UsageError } from "./cli.ts";
 * const code = await runMain("demo", [], () => {
 *   throw new UsageError("--count must be at least 1");
 * }, 1);
 * console.log(code); // 2, after "demo: --count must be at least 1 (see --help)"
 * ```
 */
export class UsageError extends Error {
  /**
   * @param message One line naming the bad flag or value.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UsageError";
  }
}

/**
 * Thrown to end a CLI with a message and a chosen exit code.
 *
 * @example
 * ```ts
 * import { ExitCode, ExitError, runMain } from "./cli.ts";
 * const code = await runMain("demo", [], () => {
 *   throw new ExitError(ExitCode.USAGE, "server refused path /x: not found");
 * }, 1);
 * console.log(code); // 2
 * ```
 */
export class ExitError extends Error {
  /** The process exit code. */
  readonly code: number;

  /**
   * @param code The process exit code.
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(code: number, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ExitError";
    this.code = code;
  }
}

/** Options of {@linkcode parseNumber}. */
export interface NumberRule {
  /**
   * Smallest value allowed.
   *
   * @default {-Infinity}
   */
  min?: number;
  /**
   * Largest value allowed.
   *
   * @default {Infinity}
   */
  max?: number;
  /**
   * Whether only whole numbers are allowed.
   *
   * @default {false}
   */
  integer?: boolean;
}

/**
 * Parses the value of `--flag` as a number within `rule`.
 *
 * @throws {UsageError} naming the flag when the value is not allowed.
 * @example
 * ```ts
 * import { parseNumber } from "./cli.ts";
 * console.log(parseNumber("count", "5", { min: 1, integer: true })); // 5
 * ```
 */
export function parseNumber(
  flag: string,
  text: string,
  rule: NumberRule = {},
): number {
  // Decimal only: Number() would also take "0x50" (80), "0b1", "1e3" and
  // surrounding blanks.
  const value = DECIMAL.test(text) ? Number(text) : NaN;
  const min = rule.min ?? -Infinity;
  const max = rule.max ?? Infinity;
  const kind = rule.integer ? "a whole number" : "a number";
  if (!Number.isFinite(value) || (rule.integer && !Number.isInteger(value))) {
    throw new UsageError(`--${flag} must be ${kind}, got '${text}'`);
  }
  if (value < min || value > max) {
    const range = max === Infinity
      ? `at least ${min}`
      : `from ${min} to ${max}`;
    throw new UsageError(`--${flag} must be ${range}, got '${text}'`);
  }
  return value;
}

/** A decimal number: digits, at most one point, an optional minus. */
const DECIMAL = /^-?(\d+\.?\d*|\.\d+)$/;

/**
 * Parses the value of `--flag`, in seconds, as whole milliseconds within
 * `rule` (in seconds). A positive value never becomes 0 ms, which flags take
 * as "never" or "at once": below 1 ms it rounds up to 1 ms.
 *
 * @throws {UsageError} naming the flag when the value is not allowed.
 * @example
 * ```ts
 * import { parseSeconds } from "./cli.ts";
 * console.log(parseSeconds("timeout", "1.5", { min: 0 })); // 1500
 * console.log(parseSeconds("timeout", "0.0004", { min: 0 })); // 1
 * ```
 */
export function parseSeconds(
  flag: string,
  text: string,
  rule: Omit<NumberRule, "integer"> = {},
): number {
  const seconds = parseNumber(flag, text, rule);
  return seconds > 0 ? Math.max(1, Math.round(seconds * 1000)) : 0;
}

/**
 * Checks that `text` is one of `choices`.
 *
 * @throws {UsageError} listing the choices.
 * @example
 * ```ts
 * import { parseChoice } from "./cli.ts";
 * console.log(parseChoice("mode", "datagram", ["stream", "datagram"])); // datagram
 * ```
 */
export function parseChoice<T extends string>(
  flag: string,
  text: string,
  choices: readonly T[],
): T {
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(
      `--${flag} must be one of ${choices.join(", ")}, got '${text}'`,
    );
  }
  return text as T;
}

/** The logging flags both CLIs take. */
export interface LogFlags {
  /** `--log-level`. */
  logLevel: (typeof LOG_LEVELS)[number];
  /** `--log-format`. */
  logFormat: (typeof LOG_FORMATS)[number];
}

/** `parseArgs` option specs of the logging flags. */
export const LOG_FLAG_SPECS = {
  "log-level": { type: "string", default: "warning" },
  "log-format": { type: "string", default: "text" },
} as const;

/**
 * Validates the logging flags.
 *
 * @example
 * ```ts
 * import { parseLogFlags } from "./cli.ts";
 * console.log(parseLogFlags({ "log-level": "debug", "log-format": "json" }).logLevel); // debug
 * ```
 */
export function parseLogFlags(
  values: { "log-level"?: string; "log-format"?: string },
): LogFlags {
  return {
    logLevel: parseChoice(
      "log-level",
      values["log-level"] ?? "warning",
      LOG_LEVELS,
    ),
    logFormat: parseChoice(
      "log-format",
      values["log-format"] ?? "text",
      LOG_FORMATS,
    ),
  };
}

/** Help lines for the logging flags (long-only, indented like the others). */
export const LOG_FLAG_HELP = [
  "      --log-level LEVEL",
  `                       ${
    LOG_LEVELS.join("|")
  } (default: warning; debug adds`,
  "                       stack traces)",
  "      --log-format FORMAT",
  `                       ${
    LOG_FORMATS.join("|")
  } log lines on stderr (default: text)`,
];

/**
 * Turns a `parseArgs` failure into a one-line {@linkcode UsageError} that
 * names the flag.
 *
 * @example
 * ```ts
 * import { toUsageError } from "./cli.ts";
 * const error = Object.assign(new TypeError("Unknown option '--x'"), {
 *   code: "ERR_PARSE_ARGS_UNKNOWN_OPTION",
 * });
 * console.log(toUsageError(error).message); // unknown flag --x
 * ```
 */
export function toUsageError(error: unknown): Error {
  if (error instanceof UsageError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
    return new UsageError(_flagProblem((error as Error).message), {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * node:util's parse error in our words, on one line: its messages run over
 * several lines with advice about `--` and unbalanced quotes.
 */
function _flagProblem(text: string): string {
  const quoted = text.match(/'([^']*)'/)?.[1] ?? "";
  // "-c, --count <value>" names the long flag last.
  const flag = quoted.match(/(--?[\w-]+)(?: <value>)?$/)?.[1] ?? quoted;
  if (/^Unknown option/.test(text)) return `unknown flag ${quoted}`;
  if (/^Unexpected argument/.test(text)) {
    return `unexpected argument '${quoted}'`;
  }
  if (/argument missing/.test(text)) return `${flag} needs a value`;
  if (/does not take an argument/.test(text)) return `${flag} takes no value`;
  const escape = text.match(/starting with a dash use '(--[\w-]+)=-XYZ'/)
    ?.[1];
  if (escape) {
    return `${escape} needs a value; for one starting with a dash write ${escape}=-XYZ`;
  }
  return oneLine(text).replace(/\.$/, "");
}

/** A negative number, which node:util would take for a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `parseArgs` for the CLIs: a negative number after a flag that takes a
 * value is that flag's value (`--count -1`, `-c -5`), so the flag's own check
 * can say what is allowed ("--count must be at least 1") instead of
 * node:util calling the value ambiguous; any failure is a one-line
 * {@linkcode UsageError}; and with `--help` (or its short form) on the command
 * line, a failure gives way to `{ help: true }`, so help is always shown.
 *
 * @throws {UsageError} for an unknown flag, a missing value, a stray argument.
 * @example
 * ```ts
 * import { parseFlags } from "./cli.ts";
 * const { values } = parseFlags({
 *   args: ["-c", "-5"],
 *   options: { count: { type: "string", short: "c" } },
 * });
 * console.log(values.count); // -5
 * ```
 */
export function parseFlags<T extends ParseArgsConfig>(
  config: T,
): ReturnType<typeof parseArgs<T>> {
  const args = config.args ?? [];
  const options = config.options ?? {};
  const takesValue = (arg: string): string | undefined => {
    const name = arg.startsWith("--")
      ? arg.slice(2)
      : Object.keys(options).find((key) =>
        arg.length === 2 && options[key].short === arg[1]
      );
    return name !== undefined && !name.includes("=") &&
        options[name]?.type === "string"
      ? name
      : undefined;
  };
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      joined.push(...args.slice(i));
      break;
    }
    const name = arg.startsWith("-") ? takesValue(arg) : undefined;
    const next = args[i + 1];
    if (
      name !== undefined && next !== undefined && NEGATIVE_NUMBER.test(next)
    ) {
      joined.push(`--${name}=${next}`);
      i++;
    } else {
      joined.push(arg);
    }
  }
  try {
    return parseArgs({ ...config, args: joined } as T);
  } catch (error) {
    // `--help` anywhere (before `--`) is answered whatever else is wrong.
    const end = args.indexOf("--");
    const help = options.help;
    const asked = (end < 0 ? args : args.slice(0, end)).some((arg) =>
      arg === "--help" ||
      (help?.short !== undefined && arg === `-${help.short}`)
    );
    if (help?.type === "boolean" && asked) {
      return parseArgs({ ...config, args: ["--help"] } as T);
    }
    throw toUsageError(error);
  }
}

/** How {@linkcode runMain} reports. */
export interface MainIO {
  /** Writes a line to stderr. */
  error(line: string): void;
  /** Whether to add stack traces (`--log-level debug`). */
  debug: boolean;
}

/**
 * Runs a CLI's body and maps what escapes it to one line and an exit code:
 * {@linkcode UsageError} → 2, {@linkcode ExitError} → its code, anything else
 * → `failureCode`. Stack traces only when `--log-level debug` is on the
 * command line.
 *
 * @returns the exit code.
 * @example
 * ```ts
 * import { runMain } from "./cli.ts";
 * const code = await runMain("demo", ["--x"], () => Promise.resolve(0), 1);
 * console.log(code); // 0
 * ```
 */
export async function runMain(
  name: string,
  args: string[],
  body: () => Promise<number>,
  failureCode: number,
  io: MainIO = {
    error: (line) => console.error(line),
    debug: isDebug(args),
  },
): Promise<number> {
  try {
    return await body();
  } catch (error) {
    const err = error instanceof Error ? error : new Error(String(error));
    if (io.debug && err.stack) io.error(err.stack);
    if (err instanceof UsageError) {
      io.error(`${name}: ${oneLine(err.message)} (see --help)`);
      return ExitCode.USAGE;
    }
    io.error(`${name}: ${oneLine(err.message)}`);
    return err instanceof ExitError ? err.code : failureCode;
  }
}

function isDebug(args: string[]): boolean {
  const at = args.indexOf("--log-level");
  return args.includes("--log-level=debug") ||
    (at >= 0 && args[at + 1] === "debug");
}

/**
 * Collapses a message to its first line.
 *
 * @example
 * ```ts
 * import { oneLine } from "./cli.ts";
 * console.log(oneLine("a\n  at b")); // a
 * ```
 */
export function oneLine(text: string): string {
  return text.split("\n")[0].trim();
}

/**
 * Applies the logging flags.
 *
 * @example
 * ```ts
 * import { applyLogFlags } from "./cli.ts";
 * applyLogFlags({ logLevel: "info", logFormat: "text" });
 * ```
 */
export function applyLogFlags(flags: LogFlags): void {
  setupLogging({ level: flags.logLevel, format: flags.logFormat });
}

/**
 * The named environment variables that are set, for flag parsers. Reads only
 * these, so the binaries need `--allow-env` for them alone.
 *
 * @example
 * ```ts
 * import { readEnv } from "./cli.ts";
 * console.log(readEnv(["PINGPONG_TOKEN"])); // {} when unset
 * ```
 */
export function readEnv(names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = Deno.env.get(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The client's command line: flags, defaults, validation and help.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { parseCertHash } from "./cert_hash.ts";
import { DEFAULT_MAX_FRAME_SIZE, PING_HEADER_SIZE } from "./codec.ts";
import {
  LOG_FLAG_HELP,
  LOG_FLAG_SPECS,
  type LogFlags,
  parseChoice,
  parseLogFlags,
  parseNumber,
  toUsageError,
  UsageError,
} from "./cli.ts";
import { type Mode, MODES } from "./pinger.ts";

/** Everything the client was asked to do. */
export interface ClientConfig extends LogFlags {
  /** `help` or `version` print and exit; `ping` runs. */
  action: "ping" | "help" | "version";
  /** Server URL (`https://host:port/path`). */
  url: string;
  /** Pings to send; `Infinity` until interrupted. */
  count: number;
  /** Milliseconds between pings; 0 means as soon as the pong arrives. */
  intervalMs: number;
  /** PING size in bytes. */
  size: number;
  /** Per-ping and connect timeout, ms. */
  timeoutMs: number;
  /** How pings travel. */
  mode: Mode;
  /** Pinned certificate hash, or `undefined` for CA validation. */
  certHash: Uint8Array<ArrayBuffer> | undefined;
  /** One JSON object per line instead of text. */
  json: boolean;
}

/** Defaults of the client's flags. */
export const CLIENT_DEFAULTS = {
  intervalSeconds: 1,
  size: 64,
  timeoutSeconds: 2,
  mode: "stream" as Mode,
} as const;

/** The client's `--help` text. */
export const CLIENT_HELP = `Usage: pingpong-client [options] URL

Pings a pingpong server over WebTransport (HTTP/3) and reports round-trip
times like ping(8). URL is https://HOST:PORT/PATH.

Options:
  -c, --count N        pings to send (default: until Ctrl-C)
  -i, --interval SEC   seconds between pings; 0 = next as soon as the pong
                       arrives (default: ${CLIENT_DEFAULTS.intervalSeconds})
  -s, --size BYTES     PING size, ${PING_HEADER_SIZE} to ${DEFAULT_MAX_FRAME_SIZE} (default: ${CLIENT_DEFAULTS.size})
  -W, --timeout SEC    connect timeout, and time after which a ping with no
                       pong counts as lost (default: ${CLIENT_DEFAULTS.timeoutSeconds})
  -m, --mode MODE      ${MODES.join("|")} (default: ${CLIENT_DEFAULTS.mode})
      --cert-hash HEX  accept the server certificate whose SHA-256 is HEX
                       (as the server prints it) instead of CA validation
      --json           one JSON object per line on stdout
${LOG_FLAG_HELP.join("\n")}
  -h, --help           show this help
  -V, --version        show the version

Exit status: 0 every ping answered, 1 some lost, 2 usage or connection error.
`;

/**
 * Parses the client's arguments.
 *
 * @throws {UsageError} naming the bad flag or value.
 * @example
 * ```ts
 * import { parseClientArgs } from "./client_cli.ts";
 * const config = parseClientArgs(["-c", "3", "https://localhost:4433/pingpong"]);
 * console.log(config.count, config.mode); // 3 stream
 * ```
 */
export function parseClientArgs(args: string[]): ClientConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        count: { type: "string", short: "c" },
        interval: { type: "string", short: "i" },
        size: { type: "string", short: "s" },
        timeout: { type: "string", short: "W" },
        mode: { type: "string", short: "m" },
        "cert-hash": { type: "string" },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
        ...LOG_FLAG_SPECS,
      },
    });
  } catch (error) {
    throw toUsageError(error);
  }
  const { values, positionals } = parsed;
  const logFlags = parseLogFlags(values);
  const base = {
    ...logFlags,
    url: "",
    count: Infinity,
    intervalMs: CLIENT_DEFAULTS.intervalSeconds * 1000,
    size: CLIENT_DEFAULTS.size,
    timeoutMs: CLIENT_DEFAULTS.timeoutSeconds * 1000,
    mode: CLIENT_DEFAULTS.mode,
    certHash: undefined,
    json: values.json,
  };
  if (values.help) return { ...base, action: "help" };
  if (values.version) return { ...base, action: "version" };

  if (positionals.length === 0) throw new UsageError("missing the server URL");
  if (positionals.length > 1) {
    throw new UsageError(
      `expected one URL, got ${positionals.length}: ${positionals.join(" ")}`,
    );
  }
  const url = parseServerUrl(positionals[0]);
  let certHash: Uint8Array<ArrayBuffer> | undefined;
  if (values["cert-hash"] !== undefined) {
    try {
      certHash = parseCertHash(values["cert-hash"]);
    } catch (cause) {
      throw new UsageError(`--cert-hash: ${(cause as Error).message}`, {
        cause,
      });
    }
  }
  return {
    ...base,
    action: "ping",
    url,
    count: values.count === undefined
      ? Infinity
      : parseNumber("count", values.count, { min: 1, integer: true }),
    intervalMs: values.interval === undefined
      ? base.intervalMs
      : seconds("interval", values.interval, 0),
    size: values.size === undefined
      ? base.size
      : parseNumber("size", values.size, {
        min: PING_HEADER_SIZE,
        max: DEFAULT_MAX_FRAME_SIZE,
        integer: true,
      }),
    timeoutMs: values.timeout === undefined
      ? base.timeoutMs
      : seconds("timeout", values.timeout, 0.001),
    mode: values.mode === undefined
      ? base.mode
      : parseChoice("mode", values.mode, MODES),
    certHash,
  };
}

function seconds(flag: string, text: string, min: number): number {
  return Math.round(parseNumber(flag, text, { min, max: 86_400 }) * 1000);
}

/**
 * Checks a server URL: `https:`, a host, and a port if not 443.
 *
 * @throws {UsageError} when it is not an https URL.
 * @example
 * ```ts
 * import { parseServerUrl } from "./client_cli.ts";
 * console.log(parseServerUrl("https://127.0.0.1:4433")); // https://127.0.0.1:4433/
 * ```
 */
export function parseServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `not a URL: '${text}' (expected https://HOST:PORT/PATH)`,
    );
  }
  if (url.protocol !== "https:") {
    throw new UsageError(
      `WebTransport URLs start with https://, got '${text}'`,
    );
  }
  if (url.username || url.password) {
    throw new UsageError("the URL must not carry a user name or password");
  }
  return url.href;
}

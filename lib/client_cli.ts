/**
 * The client's command line: flags, defaults, validation and help.
 *
 * @module
 */
import { redactToken, resolveToken, TOKEN_ENV } from "./auth.ts";
import { parseCertHash } from "./cert_hash.ts";
import { DEFAULT_MAX_FRAME_SIZE, PING_HEADER_SIZE } from "./codec.ts";
import {
  LOG_FLAG_HELP,
  LOG_FLAG_SPECS,
  type LogFlags,
  parseChoice,
  parseFlags,
  parseLogFlags,
  parseNumber,
  parseSeconds,
  UsageError,
} from "./cli.ts";
import {
  CERT_HASH_ENV,
  CLIENT_DISCOVERY_FLAG_SPECS,
  CLIENT_DISCOVERY_HELP,
  type DiscoveryConfig,
  parseClientDiscovery,
} from "./discovery_cli.ts";
import { type Mode, MODES } from "./pinger.ts";
import { RECONNECT_DEFAULTS } from "./reconnect.ts";
import { TRANSPORT_CHOICES, type TransportChoice } from "./transport_select.ts";

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
  /**
   * Pinned certificate hash (`--cert-hash`, else `$PINGPONG_CERT_HASH`), or
   * `undefined` for CA validation.
   */
  certHash: Uint8Array<ArrayBuffer> | undefined;
  /** One JSON object per line instead of text. */
  json: boolean;
  /** Whether a lost session is replaced (`--no-reconnect` turns it off). */
  reconnect: boolean;
  /** Reconnect attempts per outage. */
  maxRetries: number;
  /** Cap on one reconnect delay, ms. */
  retryMaxDelayMs: number;
  /** Silence with pings outstanding that counts as a dead path, ms. */
  deadAfterMs: number;
  /** Shared token sent in the URL's query, or `undefined`. */
  token: string | undefined;
  /** How to find the server when no URL was given (`--discover`, `--server`). */
  discovery?: DiscoveryConfig;
  /** Which transport carries the session; `auto` races HTTP/3 and HTTP/2. */
  transport: TransportChoice;
  /** Ping a plain echo server: replies are the PINGs' own bytes. */
  echo: boolean;
}

/** Defaults of the client's flags. */
export const CLIENT_DEFAULTS = {
  intervalSeconds: 1,
  size: 64,
  timeoutSeconds: 2,
  mode: "stream" as Mode,
  transport: "auto" as TransportChoice,
} as const;

/** The client's `--help` text. */
export const CLIENT_HELP = `Usage: pingpong-client [options] URL
       pingpong-client [options] --discover [dns:NAME] | --server HOST:PORT
       pingpong-client --list [--discover dns:NAME]

Pings a pingpong server over WebTransport (HTTP/3, or HTTP/2 where UDP is
blocked) and reports round-trip times like ping(8). URL is
https://HOST:PORT/PATH.

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
                       (default: \$${CERT_HASH_ENV}, else the system CA store)
      --token TOKEN    the server's shared token, sent as ?token= in the
                       session URL (default: \$${TOKEN_ENV})
  -t, --transport T    ${
  TRANSPORT_CHOICES.join("|")
}: HTTP/3 (UDP), HTTP/2 (TCP), or
                       HTTP/3 with HTTP/2 raced beside it when QUIC does
                       not answer within 300 ms (default: ${CLIENT_DEFAULTS.transport})
      --echo           ping a plain WebTransport echo server (the server's
                       /echo path, or any other): match the echoed bytes
      --json           one JSON object per line on stdout
      --no-reconnect   end the run when the session is lost
      --max-retries N  reconnect attempts per outage, then exit 2
                       (default: ${RECONNECT_DEFAULTS.maxRetries})
      --retry-max-delay SEC
                       cap on one backoff delay between attempts
                       (default: ${RECONNECT_DEFAULTS.maxDelayMs / 1000})
      --dead-after SEC with pings outstanding, no pong for this long means
                       the path is dead: reconnect (default: ${
  RECONNECT_DEFAULTS.deadAfterMs / 1000
})
${LOG_FLAG_HELP.join("\n")}
  -h, --help           show this help
  -V, --version        show the version

${CLIENT_DISCOVERY_HELP}

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
 * @param args The command line.
 * @param env Environment variables (`PINGPONG_TOKEN`, `PINGPONG_CERT_HASH`).
 */
export function parseClientArgs(
  args: string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ClientConfig {
  const parsed = parseFlags({
    args,
    strict: true,
    allowPositionals: true,
    options: CLIENT_FLAG_SPECS,
  });
  const { values, positionals } = parsed;
  const defaults = {
    logLevel: "warning",
    logFormat: "text",
    url: "",
    count: Infinity,
    intervalMs: CLIENT_DEFAULTS.intervalSeconds * 1000,
    size: CLIENT_DEFAULTS.size,
    timeoutMs: CLIENT_DEFAULTS.timeoutSeconds * 1000,
    mode: CLIENT_DEFAULTS.mode,
    certHash: undefined,
    json: values.json,
    reconnect: true,
    maxRetries: RECONNECT_DEFAULTS.maxRetries,
    retryMaxDelayMs: RECONNECT_DEFAULTS.maxDelayMs,
    deadAfterMs: RECONNECT_DEFAULTS.deadAfterMs,
    token: undefined,
    transport: CLIENT_DEFAULTS.transport,
    echo: false,
  } as const;
  if (values.help) return { ...defaults, action: "help" };
  if (values.version) return { ...defaults, action: "version" };

  // Every flag's value first, so a flag that took the URL as its value
  // (`-c URL`) is named, rather than the URL reported missing.
  let flags;
  try {
    flags = _parseValues(values, env);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    // The bad value may be the URL, with a token in its query.
    let message = error.message;
    for (const flag of STRING_FLAGS) {
      const value = values[flag];
      if (typeof value === "string" && value !== "") {
        message = message.replaceAll(value, redactToken(value));
      }
    }
    throw new UsageError(message, { cause: error });
  }
  const discovery = parseClientDiscovery(values, positionals);
  if (discovery?.list) {
    const given = PING_ONLY_FLAGS.filter((flag) =>
      values[flag] !== undefined && values[flag] !== false
    );
    if (given.length > 0) {
      throw new UsageError(
        `--list only lists servers: it does not take ${
          given.map((flag) => `--${flag}`).join(", ")
        }`,
      );
    }
  }
  if (!discovery && positionals.length === 0) {
    const swallowed = STRING_FLAGS.find((flag) =>
      /^https:\/\//i.test(String(values[flag] ?? ""))
    );
    throw new UsageError(
      swallowed
        ? `missing the server URL: --${swallowed} took '${
          redactToken(String(values[swallowed]))
        }' as its value`
        : "missing the server URL (or --discover)",
    );
  }
  if (positionals.length > 1) {
    throw new UsageError(
      `expected one URL, got ${positionals.length}: ${
        positionals.map(redactToken).join(" ")
      }`,
    );
  }
  return {
    ...flags,
    action: "ping",
    url: discovery ? "" : parseServerUrl(positionals[0]),
    discovery,
  };
}

/** The client's `parseArgs` option specs. */
const CLIENT_FLAG_SPECS = {
  count: { type: "string", short: "c" },
  interval: { type: "string", short: "i" },
  size: { type: "string", short: "s" },
  timeout: { type: "string", short: "W" },
  mode: { type: "string", short: "m" },
  "cert-hash": { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
  "no-reconnect": { type: "boolean", default: false },
  "max-retries": { type: "string" },
  "retry-max-delay": { type: "string" },
  "dead-after": { type: "string" },
  transport: { type: "string", short: "t" },
  echo: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
  version: { type: "boolean", short: "V", default: false },
  ...LOG_FLAG_SPECS,
  ...CLIENT_DISCOVERY_FLAG_SPECS,
} as const;

type ClientFlagValues = ReturnType<
  typeof parseFlags<{ options: typeof CLIENT_FLAG_SPECS }>
>["values"];

/** Flags that shape the pinging, which `--list` does not do. */
const PING_ONLY_FLAGS = [
  "count",
  "interval",
  "size",
  "timeout",
  "mode",
  "cert-hash",
  "token",
  "no-reconnect",
  "max-retries",
  "retry-max-delay",
  "dead-after",
  "transport",
  "echo",
] as const satisfies readonly (keyof ClientFlagValues)[];

/** Flags with a single value, one of which may have taken the URL. */
const STRING_FLAGS =
  (Object.keys(CLIENT_FLAG_SPECS) as (keyof typeof CLIENT_FLAG_SPECS)[]).filter(
    (flag) => {
      const spec: { type: string; multiple?: boolean } =
        CLIENT_FLAG_SPECS[flag];
      return spec.type === "string" && !spec.multiple;
    },
  );

/** The values of the flags (all but the URL and discovery), checked. */
function _parseValues(
  values: ClientFlagValues,
  env: Readonly<Record<string, string | undefined>>,
): Omit<ClientConfig, "action" | "url" | "discovery"> {
  if (values.token === "") throw new UsageError("--token must not be empty");
  return {
    ...parseLogFlags(values),
    count: values.count === undefined
      ? Infinity
      : parseNumber("count", values.count, { min: 1, integer: true }),
    intervalMs: values.interval === undefined
      ? CLIENT_DEFAULTS.intervalSeconds * 1000
      : seconds("interval", values.interval, 0),
    size: values.size === undefined
      ? CLIENT_DEFAULTS.size
      : parseNumber("size", values.size, {
        min: PING_HEADER_SIZE,
        max: DEFAULT_MAX_FRAME_SIZE,
        integer: true,
      }),
    timeoutMs: values.timeout === undefined
      ? CLIENT_DEFAULTS.timeoutSeconds * 1000
      : seconds("timeout", values.timeout, 0.001),
    mode: values.mode === undefined
      ? CLIENT_DEFAULTS.mode
      : parseChoice("mode", values.mode, MODES),
    transport: values.transport === undefined
      ? CLIENT_DEFAULTS.transport
      : parseChoice("transport", values.transport, TRANSPORT_CHOICES),
    certHash: resolveCertHash(values["cert-hash"], env),
    json: values.json,
    reconnect: !values["no-reconnect"],
    maxRetries: values["max-retries"] === undefined
      ? RECONNECT_DEFAULTS.maxRetries
      : parseNumber("max-retries", values["max-retries"], {
        min: 1,
        max: 1_000_000,
        integer: true,
      }),
    retryMaxDelayMs: values["retry-max-delay"] === undefined
      ? RECONNECT_DEFAULTS.maxDelayMs
      : seconds("retry-max-delay", values["retry-max-delay"], 0.001),
    deadAfterMs: values["dead-after"] === undefined
      ? RECONNECT_DEFAULTS.deadAfterMs
      : seconds("dead-after", values["dead-after"], 0.05),
    token: resolveToken(values.token, env),
    echo: values.echo,
  };
}

/**
 * The hash to pin: `--cert-hash`, else {@linkcode CERT_HASH_ENV} (an empty
 * variable counts as unset), else `undefined` for CA validation.
 *
 * @throws {UsageError} naming the flag or the variable whose value is bad.
 * @example
 * ```ts
 * import { resolveCertHash } from "./client_cli.ts";
 * const hash = resolveCertHash(undefined, { PINGPONG_CERT_HASH: "ab".repeat(32) });
 * console.log(hash?.length); // 32
 * ```
 */
export function resolveCertHash(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Uint8Array<ArrayBuffer> | undefined {
  const fromEnv = env[CERT_HASH_ENV];
  const [source, text] = flag !== undefined
    ? ["--cert-hash", flag]
    : [`$${CERT_HASH_ENV}`, fromEnv === "" ? undefined : fromEnv];
  if (text === undefined) return undefined;
  try {
    return parseCertHash(text);
  } catch (cause) {
    throw new UsageError(`${source}: ${(cause as Error).message}`, { cause });
  }
}

function seconds(flag: string, text: string, min: number): number {
  return parseSeconds(flag, text, { min, max: 86_400 });
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
      `not a URL: '${redactToken(text)}' (expected https://HOST:PORT/PATH)`,
    );
  }
  if (url.protocol !== "https:") {
    throw new UsageError(
      `WebTransport URLs start with https://, got '${redactToken(text)}'`,
    );
  }
  if (url.username || url.password) {
    throw new UsageError("the URL must not carry a user name or password");
  }
  return url.href;
}

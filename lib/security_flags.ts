/**
 * The server's access-control and limit flags: their `parseArgs` specs,
 * help lines and validation, kept apart from lib/server_cli.ts.
 *
 * @module
 */
import { resolveToken, TOKEN_ENV } from "./auth.ts";
import { UsageError } from "./cli.ts";
import { parseNumber, parseSeconds } from "./cli.ts";
import { DEFAULT_MAX_FRAME_SIZE, PING_HEADER_SIZE } from "./codec.ts";
import { DEFAULT_LIMITS, type Limits } from "./limits.ts";

/** Default of `--handshake-timeout`, ms. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** What the security flags asked for. */
export interface SecurityFlags {
  /** Shared token clients must present, or `undefined` for none. */
  token: string | undefined;
  /** Origins browser clients may come from (empty: any). */
  allowOrigins: string[];
  /** Session, stream, rate and idle limits. */
  limits: Limits;
  /** Largest message accepted, in bytes. */
  maxMessageSize: number;
  /** Time a connection has to open its session, ms. */
  handshakeTimeoutMs: number;
}

/** `parseArgs` option specs of the security flags. */
export const SECURITY_FLAG_SPECS = {
  token: { type: "string" },
  "allow-origin": { type: "string", multiple: true },
  "max-sessions": { type: "string" },
  "max-streams": { type: "string" },
  "max-message-size": { type: "string" },
  "max-ping-rate": { type: "string" },
  "idle-timeout": { type: "string" },
  "stall-timeout": { type: "string" },
  "max-stalled": { type: "string" },
  "handshake-timeout": { type: "string" },
} as const;

/** Help lines of the security flags. */
export const SECURITY_FLAG_HELP = [
  `      --token TOKEN    clients must add ?token=TOKEN to the URL (or use the
                       client's --token); default: \$${TOKEN_ENV}, else none`,
  `      --allow-origin ORIGIN  browser Origin allowed (repeatable); not
                       enforceable on Deno 2.9, see docs/security.md`,
  `      --max-sessions N sessions at once, 0 = no limit (default: ${DEFAULT_LIMITS.maxSessions})`,
  `      --max-streams N  streams open at once per session, 0 = no limit
                       (default: ${DEFAULT_LIMITS.maxStreams})`,
  `      --max-message-size BYTES  largest message (default: ${DEFAULT_MAX_FRAME_SIZE})`,
  `      --max-ping-rate N  pings a second per session, 0 = no limit
                       (default: ${DEFAULT_LIMITS.maxPingsPerSecond})`,
  `      --idle-timeout SEC  close a session that sends no ping this long,
                       0 = never (default: ${
    DEFAULT_LIMITS.idleTimeoutMs / 1000
  })`,
  `      --stall-timeout SEC  close a session that leaves its replies unread
                       this long, 0 = never (default: ${
    DEFAULT_LIMITS.stallTimeoutMs / 1000
  })`,
  `      --max-stalled N  streams waiting for their clients to read, in all
                       sessions; one more closes its session, 0 = no limit
                       (default: ${DEFAULT_LIMITS.maxStalled})`,
  `      --handshake-timeout SEC  close a connection that opens no session
                       this long (default: ${
    DEFAULT_HANDSHAKE_TIMEOUT_MS / 1000
  })`,
];

/** The raw values `parseArgs` returns for {@linkcode SECURITY_FLAG_SPECS}. */
export interface SecurityFlagValues {
  /** `--token`. */
  token?: string;
  /** `--allow-origin`, repeated. */
  "allow-origin"?: string[];
  /** `--max-sessions`. */
  "max-sessions"?: string;
  /** `--max-streams`. */
  "max-streams"?: string;
  /** `--max-message-size`. */
  "max-message-size"?: string;
  /** `--max-ping-rate`. */
  "max-ping-rate"?: string;
  /** `--idle-timeout`. */
  "idle-timeout"?: string;
  /** `--stall-timeout`. */
  "stall-timeout"?: string;
  /** `--max-stalled`. */
  "max-stalled"?: string;
  /** `--handshake-timeout`. */
  "handshake-timeout"?: string;
}

/**
 * Validates the security flags; the token falls back to `PINGPONG_TOKEN`.
 *
 * @throws {UsageError} naming the bad flag or value.
 * @example
 * ```ts
 * import { parseSecurityFlags } from "./security_flags.ts";
 * const flags = parseSecurityFlags({ "max-sessions": "10" }, { PINGPONG_TOKEN: "t" });
 * console.log(flags.limits.maxSessions, flags.token); // 10 t
 * ```
 */
export function parseSecurityFlags(
  values: SecurityFlagValues,
  env: Readonly<Record<string, string | undefined>> = {},
): SecurityFlags {
  if (values.token === "") {
    throw new UsageError("--token must not be empty");
  }
  const allowOrigins = values["allow-origin"] ?? [];
  for (const origin of allowOrigins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || parsed.origin === "null" || parsed.origin !== origin) {
      throw new UsageError(
        `--allow-origin must be an origin like https://app.example, got '${origin}'`,
      );
    }
  }
  const count = (flag: keyof SecurityFlagValues, fallback: number) => {
    const text = values[flag] as string | undefined;
    return text === undefined
      ? fallback
      : parseNumber(flag, text, { min: 0, integer: true });
  };
  const seconds = (
    flag: "idle-timeout" | "stall-timeout",
    fallbackMs: number,
  ) => {
    const text = values[flag];
    return text === undefined
      ? fallbackMs
      : parseSeconds(flag, text, { min: 0, max: 86_400 });
  };
  const handshake = values["handshake-timeout"];
  return {
    token: resolveToken(values.token, env),
    allowOrigins,
    limits: {
      maxSessions: count("max-sessions", DEFAULT_LIMITS.maxSessions),
      maxStreams: count("max-streams", DEFAULT_LIMITS.maxStreams),
      maxPingsPerSecond: count(
        "max-ping-rate",
        DEFAULT_LIMITS.maxPingsPerSecond,
      ),
      idleTimeoutMs: seconds("idle-timeout", DEFAULT_LIMITS.idleTimeoutMs),
      stallTimeoutMs: seconds("stall-timeout", DEFAULT_LIMITS.stallTimeoutMs),
      maxStalled: count("max-stalled", DEFAULT_LIMITS.maxStalled),
    },
    maxMessageSize: values["max-message-size"] === undefined
      ? DEFAULT_MAX_FRAME_SIZE
      : parseNumber("max-message-size", values["max-message-size"], {
        min: PING_HEADER_SIZE,
        max: 16 * 1024 * 1024,
        integer: true,
      }),
    handshakeTimeoutMs: handshake === undefined
      ? DEFAULT_HANDSHAKE_TIMEOUT_MS
      : Math.round(
        parseNumber("handshake-timeout", handshake, { min: 0.1, max: 600 }) *
          1000,
      ),
  };
}

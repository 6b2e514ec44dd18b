/**
 * The server's command line: flags, defaults, validation and help.
 *
 * @module
 */
import {
  LOG_FLAG_HELP,
  LOG_FLAG_SPECS,
  type LogFlags,
  parseFlags,
  parseLogFlags,
  parseNumber,
  toUsageError,
  UsageError,
} from "./cli.ts";
import {
  parseSecurityFlags,
  SECURITY_FLAG_HELP,
  SECURITY_FLAG_SPECS,
  type SecurityFlags,
} from "./security_flags.ts";
import {
  type AdvertiseConfig,
  parseServerDiscovery,
  SERVER_DISCOVERY_FLAG_SPECS,
  SERVER_DISCOVERY_HELP,
} from "./discovery_cli.ts";

/** Everything the server was asked to do. */
export interface ServerConfig extends LogFlags, SecurityFlags {
  /** `help` or `version` print and exit; `serve` runs. */
  action: "serve" | "help" | "version";
  /** Address to bind. */
  hostname: string;
  /** UDP port (0: any free port). */
  port: number;
  /** Path served. */
  path: string;
  /** Whether `/echo` is served too (`--no-echo` turns it off). */
  echo: boolean;
  /** PEM certificate file, or `undefined` for an ephemeral certificate. */
  certFile: string | undefined;
  /** PEM key file; given exactly when `certFile` is. */
  keyFile: string | undefined;
  /** Directory keeping the ephemeral certificate across restarts. */
  stateDir: string | undefined;
  /** Longest SIGTERM drain before exiting, ms. */
  drainTimeoutMs: number;
  /** mDNS advertising (`--no-advertise`, `--name`, `--interface`). */
  discovery?: AdvertiseConfig;
  /** TCP port of /healthz, /readyz and /metrics, or `undefined` for none. */
  healthPort: number | undefined;
  /** After SIGTERM, how long to stay up unready before closing, in ms. */
  drainDelayMs: number;
}

/** Defaults of the server's flags. */
export const SERVER_DEFAULTS = {
  hostname: "::",
  port: 4433,
  path: "/pingpong",
  drainTimeoutSeconds: 5,
} as const;

/** The server's `--help` text. */
export const SERVER_HELP = `Usage: pingpong-server [options]

Serves WebTransport over HTTP/3 (UDP) and HTTP/2 (TCP, same port number)
and answers every PING with a PONG, on streams and datagrams. A browser page
at https://HOST:PORT/ pings from the browser.

Options:
      --host ADDR      address to bind (default: ${SERVER_DEFAULTS.hostname}, every interface)
  -p, --port PORT      UDP and TCP port, 0 for any free one (default: ${SERVER_DEFAULTS.port})
      --path PATH      path served; others are refused with 404
                       (default: ${SERVER_DEFAULTS.path})
      --no-echo        do not serve the plain WebTransport echo service on
                       /echo (served by default, under the same limits)
      --cert FILE      PEM certificate chain (with --key); without both, an
                       ephemeral ECDSA certificate valid 13 days is made and
                       renewed before it expires
      --key FILE       PEM private key (with --cert); refused if others may
                       read it (group read only for a root-owned key whose
                       group the server runs in, as a Kubernetes Secret)
      --state-dir DIR  keep the ephemeral certificate in DIR and reuse it on
                       restart while valid, so pinned clients reconnect
      --drain-timeout SEC
                       on SIGTERM, longest wait for sessions to close before
                       exiting (default: ${SERVER_DEFAULTS.drainTimeoutSeconds})
${SECURITY_FLAG_HELP.join("\n")}
${SERVER_DISCOVERY_HELP}
      --health-port PORT
                       serve /healthz, /readyz and /metrics (Prometheus) over
                       HTTP on this TCP port of --host (default: off)
      --drain-delay SEC
                       on SIGINT or SIGTERM, first fail /readyz and keep
                       serving for SEC seconds, so load balancers move new
                       clients away before sessions close (default: 0)
${LOG_FLAG_HELP.join("\n")}
  -h, --help           show this help
  -V, --version        show the version

Prints 'listening on https://HOST:PORT/PATH' (HOST is loopback when bound to
every interface) and 'cert-hash sha-256 HEX' once ready, and
'health on http://HOST:PORT' with --health-port. SIGINT or SIGTERM (after
--drain-delay) closes sessions with a going-away code and exits 0; a second
signal skips the rest of the delay. SIGUSR2 prints a line
'stats N sessions=… streams=… pongs=… malformed=… refused=… stalled=…'
(never send SIGUSR1: it opens Deno's inspector, see docs/security.md).
Exit status: 0 clean stop, 1 runtime failure, 2 usage error.
`;

/**
 * Parses the server's arguments.
 *
 * @throws {UsageError} naming the bad flag or value.
 * @example
 * ```ts
 * import { parseServerArgs } from "./server_cli.ts";
 * console.log(parseServerArgs(["--port", "0"]).port); // 0
 * ```
 * @param args The command line.
 * @param env Environment variables (`PINGPONG_TOKEN`).
 */
export function parseServerArgs(
  args: string[],
  env: Readonly<Record<string, string | undefined>> = {},
): ServerConfig {
  let parsed;
  try {
    parsed = parseFlags({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        host: { type: "string", default: SERVER_DEFAULTS.hostname },
        port: { type: "string", short: "p" },
        path: { type: "string", default: SERVER_DEFAULTS.path },
        "no-echo": { type: "boolean", default: false },
        cert: { type: "string" },
        key: { type: "string" },
        "state-dir": { type: "string" },
        "drain-timeout": { type: "string" },
        "health-port": { type: "string" },
        "drain-delay": { type: "string", default: "0" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", short: "V", default: false },
        ...LOG_FLAG_SPECS,
        ...SECURITY_FLAG_SPECS,
        ...SERVER_DISCOVERY_FLAG_SPECS,
      },
    });
  } catch (error) {
    throw toUsageError(error);
  }
  const { values } = parsed;
  // --help and --version answer whatever else the command line holds.
  if (values.help || values.version) {
    return { ...parseServerArgs([]), action: values.help ? "help" : "version" };
  }
  const base: ServerConfig = {
    ...parseLogFlags(values),
    ...parseSecurityFlags(values, env),
    action: "serve",
    hostname: values.host,
    port: values.port === undefined
      ? SERVER_DEFAULTS.port
      : parseNumber("port", values.port, {
        min: 0,
        max: 65_535,
        integer: true,
      }),
    path: values.path,
    echo: !values["no-echo"],
    certFile: values.cert,
    keyFile: values.key,
    stateDir: values["state-dir"],
    drainTimeoutMs: values["drain-timeout"] === undefined
      ? SERVER_DEFAULTS.drainTimeoutSeconds * 1000
      : Math.round(
        parseNumber("drain-timeout", values["drain-timeout"], {
          min: 0,
          max: 3600,
        }) * 1000,
      ),
    discovery: parseServerDiscovery(values),
    healthPort: values["health-port"] === undefined
      ? undefined
      : parseNumber("health-port", values["health-port"], {
        min: 0,
        max: 65_535,
        integer: true,
      }),
    drainDelayMs: parseNumber("drain-delay", values["drain-delay"], {
      min: 0,
      max: 3600,
    }) * 1000,
  };
  if (values.help) return { ...base, action: "help" };
  if (values.version) return { ...base, action: "version" };
  if (base.hostname.trim() === "") {
    throw new UsageError("--host must not be empty");
  }
  if (!base.path.startsWith("/") || /[\s?#]/.test(base.path)) {
    throw new UsageError(
      `--path must start with / and hold no spaces, ? or #, got '${base.path}'`,
    );
  }
  if ((base.certFile === undefined) !== (base.keyFile === undefined)) {
    throw new UsageError("--cert and --key go together: give both or neither");
  }
  if (base.stateDir !== undefined && base.certFile !== undefined) {
    throw new UsageError(
      "--state-dir keeps an ephemeral certificate: not with --cert/--key",
    );
  }
  return base;
}

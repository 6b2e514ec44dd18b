/**
 * The server's health and metrics endpoint: plain HTTP on TCP beside the
 * QUIC listener, for load balancers, Kubernetes probes and Prometheus.
 *
 * - `/healthz`: 200 while the process serves (liveness).
 * - `/readyz`: 200 while listening and not draining, else 503 (readiness;
 *   a draining pod leaves the load balancer before its sessions close).
 * - `/metrics`: Prometheus text format 0.0.4.
 *
 * The server cannot measure round-trip times: a PING carries the client's
 * clock, and Deno's `WebTransport.getStats()` reports no RTT yet, so there is
 * no RTT histogram here (clients report RTT).
 *
 * @module
 */
import { CloseCode } from "./codec.ts";
import { VERSION } from "./cli.ts";
import { logger } from "./log.ts";
import type { PingPongServer } from "./server_core.ts";
import { formatHostPort } from "./transport.ts";

const log = logger("health");

/** The figures `/metrics` shows, taken at one moment. */
export interface ServerMetrics {
  /** Sessions open now. */
  sessionsOpen: number;
  /** Sessions accepted since start. */
  sessionsTotal: number;
  /** PINGs answered since start (streams and datagrams). */
  pingsAnswered: number;
  /** Bidirectional streams the peers opened since start. */
  streamsTotal: number;
  /** Streams whose peers do not read their replies, now (`--max-stalled`). */
  streamsStalled: number;
  /**
   * Errors since start by kind: `malformed` frames and datagrams, and
   * sessions refused or cut off, by {@linkcode REFUSAL_KINDS} (a session
   * cut off for not reading counts as `idle_timeout` past `--stall-timeout`
   * and as `busy` past `--max-stalled`, as its close code says).
   */
  errors: Record<string, number>;
  /** End of validity of the certificate presented to new connections. */
  certificateNotAfter: Date;
  /** Whether the server is draining (readiness off). */
  draining: boolean;
  /** Resident set size of the process, bytes. */
  residentMemoryBytes: number;
}

/** What the endpoint asks the server. */
export interface HealthSource {
  /** Whether the server takes new sessions and should get traffic. */
  ready(): boolean;
  /** A snapshot for `/metrics`. */
  metrics(): ServerMetrics;
}

/**
 * The `kind` label of each close code the server refuses or cuts a session
 * with. Every kind is exported from the start (at 0), so a dashboard or an
 * alert sees the series before the first refusal.
 *
 * @example
 * ```ts
 * import { REFUSAL_KINDS } from "./health.ts";
 * console.log(REFUSAL_KINDS[401]); // unauthorized
 * ```
 */
export const REFUSAL_KINDS: Readonly<Record<number, string>> = {
  [CloseCode.UNAUTHORIZED]: "unauthorized",
  [CloseCode.FORBIDDEN]: "forbidden",
  [CloseCode.NOT_FOUND]: "not_found",
  [CloseCode.IDLE_TIMEOUT]: "idle_timeout",
  [CloseCode.TOO_LARGE]: "too_large",
  [CloseCode.RATE_LIMITED]: "rate_limited",
  [CloseCode.BUSY]: "busy",
  [CloseCode.GOING_AWAY]: "shutting_down",
};

/** The content type of Prometheus' text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * Renders `metrics` in Prometheus text format.
 *
 * @example
 * ```ts
 * import { renderMetrics } from "./health.ts";
 * const text = renderMetrics({
 *   sessionsOpen: 1,
 *   sessionsTotal: 3,
 *   pingsAnswered: 40,
 *   streamsTotal: 3,
 *   streamsStalled: 0,
 *   errors: { malformed: 0 },
 *   certificateNotAfter: new Date(86_400_000),
 *   draining: false,
 *   residentMemoryBytes: 1024,
 * });
 * console.log(text.includes("pingpong_sessions_open 1")); // true
 * ```
 */
export function renderMetrics(metrics: ServerMetrics): string {
  const lines: string[] = [];
  const metric = (
    name: string,
    type: "gauge" | "counter",
    help: string,
    samples: [labels: string, value: number][],
  ) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) {
      lines.push(`${name}${labels} ${formatValue(value)}`);
    }
  };
  metric("pingpong_build_info", "gauge", "Version of pingpong-server.", [
    [`{version="${escapeLabel(VERSION)}"}`, 1],
  ]);
  metric("pingpong_sessions_open", "gauge", "WebTransport sessions open.", [
    ["", metrics.sessionsOpen],
  ]);
  metric(
    "pingpong_sessions_total",
    "counter",
    "WebTransport sessions accepted.",
    [["", metrics.sessionsTotal]],
  );
  metric(
    "pingpong_pings_answered_total",
    "counter",
    "PINGs answered with a PONG, streams and datagrams.",
    [["", metrics.pingsAnswered]],
  );
  metric(
    "pingpong_streams_total",
    "counter",
    "Bidirectional streams opened by clients.",
    [["", metrics.streamsTotal]],
  );
  metric(
    "pingpong_streams_stalled",
    "gauge",
    "Streams waiting for their clients to read their replies (at most --max-stalled).",
    [["", metrics.streamsStalled]],
  );
  metric(
    "pingpong_errors_total",
    "counter",
    "Refused sessions and malformed frames, by kind.",
    Object.entries(metrics.errors).sort(([a], [b]) => a.localeCompare(b)).map((
      [kind, count],
    ) => [`{kind="${escapeLabel(kind)}"}`, count]),
  );
  metric(
    "pingpong_certificate_expiry_timestamp_seconds",
    "gauge",
    "Unix time when the presented certificate expires.",
    [["", metrics.certificateNotAfter.getTime() / 1000]],
  );
  metric(
    "pingpong_draining",
    "gauge",
    "1 while the server drains before stopping, else 0.",
    [["", metrics.draining ? 1 : 0]],
  );
  metric(
    "process_resident_memory_bytes",
    "gauge",
    "Resident memory size in bytes.",
    [["", metrics.residentMemoryBytes]],
  );
  return lines.join("\n") + "\n";
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function escapeLabel(text: string): string {
  return text.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/**
 * Snapshots `server`'s figures for {@linkcode renderMetrics}.
 *
 * @example
 * ```ts ignore
 * import { PingPongServer } from "./server_core.ts";
 * import { serverMetrics } from "./health.ts";
 * const server = await PingPongServer.start({ port: 0 });
 * console.log(serverMetrics(server, false).sessionsOpen); // 0
 * ```
 */
export function serverMetrics(
  server: PingPongServer,
  draining: boolean,
): ServerMetrics {
  return {
    sessionsOpen: server.sessionCount,
    sessionsTotal: server.sessionsTotal,
    pingsAnswered: server.stats.pongs,
    streamsTotal: server.stats.streams,
    streamsStalled: server.stalledStreams,
    errors: errorsByKind(server.stats.malformed, server.refusals),
    certificateNotAfter: server.certificate.notAfter,
    draining: draining || server.stopping,
    residentMemoryBytes: Deno.memoryUsage().rss,
  };
}

/**
 * Errors by `kind` label: `malformed`, then every refusal kind (0 when none),
 * and `close_CODE` for a close code {@linkcode REFUSAL_KINDS} does not name.
 *
 * @example
 * ```ts
 * import { errorsByKind } from "./health.ts";
 * const errors = errorsByKind(2, new Map([[401, 3]]));
 * console.log(errors.malformed, errors.unauthorized, errors.busy); // 2 3 0
 * ```
 */
export function errorsByKind(
  malformed: number,
  refusals: ReadonlyMap<number, number>,
): Record<string, number> {
  const errors: Record<string, number> = { malformed };
  for (const kind of Object.values(REFUSAL_KINDS)) errors[kind] = 0;
  for (const [code, count] of refusals) {
    const kind = REFUSAL_KINDS[code] ?? `close_${code}`;
    errors[kind] = (errors[kind] ?? 0) + count;
  }
  return errors;
}

/**
 * Answers one request to the endpoint.
 *
 * @example
 * ```ts ignore
 * import { handleHealthRequest } from "./health.ts";
 * declare const source: import("./health.ts").HealthSource;
 * const response = handleHealthRequest(new Request("http://x/healthz"), source);
 * console.log(response.status); // 200
 * ```
 */
export function handleHealthRequest(
  request: Request,
  source: HealthSource,
): Response {
  const { pathname } = new URL(request.url);
  const text = (body: string, status = 200, type = "text/plain") =>
    new Response(request.method === "HEAD" ? null : body, {
      status,
      headers: { "content-type": `${type}; charset=utf-8` },
    });
  if (request.method !== "GET" && request.method !== "HEAD") {
    const response = text("method not allowed\n", 405);
    response.headers.set("allow", "GET, HEAD");
    return response;
  }
  switch (pathname) {
    case "/healthz":
      return text("ok\n");
    case "/readyz":
      return source.ready() ? text("ready\n") : text("draining\n", 503);
    case "/metrics":
      return new Response(
        request.method === "HEAD" ? null : renderMetrics(source.metrics()),
        { headers: { "content-type": METRICS_CONTENT_TYPE } },
      );
    default:
      return text("not found: try /healthz, /readyz or /metrics\n", 404);
  }
}

/**
 * Thrown by {@linkcode serveHealth} when the health port cannot be bound.
 *
 * @example A busy port
 * ```ts
 * import { HealthBindError, serveHealth } from "./health.ts";
 * using held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * try {
 *   serveHealth({
 *     hostname: "127.0.0.1",
 *     port: held.addr.port,
 *     source: {
 *       ready: () => true,
 *       metrics: () => {
 *         throw new Error("never asked: nothing is served");
 *       },
 *     },
 *   });
 * } catch (error) {
 *   console.log(error instanceof HealthBindError); // true
 *   console.log((error as Error).message.endsWith("for --health-port: address already in use")); // true
 * }
 * ```
 */
export class HealthBindError extends Error {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "HealthBindError";
  }
}

/** Options of {@linkcode serveHealth}. */
export interface HealthOptions {
  /**
   * Address to bind.
   *
   * @default {"::"}
   */
  hostname?: string;
  /** TCP port; 0 picks a free one. */
  port: number;
  /** The server asked on every request. */
  source: HealthSource;
}

/** A running health endpoint. */
export interface HealthEndpoint {
  /** The bound address. */
  addr: Deno.NetAddr;
  /** Base URL, e.g. `http://127.0.0.1:9090`. */
  url: string;
  /** Stops serving. */
  close(): Promise<void>;
}

/**
 * Serves `/healthz`, `/readyz` and `/metrics` over HTTP.
 *
 * @throws {HealthBindError} when the port cannot be bound.
 * @example
 * ```ts ignore
 * import { serveHealth, serverMetrics } from "./health.ts";
 * import { PingPongServer } from "./server_core.ts";
 * const server = await PingPongServer.start({ port: 0 });
 * const health = serveHealth({
 *   port: 9090,
 *   source: {
 *     ready: () => !server.stopping,
 *     metrics: () => serverMetrics(server, false),
 *   },
 * });
 * console.log(health.url);
 * await health.close();
 * ```
 */
export function serveHealth(options: HealthOptions): HealthEndpoint {
  const hostname = options.hostname ?? "::";
  let httpServer: Deno.HttpServer<Deno.NetAddr>;
  try {
    httpServer = Deno.serve({
      hostname,
      port: options.port,
      // Deno.serve logs "Listening on" by default; the CLI prints its own line.
      onListen: () => {},
      onError: (error) => {
        log.warn("health request failed: {error}", { error: String(error) });
        return new Response("internal error\n", { status: 500 });
      },
    }, (request) => handleHealthRequest(request, options.source));
  } catch (cause) {
    const reason = cause instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : (cause as Error).message;
    throw new HealthBindError(
      `cannot listen on TCP ${
        formatHostPort(hostname, options.port)
      } for --health-port: ${reason}`,
      { cause },
    );
  }
  const addr = httpServer.addr;
  return {
    addr,
    url: `http://${formatHostPort(addr.hostname, addr.port)}`,
    close: () => httpServer.shutdown(),
  };
}

/**
 * The pingpong server: a WebTransport listener, routing by path, a registry
 * of open sessions, certificate renewal and graceful shutdown.
 *
 * @module
 */
import { AccessPolicy, type Refusal } from "./auth.ts";
import {
  type CertificateBundle,
  generateCertificate,
  renewalDelay,
} from "./certificates.ts";
import { CloseCode, DEFAULT_MAX_FRAME_SIZE } from "./codec.ts";
import {
  admitSession,
  type Budget,
  DEFAULT_LIMITS,
  type Limits,
  SessionGuard,
  stalledBudget,
} from "./limits.ts";
import { ECHO_PATH, serveEcho } from "./echo.ts";
import { logger } from "./log.ts";
import { type ResponderStats, serveSession } from "./responder.ts";
import {
  connectableHost,
  formatHostPort,
  type IncomingSession,
} from "./transport.ts";
import {
  listenTransports,
  type SessionListener,
  type Transport,
  TRANSPORTS,
} from "./transport_select.ts";
import { webPageHandler } from "./web_page.ts";

const log = logger("server");

/** Longest delay `setTimeout` honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Least time between two renewals, so a generator of short-lived certificates cannot spin. */
const MIN_RENEWAL_GAP_MS = 1000;

/** Wait before trying again after a failed renewal. */
const RENEWAL_RETRY_MS = 60_000;

/** Options of {@linkcode PingPongServer.start}. */
export interface PingPongServerOptions {
  /**
   * Address to bind; `::` takes every interface, IPv4 included.
   *
   * @default {"::"}
   */
  hostname?: string;
  /**
   * UDP port; 0 picks a free one.
   *
   * @default {4433}
   */
  port?: number;
  /**
   * The pingpong path. `/echo` is served too, as a plain echo service
   * (lib/echo.ts), unless `echo` is false; sessions for other paths are
   * closed with 404.
   *
   * @default {"/pingpong"}
   */
  path?: string;
  /**
   * Serve the plain echo service on `/echo` (interop tests and `--echo`
   * clients use it), under the same limits as the pingpong path.
   *
   * @default {true}
   */
  echo?: boolean;
  /**
   * Certificate to present. Without one the server makes an ephemeral
   * certificate and renews it before it expires.
   *
   * @default {undefined}
   */
  certificate?: CertificateBundle;
  /**
   * Makes ephemeral certificates (tests pass short-lived ones).
   *
   * @default {() => generateCertificate()}
   */
  generateCertificate?: () => Promise<CertificateBundle>;
  /**
   * Called whenever the presented certificate changes (renewal).
   *
   * @default {undefined}
   */
  onCertificate?: (certificate: CertificateBundle) => void;
  /**
   * Largest message accepted.
   *
   * @default {65536}
   */
  maxFrameSize?: number;
  /**
   * Who may open a session (token, Origin allow-list).
   *
   * @default {an AccessPolicy that admits everyone}
   */
  access?: AccessPolicy;
  /**
   * Sessions, streams, ping rate, idle and stall timeouts, stalled streams
   * (lib/limits.ts).
   *
   * @default {DEFAULT_LIMITS}
   */
  limits?: Partial<Limits>;
  /**
   * Time a QUIC connection has to open its WebTransport session.
   *
   * @default {10000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Transports to serve on the port: HTTP/3 on UDP, HTTP/2 on TCP.
   *
   * @default {["h3", "h2"]}
   */
  transports?: readonly Transport[];
  /**
   * Serve the browser page at `/` on the TCP port (with HTTP/2).
   *
   * @default {true}
   */
  webPage?: boolean;
}

/**
 * A running pingpong server.
 *
 * @example
 * ```ts ignore
 * import { PingPongServer } from "./server_core.ts";
 * const server = await PingPongServer.start({ hostname: "127.0.0.1", port: 0 });
 * console.log(server.url, server.certificate.hash);
 * await server.shutdown();
 * ```
 */
export class PingPongServer {
  readonly #listener: SessionListener;
  readonly #options: PingPongServerOptions;
  readonly #path: string;
  readonly #sessions = new Set<WebTransport>();
  readonly #done = new Set<Promise<void>>();
  readonly #stats: ResponderStats = { pongs: 0, malformed: 0, streams: 0 };
  readonly #access: AccessPolicy;
  readonly #limits: Limits;
  /** Streams of every session stalled now, against `maxStalled`. */
  readonly #stalled: Budget;
  readonly #refusals = new Map<number, number>();
  #sessionsTotal = 0;
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  private constructor(
    listener: SessionListener,
    options: PingPongServerOptions,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#path = options.path ?? "/pingpong";
    this.#access = options.access ?? new AccessPolicy();
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#stalled = stalledBudget(this.#limits);
    if (this.#access.checksOrigin) {
      log.warning(
        "--allow-origin is not enforced: Deno 2.9 does not expose the CONNECT request's Origin (docs/security.md)",
      );
    }
  }

  /**
   * Binds and starts serving.
   *
   * @throws {BindError} when the port cannot be bound.
   */
  static async start(
    options: PingPongServerOptions = {},
  ): Promise<PingPongServer> {
    const ephemeral = options.certificate === undefined;
    const generate = options.generateCertificate ??
      (() => generateCertificate());
    const certificate = options.certificate ?? await generate();
    let server: PingPongServer | undefined = undefined;
    const listener = await listenTransports({
      hostname: options.hostname,
      port: options.port,
      certificate,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      onSession: (incoming) => server && server.#accept(incoming),
      transports: options.transports ?? TRANSPORTS,
      httpHandler: options.webPage === false ? undefined : webPageHandler({
        path: options.path ?? "/pingpong",
        certHash: () => listener.certificate.hash,
      }),
    });
    server = new PingPongServer(listener, {
      ...options,
      generateCertificate: generate,
    });
    if (ephemeral) server.#scheduleRenewal();
    return server;
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#listener.addr;
  }

  /**
   * The URL clients use: the bound address, or loopback when bound to every
   * interface (`::`, `0.0.0.0`), which is no address to connect to.
   */
  get url(): string {
    return `https://${
      formatHostPort(connectableHost(this.addr.hostname), this.addr.port)
    }${this.#path}`;
  }

  /** The certificate presented to new connections. */
  get certificate(): CertificateBundle {
    return this.#listener.certificate;
  }

  /** Sessions open now. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Streams of all sessions stalled now (their peers not reading). */
  get stalledStreams(): number {
    return this.#stalled.held;
  }

  /** Sessions refused or cut off, by close code. */
  get refusals(): ReadonlyMap<number, number> {
    return this.#refusals;
  }

  /** Counters over every session served. */
  get stats(): Readonly<ResponderStats> {
    return this.#stats;
  }

  /** Sessions accepted since start (open or closed). */
  get sessionsTotal(): number {
    return this.#sessionsTotal;
  }

  /** Whether {@linkcode PingPongServer.shutdown} has begun. */
  get stopping(): boolean {
    return this.#stopped;
  }

  /**
   * Stops accepting, closes every session with the going-away code, and
   * closes the endpoint once they are closed or `graceMs` has passed.
   */
  async shutdown(graceMs = 1000): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#renewTimer);
    this.#listener.stopAccepting();
    // Pongs already written are still in QUIC's send buffers; closing a
    // session discards them, so give them a moment (loopback needs < 1 ms).
    const flushMs = Math.min(100, graceMs / 10);
    await new Promise((resolve) => setTimeout(resolve, flushMs));
    for (const session of this.#sessions) {
      try {
        session.close({
          closeCode: CloseCode.GOING_AWAY,
          reason: "server shutting down",
        });
      } catch (error) {
        log.debug("close failed: {error}", { error: String(error) });
      }
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled([...this.#done]),
      new Promise((resolve) =>
        timer = setTimeout(resolve, Math.max(0, graceMs - flushMs))
      ),
    ]);
    clearTimeout(timer);
    this.#listener.close();
  }

  #count(closeCode: number): void {
    this.#refusals.set(closeCode, (this.#refusals.get(closeCode) ?? 0) + 1);
  }

  #refuse(session: WebTransport, peer: string, refusal: Refusal): void {
    this.#count(refusal.closeCode);
    log.warning("closed session from {peer} with {code}: {reason}", {
      peer,
      code: refusal.closeCode,
      reason: refusal.reason,
    });
    try {
      session.close(refusal);
    } catch (error) {
      log.debug("close failed: {error}", { error: String(error) });
    }
  }

  #accept({ session, url, remoteAddr }: IncomingSession): void {
    const peer = formatHostPort(remoteAddr.hostname, remoteAddr.port);
    if (this.#stopped) {
      this.#count(CloseCode.GOING_AWAY);
      session.close({
        closeCode: CloseCode.GOING_AWAY,
        reason: "server shutting down",
      });
      return;
    }
    // The plain echo service of the interop tests (docs/protocol.md).
    const echo = url.pathname === ECHO_PATH && this.#path !== ECHO_PATH &&
      this.#options.echo !== false;
    if (url.pathname !== this.#path && !echo) {
      this.#count(CloseCode.NOT_FOUND);
      log.info("refused {peer}: no such path {path}", {
        peer,
        path: url.pathname,
      });
      session.close({
        closeCode: CloseCode.NOT_FOUND,
        reason: `not found: ${url.pathname.slice(0, 200)}`,
      });
      return;
    }
    // Origin: Deno 2.9 does not expose the CONNECT headers (docs/security.md).
    const refusal = this.#access.check({ url }) ??
      admitSession(this.#sessions.size, this.#limits);
    if (refusal) return this.#refuse(session, peer, refusal);
    log.debug("session from {peer}", { peer });
    this.#sessions.add(session);
    this.#sessionsTotal++;
    // Both services run under the same limits (docs/security.md).
    const guard = new SessionGuard(
      this.#limits,
      (refusal) => this.#refuse(session, peer, refusal),
      {
        noun: echo ? "message" : "ping",
        replies: echo ? "echoes" : "pongs",
        stalled: this.#stalled,
      },
    );
    const served = echo
      ? serveEcho(session, { hooks: guard })
      : serveSession(session, {
        maxFrameSize: this.#options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
        stats: this.#stats,
        hooks: guard,
      });
    const done = served.finally(() => {
      guard.dispose();
      this.#sessions.delete(session);
      this.#done.delete(done);
      log.debug("session from {peer} closed", { peer });
    });
    this.#done.add(done);
  }

  #scheduleRenewal(minDelayMs = 0): void {
    const delay = Math.min(
      Math.max(renewalDelay(this.certificate), minDelayMs),
      MAX_TIMER_MS,
    );
    this.#renewTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        const next = await this.#options.generateCertificate!();
        if (this.#stopped) return;
        this.#listener.replaceCertificate(next);
        log.info("renewed certificate, new hash {hash}", { hash: next.hash });
        this.#options.onCertificate?.(next);
        this.#scheduleRenewal(MIN_RENEWAL_GAP_MS);
      } catch (error) {
        log.error("certificate renewal failed: {error}", {
          error: String(error),
        });
        this.#scheduleRenewal(RENEWAL_RETRY_MS);
      }
    }, delay);
  }
}

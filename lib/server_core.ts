/**
 * The pingpong server: a WebTransport listener, routing by path, a registry
 * of open sessions, certificate renewal and graceful shutdown.
 *
 * @module
 */
import {
  type CertificateBundle,
  generateCertificate,
  renewalDelay,
} from "./certificates.ts";
import { CloseCode, DEFAULT_MAX_FRAME_SIZE } from "./codec.ts";
import { ECHO_PATH, serveEcho } from "./echo.ts";
import { logger } from "./log.ts";
import { type ResponderStats, serveSession } from "./responder.ts";
import {
  formatHostPort,
  type IncomingSession,
  listenWebTransport,
  type WebTransportListener,
} from "./transport.ts";

const log = logger("server");

/** Longest delay `setTimeout` honours (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;

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
   * (lib/echo.ts); sessions for other paths are closed with 404.
   *
   * @default {"/pingpong"}
   */
  path?: string;
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
  readonly #listener: WebTransportListener;
  readonly #options: PingPongServerOptions;
  readonly #path: string;
  readonly #sessions = new Set<WebTransport>();
  readonly #done = new Set<Promise<void>>();
  readonly #stats: ResponderStats = { pongs: 0, malformed: 0, streams: 0 };
  #renewTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  private constructor(
    listener: WebTransportListener,
    options: PingPongServerOptions,
  ) {
    this.#listener = listener;
    this.#options = options;
    this.#path = options.path ?? "/pingpong";
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
    const listener = listenWebTransport({
      hostname: options.hostname,
      port: options.port,
      certificate,
      onSession: (incoming) => server && server.#accept(incoming),
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

  /** The URL clients use, with the bound address. */
  get url(): string {
    return `https://${
      formatHostPort(this.addr.hostname, this.addr.port)
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

  /** Counters over every session served. */
  get stats(): Readonly<ResponderStats> {
    return this.#stats;
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
      new Promise((resolve) => timer = setTimeout(resolve, graceMs)),
    ]);
    clearTimeout(timer);
    this.#listener.close();
  }

  #accept({ session, url, remoteAddr }: IncomingSession): void {
    const peer = formatHostPort(remoteAddr.hostname, remoteAddr.port);
    if (this.#stopped) {
      session.close({
        closeCode: CloseCode.GOING_AWAY,
        reason: "server shutting down",
      });
      return;
    }
    const echo = url.pathname === ECHO_PATH && this.#path !== ECHO_PATH;
    if (url.pathname !== this.#path && !echo) {
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
    log.debug("session from {peer}", { peer });
    this.#sessions.add(session);
    const served = echo ? serveEcho(session) : serveSession(session, {
      maxFrameSize: this.#options.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE,
      stats: this.#stats,
    });
    const done = served.finally(() => {
      this.#sessions.delete(session);
      this.#done.delete(done);
      log.debug("session from {peer} closed", { peer });
    });
    this.#done.add(done);
  }

  #scheduleRenewal(): void {
    const delay = Math.min(renewalDelay(this.certificate), MAX_TIMER_MS);
    this.#renewTimer = setTimeout(async () => {
      if (this.#stopped) return;
      try {
        const next = await this.#options.generateCertificate!();
        if (this.#stopped) return;
        this.#listener.replaceCertificate(next);
        log.info("renewed certificate, new hash {hash}", { hash: next.hash });
        this.#options.onCertificate?.(next);
      } catch (error) {
        log.error("certificate renewal failed: {error}", {
          error: String(error),
        });
      }
      this.#scheduleRenewal();
    }, delay);
  }
}

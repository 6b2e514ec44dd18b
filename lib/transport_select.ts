/**
 * One interface over the interchangeable transports: the server listens on
 * HTTP/3 (UDP) and HTTP/2 (TCP) on the same port number, and the client
 * picks one, or races them in the spirit of Happy Eyeballs (RFC 8305):
 * HTTP/3 first, HTTP/2 beside it when QUIC has not answered within a short
 * delay, and the first session that opens wins.
 *
 * @module
 */
import type { CertificateBundle } from "./certificates.ts";
import { logger } from "./log.ts";
import {
  BindError,
  ConnectError,
  type ConnectOptions,
  connectWebTransport,
  type IncomingSession,
  listenWebTransport,
} from "./transport.ts";
import type { HttpHandler } from "./transport_h2.ts";

// The HTTP/2 stack (and its npm dependencies) loads only when used: a client
// whose HTTP/3 answers in time never pays its start-up cost.
const _h2 = () => import("./transport_h2.ts");

const log = logger("transport");

/** The transports a session can run on. */
export const TRANSPORTS = ["h3", "h2"] as const;

/** One of {@linkcode TRANSPORTS}. */
export type Transport = (typeof TRANSPORTS)[number];

/** What the client may be asked for: a transport, or `auto` to race them. */
export const TRANSPORT_CHOICES = ["auto", ...TRANSPORTS] as const;

/** One of {@linkcode TRANSPORT_CHOICES}. */
export type TransportChoice = (typeof TRANSPORT_CHOICES)[number];

/** Names people know the transports by. */
export const TRANSPORT_NAMES: Record<Transport, string> = {
  h3: "HTTP/3",
  h2: "HTTP/2",
};

/** How long HTTP/3 gets alone before HTTP/2 joins the race, ms. */
export const DEFAULT_RACE_DELAY_MS = 300;

/** What both transports' listeners do, as the server uses them. */
export interface SessionListener {
  /** The bound address (the UDP one; TCP has the same port). */
  readonly addr: Deno.NetAddr;
  /** The certificate new connections are offered. */
  readonly certificate: CertificateBundle;
  /** Offers `certificate` to new connections from now on. */
  replaceCertificate(certificate: CertificateBundle): void;
  /** Stops accepting new sessions; open sessions stay open. */
  stopAccepting(): void;
  /** Closes the listener with every connection on it. */
  close(): void;
}

/** Options of {@linkcode listenTransports}. */
export interface ListenTransportsOptions {
  /**
   * Address to bind; `::` takes every interface, IPv4 included.
   *
   * @default {"::"}
   */
  hostname?: string;
  /**
   * Port for both UDP and TCP; 0 picks one free on both.
   *
   * @default {4433}
   */
  port?: number;
  /** Certificate and key both transports present. */
  certificate: CertificateBundle;
  /** Called with every session, whichever transport carries it. */
  onSession: (incoming: IncomingSession & { transport: Transport }) => void;
  /**
   * Transports to listen on.
   *
   * @default {["h3", "h2"]}
   */
  transports?: readonly Transport[];
  /**
   * Answers plain HTTPS requests on the TCP port (the browser page).
   *
   * @default {undefined}
   */
  httpHandler?: HttpHandler;
  /**
   * Time an HTTP/3 connection has to open its WebTransport session.
   *
   * @default {10000}
   */
  handshakeTimeoutMs?: number;
}

/** Tries for a port free on both UDP and TCP when 0 was asked. */
const _PORT_TRIES = 8;

/**
 * Listens on every transport in `options.transports` on one port number.
 *
 * @throws {BindError} when a port cannot be bound.
 * @example
 * ```ts ignore
 * import { generateCertificate } from "./certificates.ts";
 * import { listenTransports } from "./transport_select.ts";
 * const listener = await listenTransports({
 *   port: 0,
 *   certificate: await generateCertificate(),
 *   onSession: ({ session, transport }) => session.close(),
 * });
 * listener.close();
 * ```
 */
export async function listenTransports(
  options: ListenTransportsOptions,
): Promise<SessionListener> {
  const transports = options.transports ?? TRANSPORTS;
  const h3 = (port: number | undefined) =>
    listenWebTransport({
      ...options,
      port,
      onSession: (incoming) =>
        options.onSession({ ...incoming, transport: "h3" }),
    });
  if (!transports.includes("h2")) {
    if (!transports.includes("h3")) {
      throw new RangeError("no transport to listen on");
    }
    return h3(options.port);
  }
  const { listenWebTransportH2 } = await _h2();
  for (let attempt = 1;; attempt++) {
    // TCP first: a TCP listener closed after a failure frees its port at
    // once, while Deno 2.9's QuicEndpoint.close() keeps the UDP socket bound
    // until garbage collection, so a UDP-first attempt that failed on TCP
    // would leave its own UDP port busy for every retry.
    const h2 = await listenWebTransportH2({
      ...options,
      onSession: (incoming) =>
        options.onSession({ ...incoming, transport: "h2" }),
    });
    if (!transports.includes("h3")) return h2;
    try {
      return new _DualListener(h3(h2.addr.port), h2);
    } catch (error) {
      h2.close();
      // Port 0 found a TCP port whose UDP twin is taken: try another.
      const retry = error instanceof BindError && (options.port ?? 4433) === 0;
      if (!retry || attempt >= _PORT_TRIES) throw error;
      log.debug("UDP port {port} taken, trying another", {
        port: h2.addr.port,
      });
    }
  }
}

class _DualListener implements SessionListener {
  readonly #parts: [SessionListener, SessionListener];

  constructor(first: SessionListener, second: SessionListener) {
    this.#parts = [first, second];
  }

  get addr(): Deno.NetAddr {
    return this.#parts[0].addr;
  }

  get certificate(): CertificateBundle {
    return this.#parts[0].certificate;
  }

  replaceCertificate(certificate: CertificateBundle): void {
    for (const part of this.#parts) part.replaceCertificate(certificate);
  }

  stopAccepting(): void {
    for (const part of this.#parts) part.stopAccepting();
  }

  close(): void {
    for (const part of this.#parts) part.close();
  }
}

/** Options of {@linkcode connectTransport}. */
export interface ConnectTransportOptions extends ConnectOptions {
  /**
   * Which transport to use; `auto` races HTTP/3 and HTTP/2.
   *
   * @default {"auto"}
   */
  transport?: TransportChoice;
  /**
   * With `auto`: how long HTTP/3 gets alone before HTTP/2 starts beside it.
   *
   * @default {DEFAULT_RACE_DELAY_MS}
   */
  raceDelayMs?: number;
}

/** A ready session and the transport that carries it. */
export interface TransportSession {
  /** The ready session. */
  session: WebTransport;
  /** The transport that won. */
  transport: Transport;
  /** Time from the start of the attempt (the race) to `ready`, in ms. */
  handshakeMs: number;
}

const _CONNECT: Record<
  Transport,
  (url: string, options: ConnectOptions) => Promise<{ session: WebTransport }>
> = {
  h3: connectWebTransport,
  h2: async (url, options) => (await _h2()).connectWebTransportH2(url, options),
};

/**
 * Opens a session on the chosen transport, or races them with `auto`.
 *
 * @throws {ConnectError} when no transport opened a session.
 * @example
 * ```ts ignore
 * import { connectTransport } from "./transport_select.ts";
 * const { session, transport } = await connectTransport(
 *   "https://127.0.0.1:4433/pingpong",
 *   { transport: "auto", timeoutMs: 2000 },
 * );
 * console.log(transport); // "h3", or "h2" where UDP is blocked
 * session.close();
 * ```
 */
export async function connectTransport(
  url: string,
  options: ConnectTransportOptions = {},
): Promise<TransportSession> {
  const choice = options.transport ?? "auto";
  const started = performance.now();
  if (choice !== "auto") {
    try {
      const { session } = await _CONNECT[choice](url, options);
      return {
        session,
        transport: choice,
        handshakeMs: performance.now() - started,
      };
    } catch (error) {
      throw choice === "h3" ? _suggestH2(error) : error;
    }
  }
  return await _race(url, options, started);
}

/** Over HTTP/3 alone, a timeout most often means UDP does not get through. */
function _suggestH2(error: unknown): unknown {
  if (!(error instanceof ConnectError) || error.kind !== "timeout") {
    return error;
  }
  return new ConnectError(
    error.kind,
    `${error.message}; if UDP is blocked on the way, try --transport h2`,
    { cause: error },
  );
}

interface _Attempt {
  transport: Transport;
  controller: AbortController;
  result: Promise<TransportSession>;
}

async function _race(
  url: string,
  options: ConnectTransportOptions,
  started: number,
): Promise<TransportSession> {
  options.signal?.throwIfAborted();
  const delayMs = options.raceDelayMs ?? DEFAULT_RACE_DELAY_MS;
  const attempts: _Attempt[] = [];
  const start = (transport: Transport): _Attempt => {
    const controller = new AbortController();
    const signal = options.signal
      ? AbortSignal.any([options.signal, controller.signal])
      : controller.signal;
    const result = _CONNECT[transport](url, { ...options, signal }).then(
      ({ session }) => ({
        session,
        transport,
        handshakeMs: performance.now() - started,
      }),
    );
    const attempt = { transport, controller, result };
    attempts.push(attempt);
    log.debug("trying {transport}", { transport });
    return attempt;
  };

  const h3 = start("h3");
  let timer: ReturnType<typeof setTimeout> | undefined;
  // HTTP/2 joins when HTTP/3 has not opened in time, or failed sooner.
  let settled = false;
  const h2Started = new Promise<_Attempt>((resolve, reject) => {
    let started = false;
    const startOnce = () => {
      clearTimeout(timer);
      if (started || settled) return;
      started = true;
      resolve(start("h2"));
    };
    timer = setTimeout(startOnce, delayMs);
    h3.result.catch((error) => {
      // The server answered over HTTP/3 and refused (path, token, busy) or
      // its certificate is wrong: HTTP/2 would hear the same, so do not ask.
      if (!started && error instanceof ConnectError && _definitive(error)) {
        clearTimeout(timer);
        reject(error);
      } else {
        startOnce();
      }
    });
  });

  const errors = new Map<Transport, unknown>();
  try {
    const winner = await Promise.any([
      h3.result.catch((error) => {
        errors.set("h3", error);
        throw error;
      }),
      h2Started.then((h2) =>
        h2.result.catch((error) => {
          errors.set("h2", error);
          throw error;
        })
      ),
    ]);
    log.debug("{transport} won the race", { transport: winner.transport });
    for (const attempt of attempts) {
      if (attempt.transport !== winner.transport) _abandon(attempt);
    }
    return winner;
  } catch {
    const h3Error = errors.get("h3");
    if (
      !errors.has("h2") && h3Error instanceof ConnectError &&
      _definitive(h3Error)
    ) {
      throw h3Error;
    }
    throw _bothFailed(errors);
  } finally {
    settled = true;
    clearTimeout(timer);
  }
}

function _definitive(error: ConnectError): boolean {
  return error.kind === "closed" || error.kind === "certificate";
}

/** Stops a losing attempt, and closes its session if it opened anyway. */
function _abandon(attempt: _Attempt): void {
  attempt.controller.abort();
  attempt.result.then(({ session }) => {
    try {
      session.close();
    } catch {
      // Already closed.
    }
  }, () => {});
}

function _bothFailed(errors: Map<Transport, unknown>): ConnectError {
  const h3 = errors.get("h3");
  const h2 = errors.get("h2");
  const text = (error: unknown) =>
    error instanceof Error ? error.message : String(error);
  const kinds = [h3, h2].map((error) =>
    error instanceof ConnectError ? error.kind : "network"
  );
  if (h3 instanceof ConnectError && h3.kind === "aborted") return h3;
  // A wrong pin or a refused path fails both alike: say it once.
  for (const error of [h2, h3]) {
    if (
      error instanceof ConnectError &&
      (error.kind === "certificate" || error.message.startsWith("server "))
    ) {
      return error;
    }
  }
  return new ConnectError(
    kinds.includes("timeout") ? "timeout" : kinds[1],
    `HTTP/3: ${text(h3)}; HTTP/2: ${text(h2)}`,
    { cause: new AggregateError([h3, h2]) },
  );
}

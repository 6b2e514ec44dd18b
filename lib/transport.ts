/**
 * WebTransport over HTTP/3 with Deno's built-ins: a listener that hands over
 * upgraded sessions, and a client connect with a deadline and typed errors.
 *
 * Both sides work with the standard `WebTransport` interface, so the
 * ping-pong logic does not know which transport carries it.
 *
 * @module
 */
import type { CertificateBundle } from "./certificates.ts";
import { logger } from "./log.ts";

const log = logger("transport");

/** The ALPN protocol of HTTP/3, which WebTransport over QUIC runs on. */
export const ALPN_H3 = "h3";

/** A session accepted by a {@linkcode WebTransportListener}. */
export interface IncomingSession {
  /** The session, ready to use. */
  session: WebTransport;
  /** The URL the client asked for (its path selects the service). */
  url: URL;
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
}

/** Options of {@linkcode listenWebTransport}. */
export interface ListenOptions {
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
  /** Certificate and key the server presents. */
  certificate: CertificateBundle;
  /** Called with every session that completes its handshake. */
  onSession: (incoming: IncomingSession) => void;
  /**
   * QUIC idle timeout: a connection that hears nothing this long is dropped.
   *
   * @default {30000}
   */
  maxIdleTimeoutMs?: number;
  /**
   * A QUIC connection must open its WebTransport session within this long
   * or it is closed: QUIC keep-alives would otherwise hold it forever.
   *
   * @default {10000}
   */
  handshakeTimeoutMs?: number;
  /**
   * Connections still in their handshake at once; more are refused.
   *
   * @default {256}
   */
  maxPendingHandshakes?: number;
}

/**
 * A bound QUIC endpoint accepting WebTransport sessions.
 *
 * @example
 * ```ts ignore
 * import { generateCertificate } from "./certificates.ts";
 * import { listenWebTransport } from "./transport.ts";
 * const listener = listenWebTransport({
 *   port: 0,
 *   certificate: await generateCertificate(),
 *   onSession: ({ session }) => session.close(),
 * });
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export class WebTransportListener {
  readonly #endpoint: Deno.QuicEndpoint;
  readonly #options: ListenOptions;
  #listener: Deno.QuicListener;
  #certificate: CertificateBundle;
  #closed = false;
  #pending = 0;

  /** @internal Use {@linkcode listenWebTransport}. */
  constructor(endpoint: Deno.QuicEndpoint, options: ListenOptions) {
    this.#endpoint = endpoint;
    this.#options = options;
    this.#certificate = options.certificate;
    this.#listener = this.#listen(options.certificate);
  }

  /** The bound address (its port is the real one when 0 was asked). */
  get addr(): Deno.NetAddr {
    return this.#endpoint.addr;
  }

  /** The certificate new connections are offered. */
  get certificate(): CertificateBundle {
    return this.#certificate;
  }

  /**
   * Offers `certificate` to new connections from now on; open sessions keep
   * theirs. Used to renew an ephemeral certificate before it expires.
   */
  replaceCertificate(certificate: CertificateBundle): void {
    if (this.#closed) return;
    // Stop first: Deno's endpoint has one acceptor, and stopping the old
    // listener after listening anew would stop the new one too. A client
    // arriving in between is not lost: QUIC resends its Initial packet.
    this.#listener.stop();
    this.#listener = this.#listen(certificate);
    this.#certificate = certificate;
  }

  /** Stops accepting new connections; open sessions stay open. */
  stopAccepting(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.stop();
  }

  /** Stops accepting and closes the endpoint with every connection on it. */
  close(): void {
    this.stopAccepting();
    try {
      this.#endpoint.close();
    } catch (error) {
      log.debug("endpoint close failed: {error}", { error });
    }
  }

  #listen(certificate: CertificateBundle): Deno.QuicListener {
    const listener = this.#endpoint.listen({
      cert: certificate.certPem,
      key: certificate.keyPem,
      alpnProtocols: [ALPN_H3],
      maxIdleTimeout: this.#options.maxIdleTimeoutMs ?? 30_000,
    });
    this.#acceptLoop(listener);
    return listener;
  }

  async #acceptLoop(listener: Deno.QuicListener): Promise<void> {
    try {
      for await (const incoming of listener) {
        if (this.#closed) {
          incoming.refuse();
          continue;
        }
        if (this.#pending >= (this.#options.maxPendingHandshakes ?? 256)) {
          log.warning("refused a connection: too many handshakes in progress");
          incoming.refuse();
          continue;
        }
        this.#upgrade(incoming);
      }
    } catch (error) {
      // The iterator throws once the listener is stopped or the endpoint closed.
      if (!this.#closed) log.debug("accept loop ended: {error}", { error });
    }
  }

  async #upgrade(incoming: Deno.QuicIncoming): Promise<void> {
    let remoteAddr: Deno.NetAddr = { transport: "udp", hostname: "?", port: 0 };
    let timer: ReturnType<typeof setTimeout> | undefined;
    this.#pending++;
    try {
      const conn = await incoming.accept();
      remoteAddr = conn.remoteAddr;
      const ms = this.#options.handshakeTimeoutMs ?? 10_000;
      timer = setTimeout(() => {
        log.warning(
          "closed connection from {addr}: no session within {ms} ms",
          {
            addr: formatHostPort(remoteAddr.hostname, remoteAddr.port),
            ms,
          },
        );
        try {
          conn.close({ closeCode: 0, reason: "handshake timeout" });
        } catch {
          // Already closed.
        }
      }, ms);
      const session = await Deno.upgradeWebTransport(conn);
      // A handshake failure would otherwise surface as an unhandled rejection.
      session.closed.catch(() => {});
      await session.ready;
      clearTimeout(timer);
      this.#options.onSession({
        session,
        url: new URL(session.url),
        remoteAddr,
      });
    } catch (error) {
      log.debug("handshake with {addr} failed: {error}", {
        addr: `${remoteAddr.hostname}:${remoteAddr.port}`,
        error: String(error),
      });
    } finally {
      clearTimeout(timer);
      this.#pending--;
    }
  }
}

/**
 * Thrown when a QUIC endpoint cannot be bound.
 *
 * @example
 * ```ts
 * import { generateCertificate } from "./certificates.ts";
 * import { BindError, listenWebTransport } from "./transport.ts";
 * const certificate = await generateCertificate();
 * try {
 *   listenWebTransport({ hostname: "192.0.2.1", port: 0, certificate, onSession() {} });
 * } catch (error) {
 *   console.log(error instanceof BindError); // true: not this machine's address
 * }
 * ```
 */
export class BindError extends Error {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "BindError";
  }
}

/**
 * Binds a QUIC endpoint and accepts WebTransport sessions on it.
 *
 * @throws {BindError} when the address is in use or cannot be bound.
 * @example
 * ```ts ignore
 * import { generateCertificate } from "./certificates.ts";
 * import { listenWebTransport } from "./transport.ts";
 * const listener = listenWebTransport({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   certificate: await generateCertificate(),
 *   onSession: ({ session, url }) => console.log(url.pathname),
 * });
 * listener.close();
 * ```
 */
export function listenWebTransport(
  options: ListenOptions,
): WebTransportListener {
  const hostname = options.hostname ?? "::";
  const port = options.port ?? 4433;
  let endpoint: Deno.QuicEndpoint;
  try {
    endpoint = new Deno.QuicEndpoint({ hostname, port });
  } catch (cause) {
    const reason = cause instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : (cause as Error).message;
    throw new BindError(
      `cannot listen on UDP ${formatHostPort(hostname, port)}: ${reason}`,
      { cause },
    );
  }
  return new WebTransportListener(endpoint, options);
}

/** Why a connection attempt failed. */
export type ConnectErrorKind =
  | "closed"
  | "timeout"
  | "certificate"
  | "refused"
  | "network"
  | "aborted";

/**
 * Thrown when a session cannot be established or was lost.
 *
 * @example
 * ```ts ignore
 * import { ConnectError, connectWebTransport } from "./transport.ts";
 * try {
 *   await connectWebTransport("https://127.0.0.1:1/pingpong", { timeoutMs: 500 });
 * } catch (error) {
 *   if (error instanceof ConnectError) console.log(error.kind); // "timeout"
 * }
 * ```
 */
export class ConnectError extends Error {
  /** What went wrong. */
  readonly kind: ConnectErrorKind;
  /** With kind `closed`: the code the server closed the session with. */
  readonly closeCode: number | undefined;
  /** With kind `closed`: the reason the server gave. */
  readonly reason: string;

  /**
   * @param kind What went wrong.
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`), and the server's close
   * code and reason when it closed the session.
   */
  constructor(
    kind: ConnectErrorKind,
    message: string,
    options?: ErrorOptions & { closeCode?: number; reason?: string },
  ) {
    super(message, options);
    this.name = "ConnectError";
    this.kind = kind;
    this.closeCode = options?.closeCode;
    this.reason = options?.reason ?? "";
  }
}

/**
 * Why a server certificate was refused, worded the same over HTTP/3 and
 * HTTP/2 (see {@linkcode certificateError}).
 */
export const CertificateProblem = {
  /** A hash was pinned (`--cert-hash`, its variable, an mDNS advert) and the certificate's is another. */
  MISMATCH: "it does not match the pinned hash (check --cert-hash)",
  /** No hash was pinned and no CA the system trusts vouches for the certificate. */
  UNTRUSTED: "not trusted by the system CA store (pass --cert-hash)",
} as const;

/**
 * The error for a refused server certificate: one wording whichever
 * transport found it.
 *
 * @example
 * ```ts
 * import { CertificateProblem, certificateError } from "./transport.ts";
 * console.log(certificateError("10.0.0.1:4433", CertificateProblem.MISMATCH).message);
 * // certificate of 10.0.0.1:4433 rejected: it does not match the pinned hash (check --cert-hash)
 * ```
 */
export function certificateError(
  where: string,
  problem: string,
  options?: ErrorOptions,
): ConnectError {
  return new ConnectError(
    "certificate",
    `certificate of ${where} rejected: ${problem}`,
    options,
  );
}

/** Options of {@linkcode connectWebTransport}. */
export interface ConnectOptions {
  /**
   * SHA-256 of the server certificate to accept instead of CA validation
   * (`serverCertificateHashes`).
   *
   * @default {undefined}
   */
  certHash?: Uint8Array<ArrayBuffer>;
  /**
   * Give up when the session is not ready after this long.
   *
   * @default {5000}
   */
  timeoutMs?: number;
  /**
   * Cancels the attempt.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Makes the session; another transport passes its own `WebTransport`.
   *
   * @default {(url, init) => new WebTransport(url, init)}
   */
  createSession?: (url: string, init: WebTransportOptions) => WebTransport;
  /**
   * What a timeout message suggests checking.
   *
   * @default {"is the server running and UDP reachable?"}
   */
  timeoutHint?: string;
}

/** A session that completed its handshake. */
export interface ConnectedSession {
  /** The ready session. */
  session: WebTransport;
  /** Time from the start of the attempt to `ready`, in ms. */
  handshakeMs: number;
}

/**
 * Opens a WebTransport session and waits until it is ready.
 *
 * @throws {ConnectError} with `kind` naming the cause.
 * @example
 * ```ts ignore
 * import { parseCertHash } from "./certificates.ts";
 * import { connectWebTransport } from "./transport.ts";
 * const { session, handshakeMs } = await connectWebTransport(
 *   "https://127.0.0.1:4433/pingpong",
 *   { certHash: parseCertHash("ab".repeat(32)), timeoutMs: 2000 },
 * );
 * console.log(handshakeMs);
 * session.close();
 * ```
 */
export async function connectWebTransport(
  url: string,
  options: ConnectOptions = {},
): Promise<ConnectedSession> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const target = new URL(url);
  const where = target.host;
  options.signal?.throwIfAborted();
  const started = performance.now();
  let session: WebTransport;
  try {
    session = (options.createSession ?? _newWebTransport)(
      url,
      options.certHash
        ? {
          serverCertificateHashes: [{
            algorithm: "sha-256",
            value: options.certHash,
          }],
        }
        : {},
    );
  } catch (cause) {
    throw new ConnectError(
      "network",
      `cannot connect to ${where}: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  session.closed.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new ConnectError(
            "timeout",
            `no answer from ${where} within ${formatSeconds(timeoutMs)} (${
              options.timeoutHint ?? "is the server running and UDP reachable?"
            })`,
          ),
        ),
      timeoutMs,
    );
    onAbort = () =>
      reject(new ConnectError("aborted", "connection attempt cancelled"));
    options.signal?.addEventListener("abort", onAbort, { once: true });
  });
  try {
    await Promise.race([session.ready, deadline]);
  } catch (cause) {
    if (cause instanceof ConnectError) {
      closeQuietly(session);
      throw cause;
    }
    // A server that closes the session at once (wrong path, refused token)
    // makes `ready` fail with a bare "Bad resource ID"; `closed` holds why.
    const info = await settledWithin(session.closed, CLOSE_INFO_WAIT_MS);
    closeQuietly(session);
    if (info?.closeCode !== undefined) {
      throw new ConnectError(
        "closed",
        `${where} closed the session with code ${info.closeCode}${
          info.reason ? `: ${info.reason}` : ""
        }`,
        { cause, closeCode: info.closeCode, reason: info.reason ?? "" },
      );
    }
    throw classifyFailure(where, cause, options.certHash !== undefined);
  } finally {
    clearTimeout(timer);
    if (onAbort) options.signal?.removeEventListener("abort", onAbort);
  }
  return { session, handshakeMs: performance.now() - started };
}

/** How long a failed handshake waits for the server's close code. */
const CLOSE_INFO_WAIT_MS = 250;

function closeQuietly(session: WebTransport): void {
  try {
    session.close();
  } catch {
    // Closing a session that never opened may throw; there is nothing to free.
  }
}

async function settledWithin<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise.catch(() => undefined),
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function _newWebTransport(url: string, init: WebTransportOptions) {
  return new URL(url).hostname.startsWith("[")
    ? _withBareIpv6Hostname(() => new WebTransport(url, init))
    : new WebTransport(url, init);
}

/**
 * Runs `body` with `URL#hostname` giving IPv6 addresses without brackets.
 *
 * Deno 2.9's `WebTransport` hands `url.hostname` to its QUIC connect as the
 * TLS server name, and an IPv6 literal's hostname keeps its brackets
 * (`[::1]`), which TLS refuses: "invalid server name: [::1]". The constructor
 * reads `hostname` synchronously, once; its CONNECT request is built later
 * from the whole URL, with the brackets back.
 */
function _withBareIpv6Hostname<T>(body: () => T): T {
  const descriptor = Object.getOwnPropertyDescriptor(
    URL.prototype,
    "hostname",
  );
  const get = descriptor?.get;
  if (!descriptor?.configurable || !get) return body();
  Object.defineProperty(URL.prototype, "hostname", {
    ...descriptor,
    get(this: URL) {
      const hostname: string = get.call(this);
      return /^\[.*\]$/.test(hostname) ? hostname.slice(1, -1) : hostname;
    },
  });
  try {
    return body();
  } finally {
    Object.defineProperty(URL.prototype, "hostname", descriptor);
  }
}

function classifyFailure(
  where: string,
  cause: unknown,
  pinned: boolean,
): ConnectError {
  const text = cause instanceof Error ? cause.message : String(cause);
  if (/UnknownIssuer/.test(text)) {
    // All Deno says of a pinned hash that does not match, as of a chain no
    // CA vouches for: which it was depends on whether a hash was pinned.
    return certificateError(
      where,
      pinned ? CertificateProblem.MISMATCH : CertificateProblem.UNTRUSTED,
      { cause },
    );
  }
  if (/certificate|NotValidForName|Expired/i.test(text)) {
    return certificateError(
      where,
      `${
        text.replace(/^.*invalid peer certificate: /, "")
      } (check --cert-hash)`,
      { cause },
    );
  }
  if (/timed out/i.test(text)) {
    return new ConnectError("timeout", `no answer from ${where}: ${text}`, {
      cause,
    });
  }
  if (/refused|reset|unreachable/i.test(text)) {
    return new ConnectError(
      "refused",
      `${where} refused the connection: ${text}`,
      {
        cause,
      },
    );
  }
  return new ConnectError("network", `cannot connect to ${where}: ${text}`, {
    cause,
  });
}

/**
 * `host:port`, with brackets around an IPv6 address.
 *
 * @example
 * ```ts
 * import { formatHostPort } from "./transport.ts";
 * console.log(formatHostPort("::1", 4433)); // [::1]:4433
 * ```
 */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":")
    ? `[${hostname}]:${port}`
    : `${hostname}:${port}`;
}

/**
 * An address a client on this machine can connect to, for a server bound to
 * `hostname`: a wildcard (`::`, `0.0.0.0`) takes every interface but is no
 * destination, so it becomes the loopback address of its family.
 *
 * @example
 * ```ts
 * import { connectableHost } from "./transport.ts";
 * console.log(connectableHost("::")); // ::1
 * console.log(connectableHost("0.0.0.0")); // 127.0.0.1
 * console.log(connectableHost("192.0.2.7")); // 192.0.2.7
 * ```
 */
export function connectableHost(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "") return "127.0.0.1";
  if (/^[0:]+$/.test(hostname) && hostname.includes(":")) return "::1";
  return hostname;
}

/**
 * A duration for messages: `2 s`, `0.5 s`.
 *
 * @example
 * ```ts
 * import { formatSeconds } from "./transport.ts";
 * console.log(formatSeconds(1500)); // 1.5 s
 * ```
 */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}

/**
 * WebTransport over HTTP/2 (TCP), for networks that drop UDP: a listener and
 * a client connect with the same shapes as HTTP/3's in `transport.ts`, built
 * on `@fails-components/webtransport`'s pure-JS HTTP/2 implementation.
 *
 * Its HTTP/3 half needs a native addon that pingpong does not ship; the
 * library announces the failed attempt to load it on the console, which
 * {@linkcode loadLibrary} keeps from users. Loading it also installs
 * `http2_guard.ts`, without which a client's GOAWAY can crash the process.
 *
 * @module
 */
import { connect as tlsConnect } from "node:tls";
import type { CertificateBundle } from "./certificates.ts";
import { CloseCode, ErrorCode } from "./codec.ts";
import { guardHttp2Sessions } from "./http2_guard.ts";
import { logger } from "./log.ts";
import {
  BindError,
  certificateError,
  CertificateProblem,
  type ConnectedSession,
  ConnectError,
  type ConnectOptions,
  connectWebTransport,
  formatHostPort,
  type IncomingSession,
} from "./transport.ts";

const log = logger("transport-h2");

type Library = typeof import("@fails-components/webtransport");

/** Lines the library prints when its native HTTP/3 addon is missing. */
const _NATIVE_ADDON_NOISE =
  /^(Problem loading http3-quiche transport|Did you install @fails-components\/webtransport-transport-http3-quiche|http3 loader:)/;

let _library: Promise<Library> | undefined;

/**
 * Loads `@fails-components/webtransport` once, keeping its complaints about
 * the missing native HTTP/3 addon off the console.
 *
 * @example
 * ```ts ignore
 * import { loadLibrary } from "./transport_h2.ts";
 * const { Http2Server } = await loadLibrary();
 * ```
 */
export function loadLibrary(): Promise<Library> {
  guardHttp2Sessions();
  return _library ??= _quietly(async () => {
    const library = await import("@fails-components/webtransport");
    // The complaints are printed once the addon's import has failed; both of
    // the library's modules try it as they load, so wait out both chains.
    await library.quicheLoaded;
    await new Promise((resolve) => setTimeout(resolve, 0));
    return library;
  });
}

async function _quietly<T>(body: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, error: console.error };
  const filter =
    (write: (...args: unknown[]) => void) => (...args: unknown[]) => {
      if (typeof args[0] === "string" && _NATIVE_ADDON_NOISE.test(args[0])) {
        log.debug("{line}", { line: args.map(String).join(" ") });
        return;
      }
      write(...args);
    };
  console.log = filter(saved.log);
  console.error = filter(saved.error);
  try {
    return await body();
  } finally {
    console.log = saved.log;
    console.error = saved.error;
  }
}

/** The ALPN protocol of HTTP/2, which WebTransport over TCP runs on. */
export const ALPN_H2 = "h2";

/** Path under which the library hands every session to us. */
const _ALL_PATHS = "/\0pingpong-all";

/**
 * Answers plain HTTP requests (not WebTransport) arriving on the TCP port,
 * e.g. the browser page.
 */
export type HttpHandler = (request: Request) => Response | Promise<Response>;

/** Options of {@linkcode listenWebTransportH2}. */
export interface ListenH2Options {
  /**
   * Address to bind; `::` takes every interface, IPv4 included.
   *
   * @default {"::"}
   */
  hostname?: string;
  /**
   * TCP port; 0 picks a free one.
   *
   * @default {4433}
   */
  port?: number;
  /** Certificate and key the server presents. */
  certificate: CertificateBundle;
  /** Called with every session that completes its handshake. */
  onSession: (incoming: IncomingSession) => void;
  /**
   * Answers GET and HEAD requests; without it they get 404.
   *
   * @default {undefined}
   */
  httpHandler?: HttpHandler;
  /**
   * A TCP connection must have an HTTP/2 stream open (a session or a page
   * request) within this long of connecting, and again within this long of
   * its last stream closing, or it is closed. Also bounds the TLS handshake.
   *
   * @default {10000}
   */
  handshakeTimeoutMs?: number;
  /**
   * TCP connections with no stream open (in their handshakes, or idle) at
   * once; more are refused.
   *
   * @default {256}
   */
  maxPendingHandshakes?: number;
}

// The library's types are loose JS; these are the parts used here.
interface _Http2Server {
  startServer(): void;
  stopServer(): void;
  ready: Promise<void>;
  address(): { port: number; host: string } | null;
  updateCert(cert: string, key: string, http2only: boolean): void;
  setRequestCallback(
    callback: (request: { header: Record<string, string> }) => Promise<
      Record<string, unknown>
    >,
  ): void;
  sessionStream(
    path: string,
    options: { noAutoPaths: boolean },
  ): ReadableStream<_LibrarySession>;
  transportInt?: { serverInt?: _NodeServer };
}

/** The parts of `node:http2`'s secure server used here. */
interface _NodeServer extends _NodeEmitter {
  /** node:tls' TLS handshake deadline, ms (120 s unless set). */
  _handshakeTimeout?: number;
}

/** A raw TCP socket, a TLS socket or an HTTP/2 session, as far as used. */
interface _NodeSocket {
  remoteAddress?: string;
  remotePort?: number;
  alpnProtocol?: string | false;
  destroyed?: boolean;
  _parent?: _NodeSocket;
  once(event: string, listener: (...args: unknown[]) => void): void;
  on(event: string, listener: (...args: unknown[]) => void): void;
  end(data?: string): void;
  destroy(): void;
}

interface _NodeSession {
  socket?: _NodeSocket;
  destroyed: boolean;
  on(event: "stream", listener: (stream: _NodeSocket) => void): void;
  destroy(): void;
}

interface _LibrarySession extends WebTransport {
  userData?: { path?: string; authority?: string };
  peerAddress?: string;
}

interface _NodeEmitter {
  listeners(event: string): ((...args: unknown[]) => void)[];
  removeAllListeners(event: string): void;
  on(event: string, listener: (...args: never[]) => void): void;
}

/**
 * A bound TCP port accepting WebTransport sessions over HTTP/2.
 *
 * @example
 * ```ts ignore
 * import { generateCertificate } from "./certificates.ts";
 * import { listenWebTransportH2 } from "./transport_h2.ts";
 * const listener = await listenWebTransportH2({
 *   port: 0,
 *   certificate: await generateCertificate(),
 *   onSession: ({ session }) => session.close(),
 * });
 * console.log(listener.addr.port);
 * listener.close();
 * ```
 */
export class WebTransportH2Listener {
  readonly #server: _Http2Server;
  readonly #addr: Deno.NetAddr;
  readonly #options: ListenH2Options;
  #certificate: CertificateBundle;
  #accepting = true;
  #closed = false;

  /** @internal Use {@linkcode listenWebTransportH2}. */
  constructor(
    server: _Http2Server,
    addr: Deno.NetAddr,
    options: ListenH2Options,
  ) {
    this.#server = server;
    this.#addr = addr;
    this.#options = options;
    this.#certificate = options.certificate;
    server.setRequestCallback(({ header }) =>
      Promise.resolve(
        this.#accepting
          ? {
            status: 200,
            path: _ALL_PATHS,
            userData: {
              path: header[":path"],
              authority: header[":authority"] ?? header.host,
            },
          }
          : { status: 503 },
      )
    );
    this.#acceptLoop(server.sessionStream(_ALL_PATHS, { noAutoPaths: true }));
  }

  /** The bound address. */
  get addr(): Deno.NetAddr {
    return this.#addr;
  }

  /** The certificate new connections are offered. */
  get certificate(): CertificateBundle {
    return this.#certificate;
  }

  /** Offers `certificate` to new connections from now on. */
  replaceCertificate(certificate: CertificateBundle): void {
    if (this.#closed) return;
    this.#server.updateCert(certificate.certPem, certificate.keyPem, true);
    this.#certificate = certificate;
  }

  /** Refuses new sessions; open sessions stay open. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Stops listening and closes the port. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#accepting = false;
    try {
      this.#server.stopServer();
    } catch (error) {
      log.debug("stop failed: {error}", { error: String(error) });
    }
  }

  async #acceptLoop(sessions: ReadableStream<_LibrarySession>): Promise<void> {
    try {
      for await (const session of sessions) this.#ready(session);
    } catch (error) {
      if (!this.#closed) log.debug("accept loop ended: {error}", { error });
    }
  }

  async #ready(session: _LibrarySession): Promise<void> {
    const remoteAddr = _parsePeer(session.peerAddress);
    const addr = formatHostPort(remoteAddr.hostname, remoteAddr.port);
    try {
      session.closed.catch(() => {});
      await session.ready;
    } catch (error) {
      log.debug("handshake with {addr} failed: {error}", {
        addr,
        error: String(error),
      });
      return;
    }
    const { path = "/", authority } = session.userData ?? {};
    let url: URL;
    try {
      url = requestUrl(path, authority);
    } catch (error) {
      // A session nobody serves would stay open: close it, as for any path
      // the server does not serve.
      log.info("refused {addr}: bad path: {error}", {
        addr,
        error: String(error),
      });
      _closeQuietly(session, {
        closeCode: CloseCode.NOT_FOUND,
        reason: "not found: bad path",
      });
      return;
    }
    try {
      this.#options.onSession({
        session: adaptSession(session),
        url,
        remoteAddr,
      });
    } catch (error) {
      // This session's failure must not reach the process.
      log.warning("session from {addr} failed: {error}", {
        addr,
        error: String(error),
      });
      _closeQuietly(session, {
        closeCode: ErrorCode.INTERNAL,
        reason: "internal error",
      });
    }
  }
}

function _closeQuietly(session: WebTransport, info: WebTransportCloseInfo) {
  try {
    session.close(info);
  } catch (error) {
    log.debug("close failed: {error}", { error: String(error) });
  }
}

/** Host of the URL built when a CONNECT's `:authority` is no usable host. */
const _NO_AUTHORITY = "https://localhost";

/**
 * The URL a CONNECT asked for, from its `:path` and `:authority`. What
 * counts is the path and query; the authority may be anything a client sends,
 * and `node:http2` clients send an IPv6 address without brackets
 * (`::1:4433`), so one that makes no valid host gives way to `localhost`.
 *
 * @throws {TypeError} when `path` makes no URL at all.
 * @example
 * ```ts
 * import { requestUrl } from "./transport_h2.ts";
 * console.log(requestUrl("/pingpong?token=t", "::1:4433").href);
 * // https://[::1]:4433/pingpong?token=t
 * ```
 */
export function requestUrl(path: string, authority: string | undefined): URL {
  return new URL(path, _authorityBase(authority));
}

function _authorityBase(authority: string | undefined): string {
  if (!authority) return _NO_AUTHORITY;
  for (
    const candidate of [
      `https://${authority}`,
      // A bare IPv6 address and port: bracket the address.
      `https://${
        authority.replace(/^([0-9a-f:.]*:[0-9a-f:.]*):(\d+)$/i, "[$1]:$2")
      }`,
    ]
  ) {
    try {
      const base = new URL(candidate);
      if (base.pathname === "/" && !base.search && !base.username) {
        return base.origin;
      }
    } catch {
      // Not a host; try the next reading.
    }
  }
  return _NO_AUTHORITY;
}

/**
 * Makes a library session behave like the built-in one where pingpong
 * relies on it: `datagrams.writable` without a deprecation warning, and a
 * cancelled incoming stream (datagrams, streams) that stays quiet when the
 * session closes or more arrives, instead of throwing from an event handler
 * and ending the process.
 *
 * @internal Exported for tests.
 * @example
 * ```ts ignore
 * import { adaptSession } from "./transport_h2.ts";
 * // `session` from @fails-components/webtransport's HTTP/2 server or client:
 * declare const session: WebTransport;
 * const adapted = adaptSession(session);
 * adapted.datagrams.writable; // no deprecation warning
 * ```
 */
export function adaptSession(session: WebTransport): WebTransport {
  const inner = ((session as unknown as { sessionint?: object }).sessionint ??
    session) as Record<string, unknown>;
  for (
    const name of [
      "incomDatagramController_",
      "incomDatagramControllerBytes_",
      "incomBiDiController",
      "incomUniDiController",
    ]
  ) {
    const controller = inner[name] as
      | ReadableStreamDefaultController<unknown>
      | undefined;
    if (controller) _tolerateCancel(controller);
  }
  const parser = (inner.objint as { capsParser?: _Parser } | undefined)
    ?.capsParser;
  if (parser?.wtstreams) {
    const streams = parser.wtstreams;
    const set = streams.set.bind(streams);
    streams.set = (id, stream) => {
      _countFinAsClosed(Object.getPrototypeOf(stream));
      return set(id, stream);
    };
  }
  const datagrams = session.datagrams as unknown as {
    createWritable?: () => WritableStream<Uint8Array>;
    datagramwritablepolyfilled_?: WritableStream<Uint8Array>;
  };
  if (datagrams.createWritable && !datagrams.datagramwritablepolyfilled_) {
    datagrams.datagramwritablepolyfilled_ = datagrams.createWritable();
  }
  return session;
}

interface _Parser {
  wtstreams?: Map<bigint, object>;
}

interface _LibraryStream {
  final?: boolean;
  outgochunks?: unknown[];
  outgoingClosed_?: boolean;
  closeOutgoing(): void;
  drainWrites(...args: unknown[]): unknown;
}

const _PATCHED = Symbol("pingpong.finCountsAsClosed");

/**
 * The library frees a stream's credit (MAX_STREAMS) only once its sending
 * side was reset or stopped by the peer, never after a clean FIN, so a
 * session that ends streams politely runs out of streams after 100. A FIN
 * that has left ends the sending side as much as a reset does.
 */
function _countFinAsClosed(prototype: _LibraryStream): void {
  const patched = prototype as _LibraryStream & { [_PATCHED]?: true };
  if (patched[_PATCHED] || typeof prototype.drainWrites !== "function") return;
  patched[_PATCHED] = true;
  const drainWrites = prototype.drainWrites;
  prototype.drainWrites = function (this: _LibraryStream, ...args) {
    const result = drainWrites.apply(this, args);
    if (
      this.final && this.outgochunks?.length === 0 && !this.outgoingClosed_
    ) {
      this.closeOutgoing();
    }
    return result;
  };
}

function _tolerateCancel(
  controller: ReadableStreamDefaultController<unknown>,
): void {
  const close = controller.close.bind(controller);
  const enqueue = controller.enqueue.bind(controller);
  controller.close = () => {
    try {
      close();
    } catch {
      // Cancelled by our side already: nothing left to close.
    }
  };
  controller.enqueue = (chunk) => {
    try {
      enqueue(chunk);
    } catch {
      // Cancelled by our side: nobody reads it any more.
    }
  };
}

function _parsePeer(text: string | undefined): Deno.NetAddr {
  const match = /^\[?(.*?)\]?:(\d+)$/.exec(text ?? "");
  return {
    transport: "tcp",
    hostname: match?.[1].replace(/^::ffff:/, "") ?? "?",
    port: Number(match?.[2] ?? 0),
  };
}

/**
 * Routes GET/HEAD streams to `handler`; the library answers everything else
 * (its own handler refuses non-CONNECT requests with 406).
 */
function _serveHttp(server: _Http2Server, handler: HttpHandler | undefined) {
  const emitter = server.transportInt?.serverInt;
  if (!emitter) return;
  const theirs = emitter.listeners("stream");
  emitter.removeAllListeners("stream");
  emitter.on("stream", (...args: never[]) => {
    const [stream, headers] = args as unknown as [
      _NodeHttp2Stream,
      Record<string, string>,
    ];
    const method = headers[":method"];
    if (method !== "GET" && method !== "HEAD") {
      for (const listener of theirs) listener.apply(emitter, args);
      return;
    }
    _answer(_respondH2(stream), headers, handler).catch((error) => {
      log.debug("http request failed: {error}", { error: String(error) });
      try {
        stream.close();
      } catch {
        // Already gone.
      }
    });
  });
  // No "request" listener for HTTP/1.1: adding one makes node:http2's
  // compatibility layer answer CONNECT streams itself (405), which breaks
  // WebTransport. Browsers fetch the page over HTTP/2 anyway; HTTP/1.1 gets
  // a 505 from _guardConnections.
}

/** What an HTTP/1.1 request on the TCP port is told. */
const _HTTP1_ANSWER = (() => {
  const body =
    "This port speaks HTTP/2 (and WebTransport over HTTP/2 and HTTP/3), not HTTP/1.1.\n" +
    "Use an HTTP/2 client, e.g. curl --http2, or a browser, for the page at /.\n";
  return "HTTP/1.1 505 HTTP Version Not Supported\r\n" +
    "Content-Type: text/plain; charset=utf-8\r\n" +
    `Content-Length: ${new TextEncoder().encode(body).length}\r\n` +
    "Connection: close\r\n\r\n" + body;
})();

/**
 * Bounds what a TCP connection may cost before it does anything useful:
 * - HTTP/1.1 (the library lets it through, and nothing would ever answer)
 *   gets a 505 saying what to use, and the connection is closed;
 * - the TLS handshake, and then the time until an HTTP/2 stream opens (and
 *   again after the last one closes), are limited to `handshakeTimeoutMs`,
 *   as the QUIC handshake is over HTTP/3;
 * - at most `maxPendingHandshakes` connections without an open stream may
 *   exist at once; more are closed on arrival.
 */
function _guardConnections(server: _Http2Server, options: ListenH2Options) {
  const emitter = server.transportInt?.serverInt;
  if (!emitter) return;
  const timeoutMs = options.handshakeTimeoutMs ?? 10_000;
  const cap = options.maxPendingHandshakes ?? 256;
  emitter._handshakeTimeout = timeoutMs;

  const theirs = emitter.listeners("secureConnection");
  emitter.removeAllListeners("secureConnection");
  emitter.on("secureConnection", (...args: never[]) => {
    const [socket] = args as unknown as [_NodeSocket];
    if (socket.alpnProtocol === ALPN_H2) {
      for (const listener of theirs) listener.apply(emitter, args);
      return;
    }
    socket.on("error", () => {});
    socket.once("data", () => socket.end(_HTTP1_ANSWER));
  });

  // Raw TCP connection -> timer of the connection while it has no stream.
  const waiting = new Map<_NodeSocket, ReturnType<typeof setTimeout>>();
  const sessions = new Map<_NodeSocket, _NodeSession>();
  const settle = (raw: _NodeSocket) => {
    clearTimeout(waiting.get(raw));
    waiting.delete(raw);
  };
  const wait = (raw: _NodeSocket, what: string) => {
    settle(raw);
    waiting.set(
      raw,
      setTimeout(() => {
        waiting.delete(raw);
        log.warning(
          "closed TCP connection from {addr}: {what} within {ms} ms",
          {
            addr: formatHostPort(raw.remoteAddress ?? "?", raw.remotePort ?? 0),
            what,
            ms: timeoutMs,
          },
        );
        const session = sessions.get(raw);
        if (session && !session.destroyed) session.destroy();
        else raw.destroy();
      }, timeoutMs),
    );
  };
  emitter.on("connection", (...args: never[]) => {
    const [raw] = args as unknown as [_NodeSocket];
    if (waiting.size >= cap) {
      log.warning(
        "refused a TCP connection: {count} connections without a stream",
        { count: waiting.size },
      );
      raw.destroy();
      return;
    }
    wait(raw, "no HTTP/2 stream");
    raw.once("close", () => {
      settle(raw);
      sessions.delete(raw);
    });
  });
  emitter.on("session", (...args: never[]) => {
    const [session] = args as unknown as [_NodeSession];
    const raw = session.socket?._parent ?? session.socket;
    if (!raw) return;
    sessions.set(raw, session);
    let open = 0;
    session.on("stream", (stream) => {
      if (open++ === 0) settle(raw);
      stream.once("close", () => {
        if (--open === 0 && !session.destroyed && !raw.destroyed) {
          wait(raw, "no new HTTP/2 stream");
        }
      });
    });
  });
}

interface _Responder {
  send(status: number, headers: Record<string, string>, body: Uint8Array): void;
}

function _respondH2(stream: _NodeHttp2Stream): _Responder {
  stream.on("error", () => {});
  return {
    send: (status, headers, body) => {
      stream.respond({ ":status": status, ...headers });
      stream.end(body);
    },
  };
}

interface _NodeHttp2Stream {
  respond(headers: Record<string, string | number>): void;
  end(data?: Uint8Array): void;
  close(): void;
  on(event: string, listener: () => void): void;
}

async function _answer(
  responder: _Responder,
  headers: Record<string, string | undefined>,
  handler: HttpHandler | undefined,
): Promise<void> {
  const url = new URL(
    headers[":path"] ?? "/",
    `https://${headers[":authority"] ?? "localhost"}`,
  );
  const request = new Request(url, { method: headers[":method"] });
  const response = handler
    ? await handler(request)
    : new Response("not found\n", { status: 404 });
  const head: Record<string, string> = {};
  response.headers.forEach((value, name) => head[name] = value);
  const body = request.method === "HEAD"
    ? new Uint8Array()
    : new Uint8Array(await response.arrayBuffer());
  responder.send(response.status, head, body);
}

/**
 * Binds a TCP port and accepts WebTransport sessions over HTTP/2 on it; GET
 * requests go to `options.httpHandler`.
 *
 * @throws {BindError} when the address is in use or cannot be bound.
 * @example
 * ```ts ignore
 * import { generateCertificate } from "./certificates.ts";
 * import { listenWebTransportH2 } from "./transport_h2.ts";
 * const listener = await listenWebTransportH2({
 *   hostname: "127.0.0.1",
 *   port: 0,
 *   certificate: await generateCertificate(),
 *   onSession: ({ session, url }) => console.log(url.pathname),
 * });
 * listener.close();
 * ```
 */
export async function listenWebTransportH2(
  options: ListenH2Options,
): Promise<WebTransportH2Listener> {
  const hostname = options.hostname ?? "::";
  const port = options.port ?? 4433;
  const { Http2Server } = await loadLibrary();
  const server = new Http2Server({
    host: hostname,
    port,
    // Required by the library's constructor, unused by its HTTP/2 half.
    secret: crypto.randomUUID(),
    cert: options.certificate.certPem,
    privKey: options.certificate.keyPem,
  } as never) as unknown as _Http2Server;
  server.startServer();
  try {
    await server.ready;
  } catch (cause) {
    const code = (cause as { code?: string }).code;
    const reason = code === "EADDRINUSE"
      ? "address already in use"
      : (cause as Error).message;
    throw new BindError(
      `cannot listen on TCP ${formatHostPort(hostname, port)}: ${reason}`,
      { cause },
    );
  }
  _serveHttp(server, options.httpHandler);
  _guardConnections(server, options);
  const bound = server.address();
  return new WebTransportH2Listener(server, {
    transport: "tcp",
    hostname,
    port: bound?.port ?? port,
  }, options);
}

/**
 * Opens a WebTransport session over HTTP/2 and waits until it is ready. A
 * pinned `certHash` is checked against the TLS certificate, as over HTTP/3.
 *
 * @throws {ConnectError} with `kind` naming the cause.
 * @example
 * ```ts ignore
 * import { parseCertHash } from "./certificates.ts";
 * import { connectWebTransportH2 } from "./transport_h2.ts";
 * const { session } = await connectWebTransportH2(
 *   "https://127.0.0.1:4433/pingpong",
 *   { certHash: parseCertHash("ab".repeat(32)), timeoutMs: 2000 },
 * );
 * session.close();
 * ```
 */
export async function connectWebTransportH2(
  url: string,
  options: ConnectOptions = {},
): Promise<ConnectedSession> {
  const { WebTransport: LibraryWebTransport } = await loadLibrary();
  let refusal: { errorcode?: unknown; error?: unknown } | undefined;
  let pinFailure: ConnectError | undefined;
  try {
    const connected = await connectWebTransport(url, {
      ...options,
      timeoutHint: "is the server running and TCP reachable?",
      createSession: (target, init) => {
        const session = new LibraryWebTransport(target, {
          ...init,
          // Skip the library's HTTP/3 attempt: that is transport.ts's job.
          forceReliable: true,
        } as never) as unknown as WebTransport;
        _onEarlyClose(session, (info) => refusal = info);
        if (options.certHash) {
          _enforcePin(
            session,
            new URL(target).host,
            options.certHash,
            (failure) => pinFailure = failure,
          );
        }
        return session;
      },
    });
    adaptSession(connected.session);
    return connected;
  } catch (error) {
    if (pinFailure) throw pinFailure;
    if (!(error instanceof ConnectError) || error.kind !== "network") {
      throw error;
    }
    if (refusal && typeof refusal.errorcode === "number") {
      throw _refused(new URL(url), refusal.errorcode, refusal.error, error);
    }
    throw await _diagnose(new URL(url), options.certHash, error);
  }
}

interface _TlsSocket {
  authorized: boolean;
  getPeerCertificate(): {
    fingerprint256?: string;
    valid_from?: string;
    valid_to?: string;
  } | undefined;
  prependOnceListener(event: "secureConnect", listener: () => void): void;
}

interface _Http2ClientSession {
  socket?: _TlsSocket;
}

/** The library's `node:http2` session under a client WebTransport. */
function _http2Client(
  session: WebTransport,
): _Http2ClientSession | undefined {
  return (session as unknown as {
    sessionint?: {
      parentobj?: { transportInt?: { clientInt?: _Http2ClientSession } };
    };
  }).sessionint?.parentobj?.transportInt?.clientInt;
}

/**
 * Checks the server certificate against the pinned `certHash` as soon as TLS
 * is up, before any HTTP/2 frame (and so before the CONNECT with its URL and
 * `?token=`) is sent.
 *
 * The library checks the pin only when the chain is not trusted
 * (`socket.authorized` false), so a certificate from a CA the system trusts
 * passed with any pin; and its check refuses certificates valid over 14
 * days, which Deno's HTTP/3 accepts. This listener runs first and sets
 * `authorized` from the pin alone, as `serverCertificateHashes` does over
 * HTTP/3: true when the hash matches and the certificate is valid now (the
 * library then skips its check), false otherwise (the library's check then
 * fails the connection before the CONNECT).
 */
function _enforcePin(
  session: WebTransport,
  where: string,
  certHash: Uint8Array,
  fail: (failure: ConnectError) => void,
): void {
  const reject = (problem: string) => fail(certificateError(where, problem));
  const socket = _http2Client(session)?.socket;
  if (!socket) {
    // Fail closed: a pin nobody checks is worse than no connection.
    reject("cannot check the pinned hash over HTTP/2 (unexpected library)");
    _closeQuietly(session, { closeCode: 0, reason: "pin not checked" });
    return;
  }
  socket.prependOnceListener("secureConnect", () => {
    const cert = socket.getPeerCertificate();
    const hash = (cert?.fingerprint256 ?? "").replaceAll(":", "")
      .toLowerCase();
    const now = Date.now();
    if (hash !== _hex(certHash)) {
      reject(CertificateProblem.MISMATCH);
      socket.authorized = false;
    } else if (
      !(Date.parse(cert?.valid_from ?? "") <= now &&
        now <= Date.parse(cert?.valid_to ?? ""))
    ) {
      reject(
        `not valid now (valid from ${cert?.valid_from} to ${cert?.valid_to})`,
      );
      socket.authorized = false;
    } else {
      socket.authorized = true;
    }
  });
}

/**
 * A server that closes a session at once (as pingpong does for an unknown
 * path) makes the library fail the handshake and drop the close code; keep
 * it so the user learns why, as over HTTP/3.
 */
function _onEarlyClose(
  session: WebTransport,
  record: (info: { errorcode?: unknown; error?: unknown }) => void,
): void {
  const inner = (session as unknown as {
    sessionint?: { onClose?: (args: Record<string, unknown>) => void };
  }).sessionint;
  const onClose = inner?.onClose;
  if (!inner || typeof onClose !== "function") return;
  inner.onClose = function (this: unknown, args) {
    record(args ?? {});
    return onClose.call(this, args);
  };
}

function _refused(
  url: URL,
  code: number,
  reason: unknown,
  cause: ConnectError,
): ConnectError {
  // The library may put its own stream error here instead of the reason.
  const text = typeof reason === "string" && !/ERR_|^Error/.test(reason)
    ? reason
    : "";
  // Kind "closed" with the code, as over HTTP/3: a refusal (path, token,
  // busy) is not retried as a network failure would be.
  return new ConnectError(
    "closed",
    code === CloseCode.NOT_FOUND
      ? `server refused path ${url.pathname}: ${text || "not found"}`
      : `server closed the session with code ${code}${text ? `: ${text}` : ""}`,
    { cause, closeCode: code, reason: text },
  );
}

/**
 * The library says only "Opening handshake failed."; find out why, so the
 * user reads the same causes as over HTTP/3.
 */
async function _diagnose(
  url: URL,
  certHash: Uint8Array | undefined,
  original: ConnectError,
): Promise<ConnectError> {
  const hostname = url.hostname.replace(/^\[|\]$/g, "");
  const port = Number(url.port || 443);
  const where = url.host;
  const seen = await new Promise<{ hash: string; trusted: boolean } | Error>(
    (resolve) => {
      const socket = tlsConnect({
        host: hostname,
        port,
        servername: /^[\d.:]+$/.test(hostname) ? undefined : hostname,
        rejectUnauthorized: false,
        ALPNProtocols: [ALPN_H2],
      });
      const timer = setTimeout(() => {
        socket.destroy();
        resolve(new Error("timed out"));
      }, 2000);
      socket.once("secureConnect", () => {
        clearTimeout(timer);
        const fingerprint = socket.getPeerCertificate()?.fingerprint256 ?? "";
        const trusted = socket.authorized;
        socket.destroy();
        resolve({
          hash: fingerprint.replaceAll(":", "").toLowerCase(),
          trusted,
        });
      });
      socket.once("error", (error: Error) => {
        clearTimeout(timer);
        resolve(error);
      });
    },
  );
  if (seen instanceof Error) {
    return /refused/i.test(seen.message)
      ? new ConnectError(
        "refused",
        `${where} refused the connection: ${seen.message}`,
        { cause: original },
      )
      : original;
  }
  if (certHash ? seen.hash !== _hex(certHash) : !seen.trusted) {
    return certificateError(
      where,
      certHash ? CertificateProblem.MISMATCH : CertificateProblem.UNTRUSTED,
      { cause: original },
    );
  }
  return original;
}

function _hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}

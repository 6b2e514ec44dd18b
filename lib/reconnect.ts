/**
 * The client's sessions over a whole run: connect, ping, notice a dead path
 * or a lost session, reconnect with the retry policy, and go on pinging with
 * continuing sequence numbers and one set of statistics.
 *
 * @module
 */
import { CloseCode } from "./codec.ts";
import { logger } from "./log.ts";
import {
  isRefusal,
  type PingEvents,
  type PingOptions,
  runPings,
  SessionClosedError,
} from "./pinger.ts";
import {
  CircuitBreaker,
  retry,
  RetryExhaustedError,
  type RetryOptions,
} from "./retry.ts";
import { RttStats } from "./stats.ts";
import {
  type ConnectedSession,
  ConnectError,
  formatSeconds,
} from "./transport.ts";
import {
  connectTransport,
  type ConnectTransportOptions,
  type Transport,
  type TransportChoice,
  type TransportSession,
} from "./transport_select.ts";

const log = logger("reconnect");

/** Defaults of {@linkcode ReconnectPolicy}, and why in docs/recovery.md. */
export const RECONNECT_DEFAULTS = {
  maxRetries: 10,
  baseDelayMs: 250,
  maxDelayMs: 5000,
  maxElapsedMs: 60_000,
  deadAfterMs: 3000,
  breakerThreshold: 5,
} as const;

/** When and how the client reconnects. */
export interface ReconnectPolicy {
  /**
   * Whether to reconnect at all; without, a lost session ends the run.
   *
   * @default {true}
   */
  enabled?: boolean;
  /**
   * Reconnect attempts per outage.
   *
   * @default {10}
   */
  maxRetries?: number;
  /**
   * Ceiling of the first backoff delay, ms.
   *
   * @default {250}
   */
  baseDelayMs?: number;
  /**
   * Cap on one backoff delay, ms; also the circuit breaker's cool-down.
   *
   * @default {5000}
   */
  maxDelayMs?: number;
  /**
   * No new attempt starts this long after the outage was noticed, ms.
   *
   * @default {60000}
   */
  maxElapsedMs?: number;
  /**
   * With pings outstanding, nothing from the server for this long since its
   * last sign of life means the path is dead, ms.
   *
   * @default {3000}
   */
  deadAfterMs?: number;
  /**
   * Consecutive failed attempts (across outages) that open the breaker.
   *
   * @default {5}
   */
  breakerThreshold?: number;
}

/**
 * Notices a dead path: something was sent since the server's last sign of
 * life (a pong, a probe's reply), and that sign of life is `deadAfterMs`
 * old. Counting from the last sign of life rather than from the first
 * unanswered ping bounds detection by `deadAfterMs` after the failure,
 * whatever the interval, provided something is sent in between (see
 * {@linkcode keepAliveFor}). Pure; the caller passes the time.
 *
 * @example
 * ```ts
 * import { DeadPathDetector } from "./reconnect.ts";
 * const detector = new DeadPathDetector(3000, 0); // session ready at 0
 * detector.alive(500); // a pong
 * detector.sent(2500); // a ping, never answered
 * console.log(detector.isDead(3499), detector.isDead(3500)); // false true
 * detector.alive(3600);
 * console.log(detector.isDead(9999)); // false: nothing sent since
 * ```
 */
export class DeadPathDetector {
  readonly #deadAfterMs: number;
  #aliveAt: number;
  #sentAt = -Infinity;

  /**
   * @param deadAfterMs Silence, with something sent, that means dead.
   * @param readyAt When the session became ready: its first sign of life.
   */
  constructor(deadAfterMs: number, readyAt: number) {
    this.#deadAfterMs = deadAfterMs;
    this.#aliveAt = readyAt;
  }

  /** A ping or probe went out at `at`. */
  sent(at: number): void {
    this.#sentAt = Math.max(this.#sentAt, at);
  }

  /** Something came from the server at `at`: the path was alive then. */
  alive(at: number): void {
    this.#aliveAt = Math.max(this.#aliveAt, at);
  }

  /** Whether the path counts as dead at `at`. */
  isDead(at: number): boolean {
    return this.#sentAt >= this.#aliveAt &&
      at - this.#aliveAt >= this.#deadAfterMs;
  }
}

/**
 * The keep-alive period for pings `intervalMs` apart: with pings at least a
 * third of `deadAfterMs` apart, a probe after that much quiet, so that the
 * server shows a sign of life often enough for a {@linkcode DeadPathDetector}
 * to tell a dead path within `deadAfterMs` and a live one with round trips up
 * to ~2/3 of it never to look dead. Closer pings are probes enough:
 * `Infinity`.
 *
 * @example
 * ```ts
 * import { keepAliveFor } from "./reconnect.ts";
 * console.log(keepAliveFor(1000, 3000), keepAliveFor(2500, 3000)); // Infinity 1000
 * ```
 */
export function keepAliveFor(intervalMs: number, deadAfterMs: number): number {
  const period = deadAfterMs / 3;
  return intervalMs > period ? period : Infinity;
}

/** What the client reports once a lost session is replaced. */
export interface ReconnectInfo {
  /** From noticing the loss to the new session being ready, ms. */
  downMs: number;
  /** Connection attempts it took. */
  attempts: number;
  /** Ping slots that fell in the outage; they count as sent and lost. */
  missed: number;
  /** Why the old session was given up. */
  reason: string;
  /** `host:port` of the server the new session is with. */
  server: string;
}

/**
 * Thrown when every reconnect attempt of an outage failed.
 *
 * @example
 * ```ts
 * import { ReconnectFailedError } from "./reconnect.ts";
 * const error = new ReconnectFailedError(
 *   "lost 127.0.0.1:4433 (no pong for 3 s); gave up after 10 attempts in 45.9 s",
 * );
 * console.log(error.name); // "ReconnectFailedError"
 * ```
 */
export class ReconnectFailedError extends Error {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options; `cause` is the last failure.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ReconnectFailedError";
  }
}

/** Options of {@linkcode pingWithReconnect}. */
export interface ReconnectOptions extends
  PingEvents,
  Pick<
    PingOptions,
    "mode" | "count" | "intervalMs" | "size" | "timeoutMs" | "echo"
  > {
  /** Server URL. */
  url: string;
  /**
   * Pinned certificate hash.
   *
   * @default {undefined}
   */
  certHash?: Uint8Array<ArrayBuffer>;
  /**
   * Other replicas of the same service (from `--server` or DNS SRV): after a
   * loss, attempts go round them, starting with the next one, so a client
   * leaves a dead replica at once.
   *
   * @default {[]}
   */
  servers?: readonly { url: string; certHash?: Uint8Array<ArrayBuffer> }[];
  /**
   * Retry the first connection too, going round `url` and `servers` with the
   * policy as after a loss: for servers found by discovery, where one that
   * is down (or all of them restarting) is expected, not a typo. Without it a
   * first connection that fails ends the run at once.
   *
   * @default {false}
   */
  retryFirst?: boolean;
  /**
   * Deadline of one connection attempt, ms.
   *
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * Which transport carries each session; `auto` races HTTP/3 and HTTP/2.
   *
   * @default {"auto"}
   */
  transport?: TransportChoice;
  /**
   * The retry and dead-path policy.
   *
   * @default {RECONNECT_DEFAULTS}
   */
  policy?: ReconnectPolicy;
  /**
   * Ends the run (Ctrl-C), also while reconnecting.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * The first session is ready.
   *
   * @default {undefined}
   */
  onConnected?(handshakeMs: number, transport: Transport, url: string): void;
  /**
   * A session was lost; reconnecting starts.
   *
   * @default {undefined}
   */
  onDisconnect?(reason: string): void;
  /**
   * A new session replaced the lost one.
   *
   * @default {undefined}
   */
  onReconnect?(info: ReconnectInfo): void;
  /**
   * Numbers in `[0, 1)` for the backoff jitter.
   *
   * @default {Math.random}
   */
  random?: () => number;
  /**
   * Waits between reconnect attempts (a test passes one that records).
   *
   * @default {abortableSleep}
   */
  sleep?: RetryOptions["sleep"];
  /**
   * Opens one session (a test passes one that fails on cue).
   *
   * @default {connectTransport}
   */
  connect?: (
    url: string,
    options: ConnectTransportOptions,
  ) => Promise<TransportSession>;
}

/** What a run ends with. */
export interface ReconnectResult {
  /** Counts and round trips over every session. */
  stats: RttStats;
  /** Handshake time of the first session, ms. */
  handshakeMs: number;
  /** Outages recovered from. */
  reconnects: number;
  /**
   * Why the run ended before its count once the first session was up: a
   * session lost with reconnecting off, a refusal (path, token,
   * certificate), or an outage that outlasted the retry policy
   * ({@linkcode ReconnectFailedError}). `undefined` when the run finished or
   * was interrupted. Either way `stats` holds the run so far.
   */
  failure?: Error;
}

type SessionOutcome =
  | { kind: "done" }
  | {
    kind: "lost";
    reason: string;
    goingAway: boolean;
    lastSentAt: number;
    error?: unknown;
  };

/**
 * Pings `options.url` until `count` pings are done or `signal` aborts,
 * reconnecting whenever a session is lost.
 *
 * The first connection is not retried unless `retryFirst` asks: a server
 * that is not there at start is a usage problem, reported at once. Once a
 * session is up, a failure ends the run with the statistics so far, in
 * {@linkcode ReconnectResult.failure}.
 *
 * @throws {ConnectError} when the first connection fails.
 * @throws {ReconnectFailedError} when, with `retryFirst`, the first
 * connection outlasts the retry policy.
 * @throws {RangeError} when the size does not fit the path's datagrams.
 * @example
 * ```ts ignore
 * import { pingWithReconnect } from "./reconnect.ts";
 * const { stats } = await pingWithReconnect({
 *   url: "https://127.0.0.1:4433/pingpong",
 *   count: 10,
 *   onReconnect: (info) => console.log(`back after ${info.downMs} ms`),
 * });
 * console.log(stats.summary().loss);
 * ```
 */
export async function pingWithReconnect(
  options: ReconnectOptions,
): Promise<ReconnectResult> {
  const policy = { ...RECONNECT_DEFAULTS, enabled: true, ...options.policy };
  const count = options.count ?? Infinity;
  const intervalMs = options.intervalMs ?? 1000;
  const signal = options.signal;
  const stats = new RttStats();
  const servers = [
    { url: options.url, certHash: options.certHash },
    ...(options.servers ?? []),
  ];
  let current = 0;
  const connectTo = options.connect ?? connectTransport;
  const connect = () =>
    connectTo(servers[current].url, {
      transport: options.transport,
      certHash: servers[current].certHash,
      timeoutMs: options.connectTimeoutMs,
      signal,
    });
  const breaker = new CircuitBreaker({
    failureThreshold: policy.breakerThreshold,
    coolDownMs: policy.maxDelayMs,
  });

  const first = options.retryFirst
    ? await _connectFirst(servers, (index) => {
      current = index;
      return connect();
    }, {
      policy,
      breaker,
      signal,
      random: options.random,
      sleep: options.sleep,
    })
    : await connect();
  options.onConnected?.(
    first.handshakeMs,
    first.transport,
    servers[current].url,
  );
  let session: WebTransport | undefined = first.session;
  let reconnects = 0;
  const result = (failure?: Error): ReconnectResult => ({
    stats,
    handshakeMs: first.handshakeMs,
    reconnects,
    failure,
  });
  while (session) {
    let outcome: SessionOutcome;
    try {
      outcome = await _runSession(session, stats, options, policy, count);
    } catch (error) {
      await closeSession(session);
      if (error instanceof RangeError) throw error;
      return result(error instanceof Error ? error : new Error(String(error)));
    }
    await closeSession(session);
    session = undefined;
    if (outcome.kind === "done" || signal?.aborted) break;
    if (!policy.enabled) return result(outcome.error as Error);
    options.onDisconnect?.(outcome.reason);
    const lostAt = performance.now();
    let attempts = 0;
    let next: ConnectedSession;
    try {
      next = await retry(() => {
        attempts++;
        current = (current + 1) % servers.length;
        return connect();
      }, {
        maxAttempts: Math.max(1, policy.maxRetries),
        maxElapsedMs: policy.maxElapsedMs,
        baseDelayMs: policy.baseDelayMs,
        maxDelayMs: policy.maxDelayMs,
        immediateFirstRetry: outcome.goingAway,
        retryable: _mayHeal,
        onRetry: ({ attempt, delayMs, error }) =>
          log.info(
            "reconnect attempt {attempt} failed ({error}); next in {delay}",
            {
              attempt,
              error: (error as Error).message,
              delay: formatSeconds(delayMs),
            },
          ),
        breaker,
        signal,
        random: options.random,
        sleep: options.sleep,
      });
    } catch (error) {
      if (signal?.aborted) break;
      if (error instanceof RetryExhaustedError) {
        return result(
          new ReconnectFailedError(
            `lost ${
              new URL(servers[current].url).host
            } (${outcome.reason}); ${error.message}`,
            { cause: error },
          ),
        );
      }
      return result(error instanceof Error ? error : new Error(String(error)));
    }
    session = next.session;
    reconnects++;
    const back = performance.now();
    const missed = missedSlots(
      outcome.lastSentAt,
      back,
      intervalMs,
      count - stats.transmitted,
    );
    for (let i = 0; i < missed; i++) stats.sent();
    options.onReconnect?.({
      downMs: back - lostAt,
      attempts,
      missed,
      reason: outcome.reason,
      server: new URL(servers[current].url).host,
    });
    if (stats.transmitted >= count) {
      await closeSession(session);
      break;
    }
  }
  return result();
}

/**
 * The first connection with `retryFirst`: `servers` in turn from the first,
 * with the backoff of a reconnect between attempts, and every server tried
 * at least once even if `maxRetries` is smaller.
 */
async function _connectFirst(
  servers: readonly { url: string }[],
  connectTo: (index: number) => Promise<TransportSession>,
  options: {
    policy: Required<ReconnectPolicy>;
    breaker: CircuitBreaker;
    signal: AbortSignal | undefined;
    random: (() => number) | undefined;
    sleep: RetryOptions["sleep"];
  },
): Promise<TransportSession> {
  const { policy, signal } = options;
  const host = (n: number) =>
    new URL(servers[(n - 1) % servers.length].url).host;
  try {
    return await retry((n) => connectTo((n - 1) % servers.length), {
      maxAttempts: policy.enabled
        ? Math.max(servers.length, policy.maxRetries)
        : servers.length,
      maxElapsedMs: policy.maxElapsedMs,
      baseDelayMs: policy.baseDelayMs,
      maxDelayMs: policy.maxDelayMs,
      retryable: _mayHeal,
      onRetry: ({ attempt, delayMs, error }) => {
        const values = {
          server: host(attempt),
          error: (error as Error).message,
          delay: formatSeconds(delayMs),
        };
        if (servers.length > 1) {
          log.warn(
            "{server}: {error}; trying the next server in {delay}",
            values,
          );
        } else log.warn("{server}: {error}; trying again in {delay}", values);
      },
      breaker: options.breaker,
      signal,
      random: options.random,
      sleep: options.sleep,
    });
  } catch (error) {
    if (signal?.aborted && !(error instanceof ConnectError)) {
      // Ctrl-C during a backoff: the same error as during an attempt.
      throw new ConnectError("aborted", "connection attempt cancelled", {
        cause: error,
      });
    }
    if (error instanceof RetryExhaustedError) {
      throw new ReconnectFailedError(
        `no server answered (${
          servers.map((server) => new URL(server.url).host).join(", ")
        }); ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** A refused certificate, path or token will not heal by retrying. */
function _mayHeal(error: unknown): boolean {
  return !(error instanceof ConnectError) ||
    (error.kind !== "certificate" && error.kind !== "aborted" &&
      error.kind !== "closed");
}

/**
 * Ping slots that fell in an outage: like ping(8), which goes on sending
 * during an outage, every interval after the last ping sent (at `lastSentAt`)
 * and before the new session (at `back`) is a ping lost. At most `left`;
 * none when pings go back to back (`intervalMs` 0).
 *
 * @example
 * ```ts
 * import { missedSlots } from "./reconnect.ts";
 * console.log(missedSlots(1000, 6050, 100, Infinity)); // 50
 * ```
 */
export function missedSlots(
  lastSentAt: number,
  back: number,
  intervalMs: number,
  left: number,
): number {
  if (intervalMs <= 0) return 0;
  const slots = Math.ceil((back - lastSentAt) / intervalMs) - 1;
  return Math.max(0, Math.min(left, slots));
}

/** Runs pings over one session until the run ends or the session is lost. */
async function _runSession(
  session: WebTransport,
  stats: RttStats,
  options: ReconnectOptions,
  policy: Required<ReconnectPolicy>,
  count: number,
): Promise<SessionOutcome> {
  const giveUp = new AbortController();
  const detector = new DeadPathDetector(
    policy.deadAfterMs,
    performance.now(),
  );
  let lastSentAt = performance.now();
  // Without reconnecting there is nothing to gain from calling a path dead:
  // like ping(8), the run just counts the losses.
  const watch = policy.enabled
    ? setInterval(() => {
      if (detector.isDead(performance.now())) giveUp.abort();
    }, Math.max(10, Math.min(100, policy.deadAfterMs / 30)))
    : undefined;
  try {
    await runPings(session, {
      mode: options.mode,
      count: count - stats.transmitted,
      firstSeq: stats.transmitted + 1,
      intervalMs: options.intervalMs,
      size: options.size,
      timeoutMs: options.timeoutMs,
      echo: options.echo,
      signal: options.signal,
      abandon: giveUp.signal,
      keepAliveMs: policy.enabled
        ? keepAliveFor(options.intervalMs ?? 1000, policy.deadAfterMs)
        : Infinity,
      stats,
      onSend: (seq) => {
        lastSentAt = performance.now();
        detector.sent(lastSentAt);
        options.onSend?.(seq);
      },
      onProbe: () => detector.sent(performance.now()),
      onAlive: () => detector.alive(performance.now()),
      onReply: options.onReply,
      onTimeout: options.onTimeout,
      onError: options.onError,
    });
  } catch (error) {
    if (!(error instanceof SessionClosedError)) throw error;
    // A refusal (path, token, rate...) would be refused again: end the run.
    if (isRefusal(error.closeCode)) throw error;
    return {
      kind: "lost",
      reason: error.message,
      goingAway: error.closeCode === CloseCode.GOING_AWAY,
      lastSentAt,
      error,
    };
  } finally {
    clearInterval(watch);
  }
  if (giveUp.signal.aborted && !options.signal?.aborted) {
    return {
      kind: "lost",
      reason: `no pong for ${formatSeconds(policy.deadAfterMs)}`,
      goingAway: false,
      lastSentAt,
    };
  }
  return { kind: "done" };
}

/**
 * Closes `session` and gives the close a moment (at most 250 ms) to reach
 * the server, so it can free the session at once.
 *
 * @example
 * ```ts ignore
 * import { closeSession } from "./reconnect.ts";
 * declare const session: WebTransport;
 * await closeSession(session);
 * ```
 */
export async function closeSession(session: WebTransport): Promise<void> {
  try {
    session.close({ closeCode: CloseCode.NORMAL, reason: "done" });
  } catch {
    return; // already closed by the server: nothing left to release
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    session.closed.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, 250)),
  ]);
  clearTimeout(timer);
}

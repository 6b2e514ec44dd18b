/**
 * Resource limits of the server: sessions at once, streams per session,
 * pings per second per session and an idle timeout. A session over a limit
 * is closed with a close code that says which; other sessions never notice.
 *
 * Pure bookkeeping: the clock is a parameter, and closing is a callback the
 * server supplies. The message size limit is the codec's `maxFrameSize`.
 *
 * @module
 */
import type { Refusal } from "./auth.ts";
import { CloseCode } from "./codec.ts";
import type { SessionHooks } from "./responder.ts";

/** The limits a server enforces; 0 turns a limit off. */
export interface Limits {
  /** Sessions served at once; more are closed with {@linkcode CloseCode.BUSY}. */
  maxSessions: number;
  /** Streams open at once in one session. */
  maxStreams: number;
  /** PINGs per second one session may send (streams and datagrams together). */
  maxPingsPerSecond: number;
  /** A session that sends no PING for this long is closed, in ms. */
  idleTimeoutMs: number;
}

/**
 * Defaults: generous for any honest client (`--interval 0` on loopback stays
 * under 10,000 pings a second). Memory per open stream is one partial
 * message, a few queued replies (the responder's backpressure) and what
 * QUIC's flow-control windows hold for a peer that stops reading (about
 * 3 MB on Deno 2.9.6), so sessions × streams bounds it (docs/security.md).
 */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxSessions: 256,
  maxStreams: 32,
  maxPingsPerSecond: 10_000,
  idleTimeoutMs: 120_000,
};

/**
 * Refuses a new session when `open` sessions are already served.
 *
 * @returns `undefined` to admit it, or why it is refused.
 * @example
 * ```ts
 * import { admitSession, DEFAULT_LIMITS } from "./limits.ts";
 * console.log(admitSession(256, DEFAULT_LIMITS)?.closeCode); // 503
 * ```
 */
export function admitSession(
  open: number,
  limits: Pick<Limits, "maxSessions">,
): Refusal | undefined {
  if (limits.maxSessions > 0 && open >= limits.maxSessions) {
    return {
      closeCode: CloseCode.BUSY,
      reason: `server busy: ${limits.maxSessions} sessions already open`,
    };
  }
  return undefined;
}

/**
 * A token bucket: `rate` tokens a second, holding at most `burst`.
 *
 * @example
 * ```ts
 * import { TokenBucket } from "./limits.ts";
 * let now = 0;
 * const bucket = new TokenBucket(2, 2, () => now);
 * console.log(bucket.take(), bucket.take(), bucket.take()); // true true false
 * now = 500;
 * console.log(bucket.take()); // true
 * ```
 */
export class TokenBucket {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #at: number;

  /**
   * @param rate Tokens added per second.
   * @param burst Most tokens held (and the start).
   * @param now Monotonic clock in ms.
   */
  constructor(rate: number, burst: number, now: () => number) {
    this.#rate = rate;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#at = now();
  }

  /** Takes one token; `false` when the bucket is empty. */
  take(): boolean {
    const now = this.#now();
    this.#tokens = Math.min(
      this.#burst,
      this.#tokens + (now - this.#at) * this.#rate / 1000,
    );
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

/** Options of {@linkcode SessionGuard}. */
export interface SessionGuardOptions {
  /**
   * Monotonic clock in ms.
   *
   * @default {performance.now}
   */
  now?: () => number;
  /**
   * Whether to arm a timer for the idle timeout (tests call
   * {@linkcode SessionGuard.checkIdle} themselves).
   *
   * @default {true}
   */
  timer?: boolean;
  /**
   * What the session sends, in close reasons ("too many pings", "idle: no
   * ping for 2 s"); the echo service counts messages.
   *
   * @default {"ping"}
   */
  noun?: string;
}

/**
 * Enforces {@linkcode Limits} on one session through the responder's
 * {@linkcode SessionHooks}: the first limit crossed calls `close` once with
 * the close code and reason; the responder then stops serving.
 *
 * @example
 * ```ts
 * import { SessionGuard } from "./limits.ts";
 * const guard = new SessionGuard(
 *   { maxSessions: 0, maxStreams: 1, maxPingsPerSecond: 0, idleTimeoutMs: 0 },
 *   (refusal) => console.log(refusal.closeCode), // 429
 * );
 * guard.streamOpened();
 * guard.streamOpened();
 * guard.dispose();
 * ```
 */
export class SessionGuard implements SessionHooks {
  readonly #limits: Limits;
  readonly #close: (refusal: Refusal) => void;
  readonly #now: () => number;
  readonly #bucket: TokenBucket | undefined;
  readonly #noun: string;
  #streams = 0;
  #lastPing: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  /**
   * @param limits What to enforce.
   * @param close Closes the session with the given code and reason.
   * @param options Clock and timer; see {@linkcode SessionGuardOptions}.
   */
  constructor(
    limits: Limits,
    close: (refusal: Refusal) => void,
    options: SessionGuardOptions = {},
  ) {
    this.#limits = limits;
    this.#close = close;
    this.#now = options.now ?? (() => performance.now());
    this.#noun = options.noun ?? "ping";
    this.#lastPing = this.#now();
    if (limits.maxPingsPerSecond > 0) {
      // One second's worth of burst: a client that paused may catch up.
      this.#bucket = new TokenBucket(
        limits.maxPingsPerSecond,
        limits.maxPingsPerSecond,
        this.#now,
      );
    }
    if (limits.idleTimeoutMs > 0 && (options.timer ?? true)) {
      this.#arm(limits.idleTimeoutMs);
    }
  }

  /** Whether a limit closed the session. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.#streams;
  }

  /** @returns `false` (and closes the session) past the stream limit. */
  streamOpened(): boolean {
    this.#streams++;
    const max = this.#limits.maxStreams;
    if (max > 0 && this.#streams > max) {
      this.#refuse(
        CloseCode.RATE_LIMITED,
        `too many streams: at most ${max} open at once`,
      );
      return false;
    }
    return !this.#closed;
  }

  /** A stream ended. */
  streamClosed(): void {
    this.#streams = Math.max(0, this.#streams - 1);
  }

  /** @returns `false` (and closes the session) past the ping rate. */
  ping(): boolean {
    if (this.#closed) return false;
    this.#lastPing = this.#now();
    if (this.#bucket && !this.#bucket.take()) {
      this.#refuse(
        CloseCode.RATE_LIMITED,
        `too many ${this.#noun}s: at most ${this.#limits.maxPingsPerSecond} a second`,
      );
      return false;
    }
    return true;
  }

  /**
   * A message other than a PING arrived (malformed, unexpected or an ERROR,
   * on a stream or in a datagram): it costs a ping, so junk cannot draw
   * ERROR replies, or any work, faster than the ping rate.
   *
   * @returns `false` (and closes the session) past the ping rate.
   */
  malformed(): boolean {
    if (this.#closed) return false;
    if (this.#bucket && !this.#bucket.take()) {
      this.#refuse(
        CloseCode.RATE_LIMITED,
        `too many messages: at most ${this.#limits.maxPingsPerSecond} a second`,
      );
      return false;
    }
    return true;
  }

  /** A message over the size limit arrived: close the session. */
  oversize(detail: string): void {
    this.#refuse(CloseCode.TOO_LARGE, detail.slice(0, 200));
  }

  /**
   * Closes the session if it sent no PING for the idle timeout.
   *
   * @returns ms until the session would go idle, or 0 once closed.
   */
  checkIdle(): number {
    const idle = this.#limits.idleTimeoutMs;
    if (this.#closed || idle <= 0) return 0;
    const left = this.#lastPing + idle - this.#now();
    if (left > 0) return left;
    this.#refuse(
      CloseCode.IDLE_TIMEOUT,
      `idle: no ${this.#noun} for ${Math.round(idle / 1000)} s`,
    );
    return 0;
  }

  /** Stops the idle timer; call when the session ends. */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    // One timer per session, re-armed for the time left, rather than a reset
    // on every ping (which could be thousands a second).
    this.#timer = setTimeout(() => {
      const left = this.checkIdle();
      if (left > 0) this.#arm(left);
    }, ms);
  }

  #refuse(closeCode: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dispose();
    this.#close({ closeCode, reason });
  }
}

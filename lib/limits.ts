/**
 * Resource limits of the server: sessions at once, streams per session,
 * pings per second per session, an idle timeout, and how long and how many
 * of its writers may wait for clients that do not read. A session over a
 * limit is closed with a close code that says which; other sessions never
 * notice.
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
  /**
   * A session one of whose writers stays stalled this long (replies queued,
   * the peer not reading them) is closed with {@linkcode CloseCode.IDLE_TIMEOUT},
   * in ms.
   */
  stallTimeoutMs: number;
  /**
   * Streams stalled at once in the whole server; a session whose stream
   * would stall beyond it is closed with {@linkcode CloseCode.BUSY}.
   */
  maxStalled: number;
}

/**
 * Defaults: generous for any honest client (`--interval 0` on loopback stays
 * under 10,000 pings a second).
 *
 * Memory per open stream is one partial message and a few queued replies
 * (the responder's backpressure); a stream whose peer stops reading also
 * holds what QUIC's flow-control windows took in (about 3 MB on Deno 2.9.6,
 * not settable from JavaScript). Such stalls are bounded in number and in
 * time: 32 stalled streams at once (measured +100 MB, peak +118 MB, over a
 * baseline of about 86 MB: inside the 256 MiB of the Kubernetes Deployment)
 * for 10 s each (an honest client drains its replies within a round trip,
 * and gives a session up itself after 3 s without pongs, `--dead-after`).
 * See docs/security.md.
 */
export const DEFAULT_LIMITS: Readonly<Limits> = {
  maxSessions: 256,
  maxStreams: 32,
  maxPingsPerSecond: 10_000,
  idleTimeoutMs: 120_000,
  stallTimeoutMs: 10_000,
  maxStalled: 32,
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

/**
 * A quantity held against a maximum: bytes a session holds to echo, streams
 * of the server that are stalled.
 *
 * @example
 * ```ts
 * import { Budget } from "./limits.ts";
 * const budget = new Budget(2);
 * console.log(budget.take(), budget.take(), budget.take()); // true true false
 * budget.give();
 * console.log(budget.held); // 1
 * ```
 */
export class Budget {
  /** Most that may be held; `Infinity` for no limit. */
  readonly max: number;
  #held = 0;

  /** @param max Most that may be held; `Infinity` for no limit. */
  constructor(max: number) {
    this.max = max;
  }

  /** What is held now. */
  get held(): number {
    return this.#held;
  }

  /** Takes `n`; `false` (and nothing taken) when that would go over the maximum. */
  take(n = 1): boolean {
    if (this.#held + n > this.max) return false;
    this.#held += n;
    return true;
  }

  /** Gives back `n` taken before. */
  give(n = 1): void {
    this.#held -= n;
  }
}

/**
 * The server-wide budget of {@linkcode Limits.maxStalled}, shared by every
 * session's {@linkcode SessionGuard} (0: no limit).
 *
 * @example
 * ```ts
 * import { DEFAULT_LIMITS, stalledBudget } from "./limits.ts";
 * console.log(stalledBudget(DEFAULT_LIMITS).max); // 32
 * ```
 */
export function stalledBudget(limits: Pick<Limits, "maxStalled">): Budget {
  return new Budget(limits.maxStalled > 0 ? limits.maxStalled : Infinity);
}

/** One wait of a session's writer for its peer to read. */
interface Stall {
  /** When it began (the guard's clock). */
  since: number;
  /** Whether it holds a place of the server's stalled-stream budget. */
  counted: boolean;
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
  /**
   * What the server sends back, in the stall timeout's close reason ("not
   * reading its pongs"); the echo service sends echoes.
   *
   * @default {"pongs"}
   */
  replies?: string;
  /**
   * The server's count of stalled streams, shared by all its sessions
   * ({@linkcode stalledBudget}).
   *
   * @default {a budget of this session's own, of limits.maxStalled}
   */
  stalled?: Budget;
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
 *   {
 *     maxSessions: 0,
 *     maxStreams: 1,
 *     maxPingsPerSecond: 0,
 *     idleTimeoutMs: 0,
 *     stallTimeoutMs: 0,
 *     maxStalled: 0,
 *   },
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
  readonly #replies: string;
  readonly #timers: boolean;
  readonly #stalled: Budget;
  readonly #stalls = new Set<Stall>();
  #streams = 0;
  #lastPing: number;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stallTimer: ReturnType<typeof setTimeout> | undefined;
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
    this.#replies = options.replies ?? "pongs";
    this.#timers = options.timer ?? true;
    this.#stalled = options.stalled ?? stalledBudget(limits);
    this.#lastPing = this.#now();
    if (limits.maxPingsPerSecond > 0) {
      // One second's worth of burst: a client that paused may catch up.
      this.#bucket = new TokenBucket(
        limits.maxPingsPerSecond,
        limits.maxPingsPerSecond,
        this.#now,
      );
    }
    if (limits.idleTimeoutMs > 0 && this.#timers) {
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

  /** Writers of this session stalled now (streams and datagrams). */
  get stalls(): number {
    return this.#stalls.size;
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
   * A writer of the session waits for its peer to read (replies queued: the
   * slow path of backpressure). A stream's stall takes a place of the
   * server's stalled-stream budget; a datagram writer's does not (datagrams
   * have no flow-control window to fill). The stall timer, one per session,
   * is armed at the first stall.
   *
   * @param stream Whether the writer is a stream's.
   * @returns What ends the stall (call it once), or `false` when the
   * session is closed: already, or now because the server has
   * {@linkcode Limits.maxStalled} streams stalled (503).
   */
  stallBegan(stream: boolean): (() => void) | false {
    if (this.#closed) return false;
    if (stream && !this.#stalled.take()) {
      this.#refuse(
        CloseCode.BUSY,
        `server busy: too many clients not reading (stalled streams at the limit of ${this.#stalled.max})`,
      );
      return false;
    }
    const stall: Stall = { since: this.#now(), counted: stream };
    this.#stalls.add(stall);
    const timeout = this.#limits.stallTimeoutMs;
    if (timeout > 0 && this.#timers && this.#stallTimer === undefined) {
      this.#armStall(timeout);
    }
    return () => this.#endStall(stall);
  }

  /**
   * Closes the session if one of its writers has been stalled for the
   * stall timeout (408).
   *
   * @returns ms until its oldest stall would time out; 0 when none is
   * ongoing, or once closed.
   */
  checkStalls(): number {
    const timeout = this.#limits.stallTimeoutMs;
    if (this.#closed || timeout <= 0 || this.#stalls.size === 0) return 0;
    let oldest = Infinity;
    for (const stall of this.#stalls) oldest = Math.min(oldest, stall.since);
    const left = oldest + timeout - this.#now();
    if (left > 0) return left;
    this.#refuse(
      CloseCode.IDLE_TIMEOUT,
      `stalled: not reading its ${this.#replies} for ${_seconds(timeout)} s`,
    );
    return 0;
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
      `idle: no ${this.#noun} for ${_seconds(idle)} s`,
    );
    return 0;
  }

  /**
   * Stops the timers and gives back the session's places among the stalled
   * streams; call when the session ends.
   */
  dispose(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    clearTimeout(this.#stallTimer);
    this.#stallTimer = undefined;
    // Its writers may never see their wait end (the session is gone): the
    // places are given back here, and a later end is a no-op.
    for (const stall of this.#stalls) this.#endStall(stall);
  }

  #endStall(stall: Stall): void {
    if (this.#stalls.delete(stall) && stall.counted) this.#stalled.give();
  }

  #arm(ms: number): void {
    // One timer per session, re-armed for the time left, rather than a reset
    // on every ping (which could be thousands a second).
    this.#timer = setTimeout(() => {
      const left = this.checkIdle();
      if (left > 0) this.#arm(left);
    }, ms);
  }

  #armStall(ms: number): void {
    // Likewise: armed at the first stall, re-armed for the oldest one left,
    // and let go once none is left (the next stall arms it again).
    this.#stallTimer = setTimeout(() => {
      this.#stallTimer = undefined;
      const left = this.checkStalls();
      if (left > 0) this.#armStall(left);
    }, ms);
  }

  #refuse(closeCode: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.dispose();
    this.#close({ closeCode, reason });
  }
}

/** `ms` as seconds for a close reason: "2", "0.5". */
function _seconds(ms: number): string {
  return String(Math.round(ms / 100) / 10);
}

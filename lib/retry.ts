/**
 * Retry policy: exponential backoff with full jitter, a cap on one delay, a
 * limit on attempts and on total time, and a circuit breaker.
 *
 * Pure logic: the clock, the sleep and the random source are parameters, so
 * tests run whole schedules deterministically without waiting.
 *
 * @module
 */

/** How long to wait before each retry. */
export interface BackoffOptions {
  /**
   * Ceiling of the first retry's delay, in ms; each later ceiling is
   * `factor` times the one before.
   *
   * @default {250}
   */
  baseDelayMs?: number;
  /**
   * Largest ceiling of one delay, in ms.
   *
   * @default {5000}
   */
  maxDelayMs?: number;
  /**
   * Growth of the ceiling per retry.
   *
   * @default {2}
   */
  factor?: number;
}

/** Defaults of {@linkcode BackoffOptions}. */
export const BACKOFF_DEFAULTS = {
  baseDelayMs: 250,
  maxDelayMs: 5000,
  factor: 2,
} as const;

/**
 * The ceiling of the delay before retry number `retry` (0 = first retry):
 * `min(maxDelayMs, baseDelayMs * factor ** retry)`.
 *
 * @example
 * ```ts
 * import { backoffCeiling } from "./retry.ts";
 * console.log(backoffCeiling(3, { baseDelayMs: 100, maxDelayMs: 500 })); // 500
 * ```
 */
export function backoffCeiling(
  retry: number,
  options: BackoffOptions = {},
): number {
  const base = options.baseDelayMs ?? BACKOFF_DEFAULTS.baseDelayMs;
  const max = options.maxDelayMs ?? BACKOFF_DEFAULTS.maxDelayMs;
  const factor = options.factor ?? BACKOFF_DEFAULTS.factor;
  // Past ~60 doublings the power overflows to Infinity; min() still caps it.
  return Math.min(max, base * factor ** Math.max(0, retry));
}

/**
 * The delay before retry number `retry` with full jitter: uniform in
 * `[0, ceiling)`. Full jitter spreads clients that lost the same server, so
 * they do not come back in lockstep.
 *
 * @param random A source of numbers in `[0, 1)`.
 * @example
 * ```ts
 * import { backoffDelay } from "./retry.ts";
 * console.log(backoffDelay(1, { baseDelayMs: 100 }, () => 0.5)); // 100
 * ```
 */
export function backoffDelay(
  retry: number,
  options: BackoffOptions = {},
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(retry, options));
}

/** Where a {@linkcode CircuitBreaker} stands. */
export type CircuitState = "closed" | "open" | "half-open";

/** Options of {@linkcode CircuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * Consecutive failures that open the circuit.
   *
   * @default {5}
   */
  failureThreshold?: number;
  /**
   * Time the circuit stays open before it lets one probe through, in ms.
   *
   * @default {5000}
   */
  coolDownMs?: number;
  /**
   * Monotonic clock in ms.
   *
   * @default {performance.now}
   */
  now?: () => number;
}

/**
 * A circuit breaker: after `failureThreshold` consecutive failures it opens
 * and refuses attempts for `coolDownMs`; then it lets one probe through
 * (half-open); a success closes it, a failure opens it again.
 *
 * @example
 * ```ts
 * import { CircuitBreaker } from "./retry.ts";
 * let t = 0;
 * const breaker = new CircuitBreaker({ failureThreshold: 2, coolDownMs: 100, now: () => t });
 * breaker.failure(); breaker.failure();
 * console.log(breaker.state, breaker.waitMs()); // open 100
 * t = 100;
 * console.log(breaker.tryAcquire(), breaker.state); // true half-open
 * breaker.success();
 * console.log(breaker.state); // closed
 * ```
 */
export class CircuitBreaker {
  readonly #threshold: number;
  readonly #coolDownMs: number;
  readonly #now: () => number;
  #failures = 0;
  #openedAt = 0;
  #state: CircuitState = "closed";
  #probing = false;

  /** @param options Threshold, cool-down and clock. */
  constructor(options: CircuitBreakerOptions = {}) {
    this.#threshold = options.failureThreshold ?? 5;
    this.#coolDownMs = options.coolDownMs ?? 5000;
    this.#now = options.now ?? (() => performance.now());
    if (!(this.#threshold >= 1)) {
      throw new RangeError("failureThreshold must be at least 1");
    }
  }

  /** The state now (an open circuit past its cool-down reads half-open). */
  get state(): CircuitState {
    if (
      this.#state === "open" &&
      this.#now() - this.#openedAt >= this.#coolDownMs
    ) {
      return "half-open";
    }
    return this.#state;
  }

  /** Consecutive failures counted so far. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Milliseconds until an attempt may pass (0 when one may pass now): how
   * long a caller refused by {@linkcode tryAcquire} should sleep.
   *
   * @example
   * ```ts
   * import { CircuitBreaker } from "./retry.ts";
   * let t = 0;
   * const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 1000, now: () => t });
   * console.log(breaker.waitMs()); // 0: closed
   * breaker.failure();
   * t = 400;
   * console.log(breaker.waitMs()); // 600: the rest of the cool-down
   * ```
   */
  waitMs(): number {
    if (this.#state === "closed") return 0;
    if (this.#state === "half-open") {
      return this.#probing ? this.#coolDownMs : 0;
    }
    return Math.max(0, this.#openedAt + this.#coolDownMs - this.#now());
  }

  /**
   * Asks to make one attempt: true when the circuit is closed, or when it is
   * past its cool-down and no other probe is out (the caller is the probe).
   *
   * @example One probe at a time
   * ```ts
   * import { CircuitBreaker } from "./retry.ts";
   * let t = 0;
   * const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 100, now: () => t });
   * breaker.failure();
   * console.log(breaker.tryAcquire()); // false: cooling down
   * t = 100;
   * console.log(breaker.tryAcquire()); // true: this caller is the probe
   * console.log(breaker.tryAcquire()); // false: the probe is still out
   * ```
   */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.#probing) return false;
    this.#state = "half-open";
    this.#probing = true;
    return true;
  }

  /**
   * Records a successful attempt: closes the circuit and starts the count of
   * consecutive failures again.
   *
   * @example Only consecutive failures open it
   * ```ts
   * import { CircuitBreaker } from "./retry.ts";
   * const breaker = new CircuitBreaker({ failureThreshold: 2 });
   * breaker.failure();
   * breaker.success();
   * breaker.failure();
   * console.log(breaker.state, breaker.failures); // closed 1
   * ```
   */
  success(): void {
    this.#failures = 0;
    this.#probing = false;
    this.#state = "closed";
  }

  /**
   * Records a failed attempt: opens the circuit at `failureThreshold`
   * consecutive failures, and re-opens it at once when the probe fails.
   *
   * @example A failed probe re-opens it, whatever the threshold
   * ```ts
   * import { CircuitBreaker } from "./retry.ts";
   * let t = 0;
   * const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 100, now: () => t });
   * breaker.failure(); breaker.failure(); breaker.failure();
   * t = 100;
   * breaker.tryAcquire(); // the probe
   * breaker.failure();
   * console.log(breaker.state, breaker.waitMs()); // open 100
   * ```
   */
  failure(): void {
    this.#failures++;
    const wasProbe = this.#probing;
    this.#probing = false;
    if (wasProbe || this.#failures >= this.#threshold) {
      this.#state = "open";
      this.#openedAt = this.#now();
    }
  }
}

/**
 * Thrown by {@linkcode retry} when it gives up; `cause` is the last error.
 *
 * @example
 * ```ts
 * import { retry, RetryExhaustedError } from "./retry.ts";
 * const error = await retry(() => Promise.reject(new Error("refused")), {
 *   maxAttempts: 2,
 *   sleep: () => Promise.resolve(),
 * }).catch((error) => error);
 * if (error instanceof RetryExhaustedError) {
 *   console.log(error.attempts, error.limit); // 2 attempts
 *   console.log(error.message); // gave up after 2 attempts in 0 s: refused
 * }
 * ```
 */
export class RetryExhaustedError extends Error {
  /** Attempts made. */
  readonly attempts: number;
  /** Time from the first attempt to giving up, in ms. */
  readonly elapsedMs: number;
  /** Why it gave up. */
  readonly limit: "attempts" | "time";

  /**
   * @param attempts Attempts made.
   * @param elapsedMs Time spent, ms.
   * @param limit The limit that was reached.
   * @param options Standard error options; `cause` is the last failure.
   */
  constructor(
    attempts: number,
    elapsedMs: number,
    limit: "attempts" | "time",
    options?: ErrorOptions,
  ) {
    const last = options?.cause instanceof Error
      ? options.cause.message
      : String(options?.cause);
    super(
      `gave up after ${attempts} attempt${attempts === 1 ? "" : "s"} in ${
        Number((elapsedMs / 1000).toFixed(1))
      } s: ${last}`,
      options,
    );
    this.name = "RetryExhaustedError";
    this.attempts = attempts;
    this.elapsedMs = elapsedMs;
    this.limit = limit;
  }
}

/** What {@linkcode RetryOptions.onRetry} hears before each wait. */
export interface RetryInfo {
  /** Attempts made so far (1 after the first failure). */
  attempt: number;
  /** The wait before the next attempt, in ms. */
  delayMs: number;
  /** Why the last attempt failed. */
  error: unknown;
}

/** Options of {@linkcode retry}. */
export interface RetryOptions extends BackoffOptions {
  /**
   * Attempts in all, the first included.
   *
   * @default {Infinity}
   */
  maxAttempts?: number;
  /**
   * Time after which no new attempt starts, from the first one, in ms. A
   * wait is shortened so the last attempt starts by then.
   *
   * @default {Infinity}
   */
  maxElapsedMs?: number;
  /**
   * Make the first retry at once, without a delay (a server that said it is
   * going away is expected back, or its replacement is).
   *
   * @default {false}
   */
  immediateFirstRetry?: boolean;
  /**
   * Whether `error` may heal with time; a false answer rethrows it at once.
   *
   * @default {() => true}
   */
  retryable?: (error: unknown) => boolean;
  /**
   * Called before each wait.
   *
   * @default {undefined}
   */
  onRetry?: (info: RetryInfo) => void;
  /**
   * Shared across calls, so a path that keeps failing is probed only once
   * per cool-down.
   *
   * @default {undefined}
   */
  breaker?: CircuitBreaker;
  /**
   * Stops waiting and attempting; `retry` rejects with the signal's reason.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
  /**
   * Monotonic clock in ms.
   *
   * @default {performance.now}
   */
  now?: () => number;
  /**
   * Waits `ms` or until `signal` aborts (then rejects).
   *
   * @default {a setTimeout-based sleep}
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /**
   * Numbers in `[0, 1)` for the jitter.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * Waits `ms` milliseconds; rejects with the signal's reason if it aborts.
 *
 * @example
 * ```ts
 * import { abortableSleep } from "./retry.ts";
 * await abortableSleep(1);
 * ```
 */
export function abortableSleep(
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer: ReturnType<typeof setTimeout> = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Calls `attempt` until it resolves, waiting a backoff delay with full jitter
 * between failures, within the attempt and time limits.
 *
 * @param attempt Called with the attempt number (1, 2, ...).
 * @returns what the first successful attempt returned.
 * @throws {RetryExhaustedError} when a limit is reached (cause: last error).
 * @throws the attempt's own error when `retryable` says it will not heal.
 * @example
 * ```ts
 * import { retry } from "./retry.ts";
 * let calls = 0;
 * const value = await retry(() => ++calls < 3 ? Promise.reject(new Error("no")) : Promise.resolve(calls), {
 *   sleep: () => Promise.resolve(),
 * });
 * console.log(value); // 3
 * ```
 */
export async function retry<T>(
  attempt: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? abortableSleep;
  const random = options.random ?? Math.random;
  const maxAttempts = options.maxAttempts ?? Infinity;
  const maxElapsedMs = options.maxElapsedMs ?? Infinity;
  const retryable = options.retryable ?? (() => true);
  const { breaker, signal } = options;
  if (!(maxAttempts >= 1)) throw new RangeError("maxAttempts must be >= 1");
  const started = now();
  const deadline = started + maxElapsedMs;
  let error: unknown;
  for (let n = 1;; n++) {
    signal?.throwIfAborted();
    // An open circuit holds this attempt back until its cool-down ends.
    while (breaker && !breaker.tryAcquire()) {
      if (n > 1 && now() >= deadline) {
        throw new RetryExhaustedError(n - 1, now() - started, "time", {
          cause: error,
        });
      }
      await sleep(Math.max(1, breaker.waitMs()), signal);
    }
    try {
      const value = await attempt(n);
      breaker?.success();
      return value;
    } catch (caught) {
      error = caught;
    }
    breaker?.failure();
    signal?.throwIfAborted();
    if (!retryable(error)) throw error;
    if (n >= maxAttempts) {
      throw new RetryExhaustedError(n, now() - started, "attempts", {
        cause: error,
      });
    }
    const left = deadline - now();
    if (left <= 0) {
      throw new RetryExhaustedError(n, now() - started, "time", {
        cause: error,
      });
    }
    const planned = n === 1 && options.immediateFirstRetry ? 0 : backoffDelay(
      options.immediateFirstRetry ? n - 2 : n - 1,
      options,
      random,
    );
    const delayMs = Math.max(planned, breaker?.waitMs() ?? 0);
    const wait = Math.min(delayMs, left);
    options.onRetry?.({ attempt: n, delayMs: wait, error });
    if (wait > 0) await sleep(wait, signal);
  }
}

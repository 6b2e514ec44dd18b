/**
 * Bounded polling of state that no event announces (another process's
 * counters, a metrics endpoint). Not for readiness: wait on a printed line or
 * a promise for that.
 *
 * @module
 */

/** Options of {@linkcode pollUntil}. */
export interface PollOptions {
  /**
   * Most reads.
   *
   * @default {100}
   */
  attempts?: number;
  /**
   * Pause between reads, ms.
   *
   * @default {50}
   */
  intervalMs?: number;
}

/**
 * Reads `read()` until `done` holds or the attempts run out, and returns the
 * last value read (the caller asserts on it).
 *
 * @example
 * ```ts ignore
 * const stats = await pollUntil(readStats, (s) => s.sessions === 0);
 * ```
 */
export async function pollUntil<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  options: PollOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 100;
  const intervalMs = options.intervalMs ?? 50;
  let value = await read();
  for (let i = 1; i < attempts && !done(value); i++) {
    await pause(intervalMs);
    value = await read();
  }
  return value;
}

function pause(ms: number): Promise<void> {
  const { promise, resolve } = Promise.withResolvers<void>();
  setTimeout(resolve, ms);
  return promise;
}

/** `promise`, or `undefined` after `ms` (so a missing close fails, not hangs). */
export async function within<T>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<undefined>((resolve) =>
        timer = setTimeout(() => resolve(undefined), ms)
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

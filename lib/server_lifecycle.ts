/**
 * The server's recovery around `PingPongServer`: binding with retries when
 * the port is busy (an old instance may still be draining), and a status
 * line for operators and tests.
 *
 * @module
 */
import { logger } from "./log.ts";
import { retry, RetryExhaustedError, type RetryOptions } from "./retry.ts";
import { PingPongServer, type PingPongServerOptions } from "./server_core.ts";
import { BindError, formatSeconds } from "./transport.ts";

const log = logger("server");

/**
 * Retry schedule for a busy port: an old instance drains within its 5 s
 * `--drain-timeout`, so the server keeps trying for 8 s. Time is the only
 * limit: with full jitter a cap on attempts would end the schedule after a
 * random, often much shorter, time (6 attempts gave up after 1.9 to 4.6 s).
 */
export const BIND_RETRY_DEFAULTS = {
  baseDelayMs: 250,
  maxDelayMs: 2000,
  maxElapsedMs: 8000,
} as const;

/**
 * Starts a {@linkcode PingPongServer}, retrying while the port is in use.
 * Other bind failures (no such address, no permission) fail at once.
 *
 * @throws {BindError} naming the address, the cause and how long it tried.
 * @example
 * ```ts ignore
 * import { startWithBindRetry } from "./server_lifecycle.ts";
 * const server = await startWithBindRetry({ hostname: "127.0.0.1", port: 4433 });
 * await server.shutdown();
 * ```
 */
export async function startWithBindRetry(
  options: PingPongServerOptions,
  policy: RetryOptions = BIND_RETRY_DEFAULTS,
): Promise<PingPongServer> {
  try {
    return await retry(() => PingPongServer.start(options), {
      ...policy,
      retryable: _portBusy,
      onRetry: ({ attempt, delayMs, error }) =>
        log.warning("{error}; retry {attempt} in {delay}", {
          error: (error as Error).message,
          attempt,
          delay: formatSeconds(delayMs),
        }),
    });
  } catch (error) {
    if (!(error instanceof RetryExhaustedError) || !_portBusy(error.cause)) {
      throw error;
    }
    const last = error.cause as BindError;
    // The schedule's own count and clock (injected in tests).
    throw new BindError(
      `${last.message} (gave up after ${error.attempts} attempts in ${
        (error.elapsedMs / 1000).toFixed(1)
      } s)`,
      { cause: error },
    );
  }
}

function _portBusy(error: unknown): boolean {
  if (!(error instanceof BindError)) return false;
  // UDP (Deno.QuicEndpoint) says AddrInUse; TCP (node:http2's listener for
  // HTTP/2) says it the Node way, with code EADDRINUSE.
  return error.cause instanceof Deno.errors.AddrInUse ||
    (error.cause as { code?: unknown } | undefined)?.code === "EADDRINUSE";
}

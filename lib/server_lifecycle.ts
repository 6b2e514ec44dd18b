/**
 * The server's recovery around `PingPongServer`: binding with retries when
 * the port is busy (an old instance may still be draining), and a status
 * line for operators and tests.
 *
 * @module
 */
import { logger } from "./log.ts";
import { retry, type RetryOptions } from "./retry.ts";
import { PingPongServer, type PingPongServerOptions } from "./server_core.ts";
import { BindError } from "./transport.ts";

const log = logger("server");

/** Retry schedule for a busy port; an old instance drains within 5 s. */
export const BIND_RETRY_DEFAULTS = {
  maxAttempts: 6,
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
  let attempts = 0;
  const started = performance.now();
  try {
    return await retry(() => {
      attempts++;
      return PingPongServer.start(options);
    }, {
      ...policy,
      retryable: _portBusy,
      onRetry: ({ attempt, delayMs, error }) =>
        log.warning("{error}; retry {attempt} in {delay} ms", {
          error: (error as Error).message,
          attempt,
          delay: delayMs,
        }),
    });
  } catch (error) {
    if (!_portBusy((error as Error).cause)) throw error;
    const last = (error as Error).cause as BindError;
    throw new BindError(
      `${last.message} (gave up after ${attempts} attempts in ${
        ((performance.now() - started) / 1000).toFixed(1)
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

/**
 * A client.ts process whose output is read while it runs, so a test can act
 * at a point of the run (after the 10th pong, say) without sleeping.
 *
 * @module
 */
import { TextLineStream } from "../../lib/text_lines.ts";
import { rootPath, RUN_FLAGS } from "./processes.ts";

/** A running client.ts. */
export interface LiveClient extends AsyncDisposable {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Every stdout line so far. */
  stdout: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the first stdout line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves once the process exits (killed after `killAfterMs`). */
  exited: Promise<{ code: number; elapsedMs: number }>;
}

/**
 * Starts client.ts with `args`; it is killed after `killAfterMs` at most.
 *
 * @example
 * ```ts ignore
 * await using client = spawnClient([url, "--cert-hash", hash, "--json"]);
 * await client.waitForLine(/"seq":10,/);
 * ```
 */
export function spawnClient(args: string[], killAfterMs = 90_000): LiveClient {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, rootPath("client.ts"), ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let ended = false;
  const pump = async (stream: ReadableStream<Uint8Array>, into: string[]) => {
    const lines = stream.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TextLineStream(),
    );
    for await (const line of lines) {
      into.push(line);
      if (into !== stdout) continue;
      for (const waiter of [...waiters]) {
        if (!waiter.pattern.test(line)) continue;
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    }
  };
  const pumps = Promise.all([
    pump(child.stdout, stdout),
    pump(child.stderr, stderr),
  ]);
  const kill = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, killAfterMs);
  const exited = (async () => {
    const status = await child.status;
    await pumps;
    ended = true;
    clearTimeout(kill);
    return { code: status.code, elapsedMs: performance.now() - started };
  })();
  return {
    child,
    stdout,
    stderr,
    exited,
    waitForLine: (pattern, timeoutMs = 30_000) => {
      const seen = stdout.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `client: no line matching ${pattern}\n${stderr.join("\n")}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: (line) => {
            clearTimeout(timer);
            resolve(line);
          },
        });
        exited.then(() => {
          if (!ended) return;
          clearTimeout(timer);
          reject(
            new Error(
              `client exited before a line matching ${pattern}\n${
                stderr.join("\n")
              }`,
            ),
          );
        });
      });
    },
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await exited;
    },
  };
}

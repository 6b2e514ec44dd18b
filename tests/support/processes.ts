/**
 * Real server and client processes for integration tests: start server.ts on
 * a free port, wait for its printed lines (never a sleep), run client.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { TextLineStream } from "../../lib/text_lines.ts";

const ROOT = new URL("../../", import.meta.url);

/** Path of a file at the repository root. */
export function rootPath(name: string): string {
  return new URL(name, ROOT).pathname;
}

/** Flags every test process runs with: the binaries' permission set. */
export const RUN_FLAGS = [
  "run",
  "--quiet",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-sys",
];

/** A server.ts process that printed its URL and certificate hash. */
export interface ServerProcess extends AsyncDisposable {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Bound port. */
  port: number;
  /** URL with 127.0.0.1 (or what `--host` named) and the path served. */
  url: string;
  /** `cert-hash` line's hash. */
  certHash: string;
  /** Every stdout line so far (more arrive while it runs). */
  stdout: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves with the first stdout line matching `pattern` (bounded by `timeoutMs`). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends `signal` and waits for the exit status. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode startServer}. */
export interface StartServerOptions {
  /** Extra flags for server.ts. */
  args?: string[];
  /** Host to bind and to put in `url` (default 127.0.0.1). */
  host?: string;
  /** Environment variables to add. */
  env?: Record<string, string>;
  /** Ready deadline in ms (default 20000). */
  timeoutMs?: number;
  /** Command prefix to run the process under (e.g. `ip netns exec NS`). */
  prefix?: string[];
  /** `deno` flags before the script (default {@linkcode RUN_FLAGS}). */
  runFlags?: string[];
}

class LineLog {
  readonly lines: string[] = [];
  #waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  #closed = false;
  #onClose: (() => void)[] = [];

  push(line: string): void {
    this.lines.push(line);
    this.#waiters = this.#waiters.filter((waiter) => {
      if (!waiter.pattern.test(line)) return true;
      waiter.resolve(line);
      return false;
    });
  }

  close(): void {
    this.#closed = true;
    for (const fn of this.#onClose) fn();
  }

  wait(pattern: RegExp, timeoutMs: number, what: string): Promise<string> {
    const seen = this.lines.find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${what}: no line matching ${pattern} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const fail = () => {
        clearTimeout(timer);
        reject(
          new Error(`${what}: output ended before a line matching ${pattern}`),
        );
      };
      if (this.#closed) return fail();
      this.#onClose.push(fail);
      this.#waiters.push({
        pattern,
        resolve: (line) => {
          clearTimeout(timer);
          resolve(line);
        },
      });
    });
  }
}

async function pump(
  stream: ReadableStream<Uint8Array>,
  log: LineLog,
): Promise<void> {
  try {
    for await (
      const line of stream.pipeThrough(new TextDecoderStream()).pipeThrough(
        new TextLineStream(),
      )
    ) {
      log.push(line);
    }
  } finally {
    log.close();
  }
}

/**
 * Starts server.ts and resolves once it printed `listening on` and `cert-hash`.
 *
 * @example
 * ```ts ignore
 * await using server = await startServer();
 * console.log(server.url, server.certHash);
 * ```
 */
export async function startServer(
  options: StartServerOptions = {},
): Promise<ServerProcess> {
  const host = options.host ?? "127.0.0.1";
  // A server bound to a wildcard on the test machine itself would advertise
  // by mDNS on its real interfaces: only namespaced servers may.
  const quiet =
    options.prefix === undefined && !/^(127\.|::1$|localhost$)/.test(host)
      ? ["--no-advertise"]
      : [];
  const args = [
    ...(options.runFlags ?? RUN_FLAGS),
    rootPath("server.ts"),
    "--host",
    host,
    "--port",
    "0",
    ...quiet,
    ...(options.args ?? []),
  ];
  const [cmd, ...prefixArgs] = options.prefix ?? [Deno.execPath()];
  const command = new Deno.Command(cmd, {
    args: options.prefix ? [...prefixArgs, Deno.execPath(), ...args] : args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: options.env,
  });
  const child = command.spawn();
  const out = new LineLog();
  const err = new LineLog();
  const pumps = Promise.all([pump(child.stdout, out), pump(child.stderr, err)]);
  const timeoutMs = options.timeoutMs ?? 20_000;
  let status: Deno.CommandStatus | undefined;
  const stop = async (signal: Deno.Signal = "SIGTERM") => {
    if (status) return status;
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    status = await child.status;
    await pumps;
    return status;
  };
  try {
    const listening = await out.wait(
      /^listening on /,
      timeoutMs,
      "server start",
    );
    const hashLine = await out.wait(
      /^cert-hash sha-256 [0-9a-f]{64}$/,
      timeoutMs,
      "server start",
    );
    const url = new URL(listening.replace(/^listening on /, ""));
    const port = Number(url.port);
    const shownHost = host.includes(":") ? `[${host}]` : host;
    return {
      child,
      port,
      url: `https://${shownHost}:${port}${url.pathname}`,
      certHash: hashLine.split(" ")[2],
      stdout: out.lines,
      stderr: err.lines,
      waitForLine: (pattern, ms = timeoutMs) => out.wait(pattern, ms, "server"),
      stop,
      [Symbol.asyncDispose]: async () => {
        await stop("SIGKILL");
      },
    };
  } catch (error) {
    await stop("SIGKILL");
    throw new Error(
      `${(error as Error).message}\nstderr:\n${err.lines.join("\n")}`,
      {
        cause: error,
      },
    );
  }
}

/** What a finished client.ts printed and returned. */
export interface ClientResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
  /** Wall time of the process, ms. */
  elapsedMs: number;
}

/** Options of {@linkcode runClient}. */
export interface RunClientOptions {
  /** Environment variables to add. */
  env?: Record<string, string>;
  /** Kill the client after this long (ms); a test bound, default 60000. */
  killAfterMs?: number;
  /** Command prefix to run the process under (e.g. `ip netns exec NS`). */
  prefix?: string[];
  /** Called with the running child (e.g. to send SIGINT). */
  onSpawn?: (child: Deno.ChildProcess) => void;
  /** `deno` flags before the script (default {@linkcode RUN_FLAGS}). */
  runFlags?: string[];
}

/**
 * Runs client.ts with `args` to completion.
 *
 * @example
 * ```ts ignore
 * const result = await runClient([server.url, "--cert-hash", server.certHash, "-c", "3"]);
 * ```
 */
export async function runClient(
  args: string[],
  options: RunClientOptions = {},
): Promise<ClientResult> {
  const allArgs = [
    ...(options.runFlags ?? RUN_FLAGS),
    rootPath("client.ts"),
    ...args,
  ];
  const [cmd, ...prefixArgs] = options.prefix ?? [Deno.execPath()];
  const started = performance.now();
  const result = await runCommand(
    cmd,
    options.prefix ? [...prefixArgs, Deno.execPath(), ...allArgs] : allArgs,
    {
      env: options.env,
      timeoutMs: options.killAfterMs,
      onSpawn: options.onSpawn,
    },
  );
  return { ...result, elapsedMs: performance.now() - started };
}

/** What a finished command printed and returned. */
export interface CommandResult {
  /** Exit code. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@linkcode runCommand}. */
export interface RunCommandOptions {
  /** Environment variables to add. */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Kill the command after this long (ms); a test bound, default 60000. */
  timeoutMs?: number;
  /** Called with the running child (e.g. to send a signal). */
  onSpawn?: (child: Deno.ChildProcess) => void;
}

/**
 * Runs `cmd` to completion with its output captured, killed after
 * `timeoutMs` at most.
 *
 * @example
 * ```ts ignore
 * const { code } = await runCommand("python3", ["--version"]);
 * ```
 */
export async function runCommand(
  cmd: string,
  args: string[],
  options: RunCommandOptions = {},
): Promise<CommandResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  options.onSpawn?.(child);
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, options.timeoutMs ?? 60_000);
  try {
    const output = await child.output();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs server.ts on loopback (never advertised by mDNS) until it exits, for
 * tests of how it fails to start: `--host 127.0.0.1 --port PORT
 * --no-advertise`, then `args`.
 */
export function runServer(
  args: string[],
  options: { port?: number; runFlags?: string[] } = {},
): Promise<CommandResult> {
  return runCommand(Deno.execPath(), [
    ...(options.runFlags ?? RUN_FLAGS),
    rootPath("server.ts"),
    "--host",
    "127.0.0.1",
    "--port",
    String(options.port ?? 0),
    "--no-advertise",
    ...args,
  ], { timeoutMs: 30_000 });
}

/**
 * Parses the client's `--json` output into objects.
 *
 * @example
 * ```ts ignore
 * const events = jsonLines(result.stdout);
 * ```
 */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split("\n").filter((line) => line.trim() !== "").map((line) =>
    JSON.parse(line)
  );
}

/** Options of {@linkcode expectAllPongs}. */
export interface ExpectAllPongsOptions {
  /** `--mode` (default stream). */
  mode?: string;
  /** Pings to send (default 20). */
  count?: number;
  /** More client flags (e.g. `--echo`, `--transport h2`). */
  args?: string[];
  /** More text for a failure message (e.g. the server's stderr). */
  context?: () => string;
  /** How to run the client (e.g. `runFlags`, the compiled permission set). */
  run?: RunClientOptions;
  /** Also assert that the client wrote nothing to stderr. */
  quiet?: boolean;
}

/**
 * Runs client.ts back to back with `--json` and asserts that every ping got
 * its pong, in order, and exit code 0.
 *
 * @returns the client's JSON events, for further assertions.
 * @example
 * ```ts ignore
 * await expectAllPongs(server.url, server.certHash, { mode: "datagram" });
 * ```
 */
export async function expectAllPongs(
  url: string,
  certHash: string,
  options: ExpectAllPongsOptions = {},
): Promise<Record<string, unknown>[]> {
  const count = options.count ?? 20;
  const result = await runClient([
    url,
    "--cert-hash",
    certHash,
    "--count",
    String(count),
    "--interval",
    "0",
    "--mode",
    options.mode ?? "stream",
    "--json",
    ...(options.args ?? []),
  ], options.run);
  const context = options.context?.() ?? "";
  assert.equal(result.code, 0, `${result.stderr}\n${context}`);
  if (options.quiet) assert.equal(result.stderr, "");
  const events = jsonLines(result.stdout);
  assert.deepEqual(
    events.filter((event) => event.type === "pong").map((pong) => pong.seq),
    Array.from({ length: count }, (_, i) => i + 1),
  );
  const summary = events.at(-1)!;
  assert.equal(summary.type, "summary");
  assert.equal(summary.transmitted, count);
  assert.equal(summary.received, count);
  return events;
}

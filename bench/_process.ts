/**
 * Child processes for the bench: spawn a Deno script, read its stdout as
 * lines, wait for a line, and sample its CPU time and memory from /proc.
 *
 * @module
 */
import { TextLineStream } from "../lib/text_lines.ts";

// The same flags and paths as the tests' processes: one definition.
import { rootPath, RUN_FLAGS } from "../tests/support/processes.ts";
export { rootPath, RUN_FLAGS };

/** A running child whose stdout lines are collected. */
export interface LineProcess extends AsyncDisposable {
  /** The child. */
  child: Deno.ChildProcess;
  /** Its pid, for /proc. */
  pid: number;
  /** Every stdout line so far. */
  lines: string[];
  /** When the process was spawned (performance.now()). */
  spawnedAt: number;
  /** The first line (after `from`) matching `pattern`, with its arrival time. */
  waitFor(
    pattern: RegExp,
    timeoutMs?: number,
    from?: number,
  ): Promise<{ line: string; at: number; index: number }>;
  /** Writes one line to the child's stdin. */
  send(line: string): Promise<void>;
  /** Kills the child and waits for it. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode spawnLines}. */
export interface SpawnOptions {
  /**
   * Give the child a stdin to write lines to.
   *
   * @default {false}
   */
  stdin?: boolean;
}

/**
 * Starts `deno RUN_FLAGS script ...args` (or `deno ...args` when `script` is
 * undefined) and collects its stdout lines.
 *
 * @example
 * ```ts ignore
 * import { spawnLines } from "./_process.ts";
 * await using udp = spawnLines("bench/servers/udp_echo.ts");
 * const { line } = await udp.waitFor(/^listening /);
 * ```
 */
export function spawnLines(
  script: string | undefined,
  args: string[] = [],
  options: SpawnOptions = {},
): LineProcess {
  const spawnedAt = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: script === undefined
      ? args
      : [...RUN_FLAGS, rootPath(script), ...args],
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const stamps: number[] = [];
  const stderr: string[] = [];
  let ended = false;
  let notify: () => void = () => {};
  const changed = () => {
    const wake = notify;
    notify = () => {};
    wake();
  };
  const pumpOut = (async () => {
    const stream = child.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(new TextLineStream());
    for await (const line of stream) {
      lines.push(line);
      stamps.push(performance.now());
      changed();
    }
    ended = true;
    changed();
  })();
  const pumpErr = (async () => {
    const stream = child.stderr.pipeThrough(new TextDecoderStream())
      .pipeThrough(new TextLineStream());
    for await (const line of stream) stderr.push(line);
  })();
  const writer = options.stdin ? child.stdin.getWriter() : undefined;
  const encoder = new TextEncoder();
  let status: Deno.CommandStatus | undefined;
  const stop = async (signal: Deno.Signal = "SIGKILL") => {
    if (status) return status;
    try {
      child.kill(signal);
    } catch {
      // Already exited.
    }
    status = await child.status;
    await writer?.close().catch(() => {});
    await Promise.allSettled([pumpOut, pumpErr]);
    return status;
  };
  const waitFor = async (pattern: RegExp, timeoutMs = 60_000, from = 0) => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      for (let i = from; i < lines.length; i++) {
        if (pattern.test(lines[i])) {
          return { line: lines[i], at: stamps[i], index: i };
        }
      }
      if (ended) {
        throw new Error(
          `${script ?? args.join(" ")}: output ended before ${pattern}\n${
            stderr.slice(-10).join("\n")
          }`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new Error(`${script}: no line matching ${pattern} in time`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        notify = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  };
  return {
    child,
    pid: child.pid,
    lines,
    spawnedAt,
    waitFor,
    send: async (line) => {
      await writer?.write(encoder.encode(`${line}\n`));
    },
    stop,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
export const CLOCK_TICKS = 100;

/**
 * CPU time (user + system) the process has used so far, in ms.
 *
 * @example
 * ```ts ignore
 * import { cpuMs } from "./_process.ts";
 * console.log(cpuMs(Deno.pid));
 * ```
 */
export function cpuMs(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) * 1000 / CLOCK_TICKS;
}

/**
 * Resident memory of the process (VmRSS), in bytes.
 *
 * @example
 * ```ts ignore
 * import { rssBytes } from "./_process.ts";
 * console.log(rssBytes(Deno.pid));
 * ```
 */
export function rssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const match = status.match(/^VmRSS:\s+(\d+) kB$/m);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/**
 * compile.sh from tests: run it, and read the `deno compile` commands its
 * `--dry-run` prints, so tests run the entry points with exactly the flags
 * the binaries carry.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type CommandResult, rootPath, runCommand } from "./processes.ts";

/**
 * Runs compile.sh to completion (the build steps take seconds each).
 *
 * @example
 * ```ts ignore
 * const { code, stderr } = await compileSh(["--help"]);
 * ```
 */
export function compileSh(
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  return runCommand("bash", [rootPath("compile.sh"), ...args], {
    env,
    timeoutMs: 120_000,
  });
}

/** Flags of `deno compile` alone, which `deno run` does not take. */
export const BUILD_ONLY_FLAGS = ["--exclude-unused-npm"];

/** One `deno compile` command that `--dry-run` printed. */
export interface CompileCommand {
  /** Which entry point. */
  entry: "server" | "client";
  /** `--target`. */
  target: string;
  /** `--output`. */
  output: string;
  /** Flags other than --target and --output: what the binary carries. */
  flags: string[];
  /** Flags that shape the build only ({@linkcode BUILD_ONLY_FLAGS}). */
  buildFlags: string[];
}

/**
 * Parses what `compile.sh --dry-run` printed.
 *
 * @example
 * ```ts ignore
 * const commands = parseDryRun((await compileSh(["--dry-run"])).stdout);
 * ```
 */
export function parseDryRun(stdout: string): CompileCommand[] {
  return stdout.trim().split("\n").map((line) => {
    const words = line.split(" ");
    assert.deepEqual(words.slice(0, 2), ["deno", "compile"], line);
    const script = words.at(-1)!;
    const rest = words.slice(2, -1);
    const take = (flag: string) => {
      const at = rest.indexOf(flag);
      assert.ok(at >= 0, `${flag} missing in ${line}`);
      return rest.splice(at, 2)[1];
    };
    const target = take("--target");
    const output = take("--output");
    assert.match(script, /^(server|client)\.ts$/);
    return {
      entry: script.replace(".ts", "") as "server" | "client",
      target,
      output,
      flags: rest.filter((flag) => !BUILD_ONLY_FLAGS.includes(flag)),
      buildFlags: rest.filter((flag) => BUILD_ONLY_FLAGS.includes(flag)),
    };
  });
}

/**
 * The `deno compile` commands of every target, from `compile.sh --dry-run`.
 *
 * @example
 * ```ts ignore
 * const commands = await dryRun();
 * ```
 */
export async function dryRun(): Promise<CompileCommand[]> {
  const run = await compileSh(["--dry-run"]);
  assert.equal(run.code, 0, run.stderr);
  return parseDryRun(run.stdout);
}

/**
 * `deno run` flags equal to what `entry`'s binaries carry.
 *
 * @example
 * ```ts ignore
 * await startServer({ runFlags: await compiledRunFlags("server") });
 * ```
 */
export async function compiledRunFlags(
  entry: "server" | "client",
): Promise<string[]> {
  const command = (await dryRun()).find((c) => c.entry === entry)!;
  return ["run", "--quiet", ...command.flags];
}

import assert from "node:assert/strict";
import {
  ExitCode,
  ExitError,
  oneLine,
  parseFlags,
  parseNumber,
  runMain,
  UsageError,
  VERSION,
} from "../lib/cli.ts";

function capture(debug = false) {
  const lines: string[] = [];
  return { lines, io: { error: (line: string) => lines.push(line), debug } };
}

Deno.test("runMain() turns a UsageError into one line and exit code 2", async () => {
  const { lines, io } = capture();
  const code = await runMain(
    "tool",
    [],
    () => Promise.reject(new UsageError("bad --x")),
    1,
    io,
  );
  assert.equal(code, ExitCode.USAGE);
  assert.deepEqual(lines, ["tool: bad --x (see --help)"]);
});

Deno.test("runMain() uses an ExitError's own code and the failure code otherwise", async () => {
  const a = capture();
  assert.equal(
    await runMain(
      "t",
      [],
      () => Promise.reject(new ExitError(7, "seven")),
      1,
      a.io,
    ),
    7,
  );
  assert.deepEqual(a.lines, ["t: seven"]);
  const b = capture();
  assert.equal(
    await runMain(
      "t",
      [],
      () => Promise.reject(new Error("boom\n    at x")),
      1,
      b.io,
    ),
    1,
  );
  assert.deepEqual(b.lines, ["t: boom"]);
});

Deno.test("runMain() prints a stack trace only in debug mode", async () => {
  const { lines, io } = capture(true);
  await runMain("t", [], () => Promise.reject(new Error("boom")), 1, io);
  assert.equal(lines.length, 2);
  assert.match(lines[0], /at /);
});

Deno.test("parseNumber() enforces integer and range rules", () => {
  assert.equal(parseNumber("n", "3", { integer: true, min: 1 }), 3);
  assert.throws(() => parseNumber("n", "", {}), /--n must be a number/);
  assert.throws(() => parseNumber("n", "Infinity", {}), /--n must be a number/);
  assert.throws(() => parseNumber("n", "5", { max: 4, min: 0 }), /from 0 to 4/);
});

Deno.test("oneLine() keeps the first line and VERSION comes from deno.json", async () => {
  assert.equal(oneLine("a\nb"), "a");
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.equal(VERSION, config.version);
});

Deno.test("parseFlags() takes a negative number after a flag as its value, long or short", () => {
  const options = {
    count: { type: "string", short: "c" },
    json: { type: "boolean" },
  } as const;
  for (const args of [["--count", "-1"], ["-c", "-1"], ["--count=-1"]]) {
    assert.equal(parseFlags({ args, options }).values.count, "-1");
  }
  assert.equal(
    parseFlags({ args: ["-c", "-.5"], options }).values.count,
    "-.5",
  );
  // After "--" nothing is a flag any more.
  assert.deepEqual(
    parseFlags({
      args: ["--", "-c", "-1"],
      options,
      allowPositionals: true,
    }).positionals,
    ["-c", "-1"],
  );
});

Deno.test("parseFlags() reports what is still ambiguous or unknown in one line", () => {
  const options = { token: { type: "string" } } as const;
  assert.throws(
    () => parseFlags({ args: ["--token", "-abc"], options }),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(
        error.message,
        "Option '--token' argument is ambiguous: for a value starting with a dash write '--token=-XYZ'",
      );
      return true;
    },
  );
  assert.throws(
    () => parseFlags({ args: ["--nope"], options }),
    (error: unknown) =>
      error instanceof UsageError && !error.message.includes("\n"),
  );
});

Deno.test("runMain() prints a usage error on one line even if its message has several", async () => {
  const { lines, io } = capture();
  await runMain(
    "tool",
    [],
    () => Promise.reject(new UsageError("first\nsecond")),
    1,
    io,
  );
  assert.deepEqual(lines, ["tool: first (see --help)"]);
});

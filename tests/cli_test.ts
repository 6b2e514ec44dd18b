import assert from "node:assert/strict";
import {
  ExitCode,
  ExitError,
  LOG_FLAG_HELP,
  oneLine,
  parseFlags,
  parseNumber,
  parseSeconds,
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

Deno.test("parseNumber() takes decimal numbers only", () => {
  for (
    const [text, value] of [["80", 80], ["0.5", 0.5], [".5", 0.5], [
      "-2",
      -2,
    ]] as const
  ) {
    assert.equal(parseNumber("n", text), value);
  }
  // Number() would read these as 80, 5, 1000, 5 and 5.
  for (const text of ["0x50", "0b101", "1e3", " 5", "5 "]) {
    assert.throws(() => parseNumber("port", text), {
      name: "UsageError",
      message: `--port must be a number, got '${text}'`,
    });
  }
});

Deno.test("parseSeconds() gives whole milliseconds and never turns a positive value into 0", () => {
  assert.equal(parseSeconds("t", "1.5"), 1500);
  assert.equal(parseSeconds("t", "0.0015"), 2);
  assert.equal(parseSeconds("t", "0"), 0);
  // 0 means "never" or "at once" to the flags that take it.
  assert.equal(parseSeconds("idle-timeout", "0.0004", { min: 0 }), 1);
  assert.equal(parseSeconds("interval", "0.0000001", { min: 0 }), 1);
  assert.throws(() => parseSeconds("t", "-1", { min: 0 }), /--t must be/);
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
        "--token needs a value; for one starting with a dash write --token=-XYZ",
      );
      return true;
    },
  );
  const cases: [string[], string][] = [
    [["--nope"], "unknown flag --nope"],
    [["-x"], "unknown flag -x"],
    [["--token"], "--token needs a value"],
    [["-t"], "--token needs a value"],
    [["--json=yes"], "--json takes no value"],
    [["extra"], "unexpected argument 'extra'"],
  ];
  const withJson = {
    token: { type: "string", short: "t" },
    json: { type: "boolean" },
  } as const;
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags({ args, options: withJson }), {
      name: "UsageError",
      message,
    });
  }
});

Deno.test("parseFlags() answers --help whatever else is wrong on the command line", () => {
  const options = {
    count: { type: "string", short: "c" },
    help: { type: "boolean", short: "h" },
  } as const;
  for (
    const args of [
      ["--help", "--bogus"],
      ["--bogus", "-h"],
      ["-c", "--help"],
      ["--help", "stray"],
      ["--count"].concat("--help"),
    ]
  ) {
    const { values } = parseFlags({ args, options });
    assert.equal(values.help, true, args.join(" "));
  }
  // After "--" it is an argument like any other.
  assert.throws(
    () => parseFlags({ args: ["--bogus", "--", "--help"], options }),
    { message: "unknown flag --bogus" },
  );
});

Deno.test("the logging flags' help lines are indented like other long-only flags", () => {
  assert.match(LOG_FLAG_HELP[0], /^ {6}--log-level LEVEL$/);
  assert.ok(
    LOG_FLAG_HELP.every((line) => /^ {6}--|^ {23}\S/.test(line)),
    LOG_FLAG_HELP.join("\n"),
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

import assert from "node:assert/strict";
import { UsageError } from "../lib/cli.ts";
import {
  CLIENT_HELP,
  parseClientArgs,
  parseServerUrl,
} from "../lib/client_cli.ts";

const URL_ = "https://127.0.0.1:4433/pingpong";
const HASH = "ab".repeat(32);

Deno.test("parseClientArgs() applies the documented defaults", () => {
  const config = parseClientArgs([URL_]);
  assert.equal(config.action, "ping");
  assert.equal(config.url, URL_);
  assert.equal(config.count, Infinity);
  assert.equal(config.intervalMs, 1000);
  assert.equal(config.size, 64);
  assert.equal(config.timeoutMs, 2000);
  assert.equal(config.mode, "stream");
  assert.equal(config.certHash, undefined);
  assert.equal(config.json, false);
  assert.equal(config.logLevel, "warning");
});

Deno.test("parseClientArgs() reads every flag, long and short", () => {
  const config = parseClientArgs([
    "-c",
    "5",
    "-i",
    "0",
    "-s",
    "100",
    "-W",
    "0.5",
    "-m",
    "datagram",
    "--cert-hash",
    HASH,
    "--json",
    "--log-level",
    "debug",
    "--log-format",
    "json",
    URL_,
  ]);
  assert.equal(config.count, 5);
  assert.equal(config.intervalMs, 0);
  assert.equal(config.size, 100);
  assert.equal(config.timeoutMs, 500);
  assert.equal(config.mode, "datagram");
  assert.equal(config.certHash?.length, 32);
  assert.equal(config.json, true);
  assert.equal(config.logFormat, "json");
});

Deno.test("parseClientArgs() pins $PINGPONG_CERT_HASH for a URL as for discovery, --cert-hash winning", () => {
  const env = { PINGPONG_CERT_HASH: "02".repeat(32) };
  assert.deepEqual(
    [...parseClientArgs([URL_], env).certHash!],
    Array(32).fill(2),
  );
  assert.deepEqual(
    [...parseClientArgs(["--cert-hash", "01".repeat(32), URL_], env).certHash!],
    Array(32).fill(1),
  );
  assert.deepEqual(
    [...parseClientArgs(["--server", "a:1"], env).certHash!],
    Array(32).fill(2),
  );
  // Empty counts as unset; a bad value is a usage error naming the variable,
  // unless the flag overrides it.
  assert.equal(
    parseClientArgs([URL_], { PINGPONG_CERT_HASH: "" }).certHash,
    undefined,
  );
  assert.throws(() => parseClientArgs([URL_], { PINGPONG_CERT_HASH: "xyz" }), {
    name: "UsageError",
    message: /^\$PINGPONG_CERT_HASH: a certificate hash is 64 hex digits/,
  });
  assert.equal(
    parseClientArgs(["--cert-hash", HASH, URL_], { PINGPONG_CERT_HASH: "xyz" })
      .certHash?.length,
    32,
  );
});

Deno.test("parseClientArgs() rejects bad values with a message naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["-c", "0", URL_], /--count must be at least 1/],
    [["-c", "2.5", URL_], /--count must be a whole number/],
    [["-c", "x", URL_], /--count must be a whole number, got 'x'/],
    [["--interval=-1", URL_], /--interval must be from 0/],
    // A negative value after a space is the flag's value, not a flag.
    [["--count", "-1", URL_], /^--count must be at least 1, got '-1'$/],
    [["-c", "-5", URL_], /^--count must be at least 1, got '-5'$/],
    [["--size", "-1", URL_], /^--size must be from 19 to 65536, got '-1'$/],
    [["-s", "-1", URL_], /^--size must be from 19 to 65536, got '-1'$/],
    [["--interval", "-1", URL_], /^--interval must be from 0 to 86400/],
    [["-i", "-0.5", URL_], /^--interval must be from 0 to 86400/],
    [["--timeout", "-1", URL_], /^--timeout must be from 0.001 to 86400/],
    [["-W", "-1", URL_], /^--timeout must be from 0.001 to 86400/],
    [["--max-retries", "-1", URL_], /^--max-retries must be from 1/],
    [["--retry-max-delay", "-1", URL_], /^--retry-max-delay must be from/],
    [["--dead-after", "-1", URL_], /^--dead-after must be from 0.05/],
    [["-s", "10", URL_], /--size must be from 19 to 65536/],
    [["-W", "0", URL_], /--timeout must be from 0.001/],
    [
      ["-m", "carrier-pigeon", URL_],
      /--mode must be one of stream, datagram, stream-per-ping/,
    ],
    [
      ["--cert-hash", "abc", URL_],
      /--cert-hash: a certificate hash is 64 hex digits/,
    ],
    [["--log-level", "loud", URL_], /--log-level must be one of/],
    [["--bogus", URL_], /^unknown flag --bogus$/],
    [["-c"], /^--count needs a value$/],
    [["--interval", "0x10", URL_], /^--interval must be a number/],
    [[], /missing the server URL/],
    [[URL_, URL_], /expected one URL, got 2/],
    [["http://127.0.0.1:4433/"], /start with https:\/\//],
    [["not a url"], /not a URL/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseClientArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("parseClientArgs() names a flag that took the URL as its value instead of calling the URL missing", () => {
  const secret = "SEKRIT-abc123";
  const cases: [string[], string][] = [
    [["-c", URL_], `--count must be a whole number, got '${URL_}'`],
    [
      ["-t", URL_],
      `--transport must be one of auto, h3, h2, got '${URL_}'`,
    ],
    [["-W", URL_], `--timeout must be a number, got '${URL_}'`],
    [
      ["--token", URL_],
      `missing the server URL: --token took '${URL_}' as its value`,
    ],
    [
      ["-c", `${URL_}?token=${secret}`],
      `--count must be a whole number, got '${URL_}?token=***'`,
    ],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseClientArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.equal(error.message, message);
      return true;
    });
  }
});

Deno.test("parseClientArgs() refuses ping flags with --list instead of ignoring them", () => {
  const cases: [string[], string][] = [
    [["-c", "3"], "--count"],
    [["--echo"], "--echo"],
    [["--token", "t"], "--token"],
    [["-i", "2"], "--interval"],
    [["-s", "100", "-m", "datagram"], "--size, --mode"],
    [
      ["--cert-hash", HASH, "-t", "h2", "-W", "1"],
      "--timeout, --cert-hash, --transport",
    ],
    [["--no-reconnect", "--max-retries", "2"], "--no-reconnect, --max-retries"],
    [
      ["--retry-max-delay", "1", "--dead-after", "1"],
      "--retry-max-delay, --dead-after",
    ],
  ];
  for (const [flags, named] of cases) {
    for (
      const list of [["--list"], ["--list", "--discover", "dns:x.example"]]
    ) {
      assert.throws(() => parseClientArgs([...list, ...flags]), {
        name: "UsageError",
        message: `--list only lists servers: it does not take ${named}`,
      });
    }
  }
  // What --list uses, and the environment's token and pin, are fine.
  const config = parseClientArgs(
    ["--list", "--json", "--discover-timeout", "1", "--instance", "lab"],
    { PINGPONG_TOKEN: "t", PINGPONG_CERT_HASH: HASH },
  );
  assert.equal(config.discovery?.list, true);
});

Deno.test("parseClientArgs() answers --help and --version without a URL", () => {
  assert.equal(parseClientArgs(["--help"]).action, "help");
  assert.equal(parseClientArgs(["-V"]).action, "version");
  // Whatever else is wrong.
  for (
    const args of [
      ["--help", "--log-level", "loud"],
      ["--help", "-c", "x"],
      ["--bogus", "--help"],
      ["-c", "-h"],
    ]
  ) assert.equal(parseClientArgs(args).action, "help", args.join(" "));
});

Deno.test("parseClientArgs() keeps a sub-millisecond interval from meaning back to back", () => {
  assert.equal(parseClientArgs(["-i", "0.0004", URL_]).intervalMs, 1);
  assert.equal(parseClientArgs(["-i", "0", URL_]).intervalMs, 0);
});

Deno.test("the client's --help lists every flag with its default", () => {
  for (
    const flag of [
      "--count",
      "--interval",
      "--size",
      "--timeout",
      "--mode",
      "--cert-hash",
      "--json",
      "--log-level",
      "--log-format",
      "--help",
      "--version",
    ]
  ) {
    assert.ok(CLIENT_HELP.includes(flag), flag);
  }
  assert.match(CLIENT_HELP, /default: 1\)/);
  assert.match(CLIENT_HELP, /default: 64\)/);
  assert.match(
    CLIENT_HELP,
    /--cert-hash HEX[^]{0,160}\(default: \$PINGPONG_CERT_HASH, else the system CA store\)/,
  );
  // Every flag starts in the flag column: "  -c, --count" or "      --json".
  for (
    const line of CLIENT_HELP.split("\n").filter((l) => /^\s+--?\w/.test(l))
  ) {
    assert.match(line, /^ {2}-\w, --|^ {6}--/, line);
  }
});

Deno.test("parseServerUrl() refuses credentials in the URL", () => {
  assert.throws(
    () => parseServerUrl("https://u:p@host:1/"),
    /user name or password/,
  );
  assert.equal(parseServerUrl("https://[::1]:4433/x"), "https://[::1]:4433/x");
});

Deno.test("parseClientArgs() masks a token in the URLs it refuses", () => {
  const secret = "SEKRIT-abc123";
  const cases: [string[], RegExp][] = [
    [[`http://127.0.0.1:4433/pingpong?token=${secret}`], /start with https/],
    [[`127.0.0.1:4433/pingpong?token=${secret}`], /not a URL/],
    [[URL_, `${URL_}?token=${secret}`], /expected one URL, got 2/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseClientArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, message);
      assert.ok(!error.message.includes(secret), error.message);
      assert.match(error.message, /\?token=\*\*\*/);
      return true;
    });
  }
});

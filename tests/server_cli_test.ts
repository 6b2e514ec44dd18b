import assert from "node:assert/strict";
import { UsageError } from "../lib/cli.ts";
import { parseServerArgs, SERVER_HELP } from "../lib/server_cli.ts";

Deno.test("parseServerArgs() applies the documented defaults", () => {
  const config = parseServerArgs([]);
  assert.equal(config.action, "serve");
  assert.equal(config.hostname, "::");
  assert.equal(config.port, 4433);
  assert.equal(config.path, "/pingpong");
  assert.equal(config.certFile, undefined);
  assert.equal(config.keyFile, undefined);
  assert.equal(config.echo, true);
});

Deno.test("parseServerArgs() turns /echo off with --no-echo, and documents it", () => {
  assert.equal(parseServerArgs(["--no-echo"]).echo, false);
  assert.match(
    SERVER_HELP,
    /--no-echo +do not serve the plain WebTransport echo/,
  );
});

Deno.test("parseServerArgs() reads host, port, path, cert and key", () => {
  const config = parseServerArgs([
    "--host",
    "127.0.0.1",
    "-p",
    "0",
    "--path",
    "/x",
    "--cert",
    "c.pem",
    "--key",
    "k.pem",
  ]);
  assert.deepEqual(
    [
      config.hostname,
      config.port,
      config.path,
      config.certFile,
      config.keyFile,
    ],
    ["127.0.0.1", 0, "/x", "c.pem", "k.pem"],
  );
});

Deno.test("parseServerArgs() rejects bad values with a message naming the flag", () => {
  const cases: [string[], RegExp][] = [
    [["--port", "65536"], /--port must be from 0 to 65535/],
    [["--port", "http"], /--port must be a whole number/],
    // A negative value after a space is the flag's value, not a flag.
    [["--port", "-1"], /^--port must be from 0 to 65535, got '-1'$/],
    [["-p", "-1"], /^--port must be from 0 to 65535, got '-1'$/],
    [["--drain-timeout", "-1"], /^--drain-timeout must be from 0 to 3600/],
    [["--health-port", "-1"], /^--health-port must be from 0 to 65535/],
    [["--path", "pingpong"], /--path must start with \//],
    [["--path", "/a b"], /--path must start with \//],
    [["--cert", "c.pem"], /--cert and --key go together/],
    [["--key", "k.pem"], /--cert and --key go together/],
    [["--host", ""], /--host must not be empty/],
    [["extra"], /^unexpected argument 'extra'$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseServerArgs(args), (error: unknown) => {
      assert.ok(error instanceof UsageError, `${args.join(" ")}: ${error}`);
      assert.match(error.message, message);
      return true;
    });
  }
});

Deno.test("the server's --help lists every flag with its default", () => {
  for (
    const flag of [
      "--host",
      "--port",
      "--path",
      "--cert",
      "--key",
      "--log-level",
      "--help",
    ]
  ) {
    assert.ok(SERVER_HELP.includes(flag), flag);
  }
  assert.match(SERVER_HELP, /default: 4433/);
  assert.match(SERVER_HELP, /default: \/pingpong/);
  // The stall limits, with their defaults and how to turn them off.
  assert.match(
    SERVER_HELP,
    /--stall-timeout SEC [^-]*0 = never \(default: 10\)/,
  );
  assert.match(
    SERVER_HELP,
    /--max-stalled N [^-]*0 = no limit\s+\(default: 32\)/,
  );
});

Deno.test("parseServerArgs() answers --help and --version before checking values, as the client does", () => {
  for (
    const args of [
      ["--help", "--port", "x"],
      ["--port", "x", "-h"],
      ["--help", "--bogus"],
      ["--help", "--path", "no-slash", "--cert", "c"],
    ]
  ) {
    assert.equal(parseServerArgs(args).action, "help", args.join(" "));
  }
  assert.equal(parseServerArgs(["-V", "--port", "x"]).action, "version");
  assert.throws(() => parseServerArgs(["--port", "0x50"]), {
    message: "--port must be a whole number, got '0x50'",
  });
});

Deno.test("parseServerArgs() keeps a sub-millisecond --idle-timeout from meaning never", () => {
  assert.equal(
    parseServerArgs(["--idle-timeout", "0.0004"]).limits.idleTimeoutMs,
    1,
  );
  assert.equal(
    parseServerArgs(["--idle-timeout", "0"]).limits.idleTimeoutMs,
    0,
  );
});

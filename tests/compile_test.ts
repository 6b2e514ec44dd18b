/**
 * compile.sh: what can be checked without the denort runtime, which
 * `deno compile` downloads from the internet. No test here claims a binary
 * was built: the flag set comes from `--dry-run`, the entry points run with
 * exactly those flags under `deno run`, and the failure paths are real runs.
 */
import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import {
  expectAllPongs,
  jsonLines,
  rootPath,
  runClient,
  startServer,
} from "./support/processes.ts";
import { scrapeMetrics } from "./support/prometheus.ts";

const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
  "x86_64-pc-windows-msvc",
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function compileSh(
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  const output = await new Deno.Command("bash", {
    args: [rootPath("compile.sh"), ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** One `deno compile` command that `--dry-run` printed. */
interface CompileCommand {
  entry: "server" | "client";
  target: string;
  output: string;
  /** Flags other than --target and --output: what the binary carries. */
  flags: string[];
}

function parseDryRun(stdout: string): CompileCommand[] {
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
      flags: rest,
    };
  });
}

async function dryRun(): Promise<CompileCommand[]> {
  const run = await compileSh(["--dry-run"]);
  assert.equal(run.code, 0, run.stderr);
  return parseDryRun(run.stdout);
}

/** `deno run` flags equal to what `entry`'s binaries carry. */
async function compiledRunFlags(entry: "server" | "client"): Promise<string[]> {
  const command = (await dryRun()).find((c) => c.entry === entry)!;
  return ["run", "--quiet", ...command.flags];
}

function unusedTcpPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

async function files(dir: string): Promise<string[]> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("compile.sh --help documents every target and option", async () => {
  const run = await compileSh(["--help"]);
  assert.equal(run.code, 0, run.stderr);
  for (const target of TARGETS) assert.match(run.stdout, new RegExp(target));
  for (
    const option of [
      "--target",
      "--out",
      "--dry-run",
      "--verbose",
      "--help",
      "DENORT_BIN",
    ]
  ) {
    assert.ok(run.stdout.includes(option), `help lacks ${option}`);
  }
});

Deno.test("compile.sh compiles both entry points for five targets with least permissions", async () => {
  const commands = await dryRun();
  assert.equal(commands.length, 10);
  for (const target of TARGETS) {
    const exe = target.includes("windows") ? ".exe" : "";
    for (const entry of ["server", "client"]) {
      const command = commands.find((c) =>
        c.target === target && c.entry === entry
      );
      assert.ok(command, `no ${entry} for ${target}`);
      assert.equal(command.output, `dist/pingpong-${entry}-${target}${exe}`);
    }
  }
  for (const { entry, flags } of commands) {
    const permissions = flags.filter((flag) =>
      flag.startsWith("--allow") || flag === "-A"
    ).sort();
    assert.deepEqual(
      permissions,
      entry === "server"
        ? [
          "--allow-env",
          "--allow-net",
          "--allow-read",
          "--allow-sys=networkInterfaces,hostname",
          "--allow-write",
        ]
        : [
          "--allow-env",
          "--allow-net",
          "--allow-sys=networkInterfaces",
        ],
    );
    assert.ok(flags.includes("--unstable-net"));
    assert.ok(flags.includes("--no-prompt"));
  }
});

Deno.test("the entry points run with exactly the compiled permission set", async (t) => {
  const serverFlags = await compiledRunFlags("server");
  const clientFlags = await compiledRunFlags("client");
  // Net, files (--cert/--key, --state-dir), the token variable and the
  // interface list (mDNS): nothing else.
  const dir = await Deno.makeTempDir();
  try {
    const certificate = await generateCertificate();
    await Deno.writeTextFile(`${dir}/cert.pem`, certificate.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, certificate.keyPem, {
      mode: 0o600,
    });
    await using server = await startServer({
      runFlags: serverFlags,
      args: [
        "--cert",
        `${dir}/cert.pem`,
        "--key",
        `${dir}/key.pem`,
        "--health-port",
        "0",
      ],
    });
    assert.equal(server.certHash, certificate.hash);
    const health = (await server.waitForLine(/^health on /)).split(" ")[2];
    for (const mode of ["stream", "datagram"]) {
      await t.step(`--mode ${mode}: 20 of 20 pongs`, async () => {
        await expectAllPongs(server.url, server.certHash, {
          mode,
          run: { runFlags: clientFlags },
        });
      });
    }
    // Past 100 streams only if lib/_gc.ts can still force collections
    // (node:v8 setFlagsFromString) under the narrowed permissions.
    await t.step("--mode stream-per-ping: 150 of 150 pongs", async () => {
      const result = await runClient([
        server.url,
        "--cert-hash",
        server.certHash,
        "--count",
        "150",
        "--interval",
        "0",
        "--mode",
        "stream-per-ping",
        "--json",
      ], { runFlags: clientFlags });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(jsonLines(result.stdout).at(-1)!.received, 150);
    });
    await t.step("/metrics counts the 190 pongs", async () => {
      const { samples } = await scrapeMetrics(health);
      assert.equal(samples.get("pingpong_pings_answered_total"), 190);
      assert.equal(
        samples.get("pingpong_certificate_expiry_timestamp_seconds"),
        certificate.notAfter.getTime() / 1000,
      );
    });
    const status = await server.stop("SIGTERM");
    assert.equal(status.code, 0, server.stderr.join("\n"));
    assert.deepEqual(server.stderr, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile.sh names a DENORT_BIN that does not exist in one line and builds nothing", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await compileSh(["--target", "host", "--out", out], {
      DENORT_BIN: `${out}/no-such-denort`,
    });
    assert.equal(run.code, 1);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.match(run.stderr, /^compile\.sh: DENORT_BIN=.*no such file/);
    assert.deepEqual(await files(out), []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile.sh reports a runtime it cannot download in one line and builds nothing", async () => {
  const out = await Deno.makeTempDir();
  // A proxy port nobody listens on: the download fails fast even online.
  const proxy = `http://127.0.0.1:${unusedTcpPort()}`;
  try {
    const run = await compileSh(
      ["--target", "aarch64-unknown-linux-gnu", "--out", out],
      { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, NO_PROXY: "", DENORT_BIN: "" },
    );
    assert.equal(run.code, 1);
    const errors = run.stderr.trim().split("\n");
    assert.equal(errors.length, 1, run.stderr);
    assert.match(
      errors[0],
      /^compile\.sh: no Deno runtime \(denort\) for aarch64-unknown-linux-gnu: .*DENORT_BIN/,
    );
    assert.doesNotMatch(run.stdout, /built/);
    assert.deepEqual(await files(out), []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile.sh keeps no binary when DENORT_BIN is the deno CLI rather than a runtime", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await compileSh(["--target", "host", "--out", out], {
      DENORT_BIN: Deno.execPath(),
    });
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /^compile\.sh: pingpong-server-\S+ does not run pingpong .*not the deno CLI\?\n$/,
    );
    assert.doesNotMatch(run.stdout, /built/);
    assert.deepEqual(await files(out), []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("compile.sh rejects usage errors with exit status 2", async (t) => {
  await t.step("an unknown target", async () => {
    const run = await compileSh(["--target", "riscv64-linux", "--dry-run"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown target 'riscv64-linux'; one of: /);
  });
  await t.step("DENORT_BIN with more than one target", async () => {
    const run = await compileSh(["--dry-run"], { DENORT_BIN: "/bin/true" });
    assert.equal(run.code, 2);
    assert.match(run.stderr, /DENORT_BIN is a runtime for one target/);
  });
  await t.step("an unknown option", async () => {
    const run = await compileSh(["--fast"]);
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown option '--fast'/);
  });
});

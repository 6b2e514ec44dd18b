/**
 * compile.sh: what can be checked without the denort runtime, which
 * `deno compile` downloads from the internet. No test here claims a binary
 * was built: the flag set comes from `--dry-run`, the entry points run with
 * exactly those flags under `deno run`, and the failure paths are real runs.
 */
import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { compiledRunFlags, compileSh, dryRun } from "./support/compile.ts";
import {
  expectAllPongs,
  jsonLines,
  rootPath,
  runClient,
  runCommand,
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
          "--allow-sys=networkInterfaces,hostname,gid",
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
  for (const { buildFlags, flags } of commands) {
    assert.deepEqual(buildFlags, ["--exclude-unused-npm"]);
    assert.ok(flags.includes("--frozen"), "deno.lock decides every version");
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

/** The executable format and machine of each target, as compile.sh names them. */
const FORMATS: Record<string, string> = {
  "x86_64-unknown-linux-gnu": "ELF x86-64",
  "aarch64-unknown-linux-gnu": "ELF aarch64",
  "x86_64-apple-darwin": "Mach-O x86-64",
  "aarch64-apple-darwin": "Mach-O arm64",
  "x86_64-pc-windows-msvc": "PE x86-64",
};

/** Text only denort carries (its message when run without a program). */
const DENORT_MARK = "Could not find standalone binary section";

/**
 * The smallest header that makes a file look like an executable for
 * `target` (ELF e_machine, Mach-O cputype, PE machine), followed by `text`:
 * not a runnable program, which is the point.
 */
function fakeExecutable(target: string, text = ""): Uint8Array {
  const header = new Uint8Array(256);
  const view = new DataView(header.buffer);
  const format = FORMATS[target];
  if (format.startsWith("ELF")) {
    header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]); // 64-bit, little-endian
    view.setUint16(16, 2, true); // ET_EXEC
    view.setUint16(18, format.endsWith("x86-64") ? 0x3e : 0xb7, true);
  } else if (format.startsWith("Mach-O")) {
    view.setUint32(0, 0xfeedfacf, true); // MH_MAGIC_64
    view.setUint32(
      4,
      format.endsWith("x86-64") ? 0x01000007 : 0x0100000c,
      true,
    );
  } else {
    header.set([0x4d, 0x5a]); // MZ
    view.setUint32(0x3c, 0x80, true);
    header.set([0x50, 0x45, 0, 0], 0x80); // PE\0\0
    view.setUint16(0x84, 0x8664, true);
  }
  const bytes = new TextEncoder().encode(text);
  const file = new Uint8Array(header.length + bytes.length);
  file.set(header);
  file.set(bytes, header.length);
  return file;
}

/** A target whose binaries this machine cannot run. */
function foreignTarget(): string {
  return TARGETS.find((t) => FORMATS[t] !== FORMATS[Deno.build.target])!;
}

/**
 * Runs compile.sh with DENORT_BIN set and asserts the one-line refusal:
 * exit 1, nothing in the output directory, never "built".
 */
async function expectRefusal(
  target: string,
  denort: string | Uint8Array,
  message: RegExp,
): Promise<string> {
  const out = await Deno.makeTempDir();
  const scratch = await Deno.makeTempDir();
  try {
    let path = denort as string;
    if (denort instanceof Uint8Array) {
      path = `${scratch}/denort`;
      await Deno.writeFile(path, denort, { mode: 0o755 });
    }
    const run = await compileSh(["--target", target, "--out", out], {
      DENORT_BIN: path,
    });
    assert.equal(run.code, 1, run.stderr);
    const lines = run.stderr.trim().split("\n");
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^compile\.sh: DENORT_BIN=/);
    assert.match(lines[0], message);
    assert.doesNotMatch(run.stdout, /built/);
    assert.deepEqual(await files(out), []);
    return lines[0];
  } finally {
    await Deno.remove(out, { recursive: true });
    await Deno.remove(scratch, { recursive: true });
  }
}

Deno.test("compile.sh refuses the deno CLI as DENORT_BIN for another machine, before building", async () => {
  const target = foreignTarget();
  await expectRefusal(
    target,
    Deno.execPath(),
    new RegExp(
      `is ${FORMATS[Deno.build.target]}, but ${target} needs ${
        FORMATS[target]
      }$`,
    ),
  );
});

Deno.test("compile.sh refuses the deno CLI as DENORT_BIN for this machine: it is not denort", async () => {
  await expectRefusal(
    "host",
    Deno.execPath(),
    /is the deno CLI, not the denort runtime/,
  );
});

Deno.test("compile.sh reads the format and machine of a DENORT_BIN for every target", async (t) => {
  for (const target of TARGETS) {
    await t.step(`${FORMATS[target]} is taken for ${target} only`, async () => {
      // The right header passes the format check and meets the next one.
      await expectRefusal(
        target,
        fakeExecutable(target),
        /is not a denort runtime \(it lacks denort's loader/,
      );
      const other = TARGETS.find((t) => FORMATS[t] !== FORMATS[target])!;
      await expectRefusal(
        other,
        fakeExecutable(target),
        new RegExp(
          `is ${FORMATS[target]}, but ${other} needs ${FORMATS[other]}$`,
        ),
      );
    });
  }
});

Deno.test("compile.sh names a DENORT_BIN that is no executable, and why, in one line", async () => {
  await expectRefusal(
    foreignTarget(),
    new TextEncoder().encode("my-hostname\n"),
    /is not an executable \(neither ELF, Mach-O nor PE\): it must be the denort runtime for /,
  );
});

Deno.test("compile.sh passes on deno compile's own cause when a DENORT_BIN breaks the build", async () => {
  // Header and denort's text pass the checks; deno compile then fails to
  // write the program into a file that has no program headers.
  const target = "aarch64-unknown-linux-gnu";
  const line = await expectRefusal(
    target,
    fakeExecutable(target, `error: ${DENORT_MARK}.`),
    new RegExp(
      `is not a usable denort runtime for ${target}: Writing deno compile executable: Invalid object: `,
    ),
  );
  assert.doesNotMatch(line, /temporary file/);
});

/** A module of `deno info --json`. */
interface InfoModule {
  specifier: string;
  kind?: string;
  dependencies?: {
    code?: { specifier: string };
  }[];
}

/**
 * The npm packages `entry`.ts reaches at run time: `deno info`'s graph
 * followed along code imports (static and dynamic), not type-only ones.
 */
async function runtimeNpmPackages(
  entry: "server" | "client",
): Promise<Set<string>> {
  const info = await runCommand(Deno.execPath(), [
    "info",
    "--json",
    rootPath(`${entry}.ts`),
  ]);
  assert.equal(info.code, 0, info.stderr);
  const graph = JSON.parse(info.stdout);
  const modules = new Map<string, InfoModule>(
    graph.modules.map((m: InfoModule) => [m.specifier, m]),
  );
  // deno info resolves npm: specifiers to npm:/name@version.
  const redirects: Record<string, string> = graph.redirects ?? {};
  const packages = new Set<string>();
  const seen = new Set<string>();
  const queue = [...graph.roots as string[]];
  while (queue.length > 0) {
    let specifier = queue.pop()!;
    specifier = redirects[specifier] ?? specifier;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    const npm = /^npm:\/?(@?[^@]+)@/.exec(specifier);
    if (npm) {
      packages.add(npm[1]);
      continue;
    }
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      if (dependency.code) queue.push(dependency.code.specifier);
    }
  }
  return packages;
}

Deno.test("the binaries embed only the npm packages the CLIs import, none of the tests'", async (t) => {
  // deno.json lists test-only packages too; the build must leave them out.
  const config = JSON.parse(await Deno.readTextFile(rootPath("deno.json")));
  const commands = (await dryRun()).filter((c) =>
    c.target === Deno.build.target
  );
  const out = await Deno.makeTempDir();
  try {
    for (const command of commands) {
      await t.step(`${command.entry}.ts`, async () => {
        const imported = await runtimeNpmPackages(command.entry);
        const testOnly = Object.keys(config.imports).filter((name) =>
          !imported.has(name) && !name.startsWith("@types/")
        );
        // The packages the audit found 27 MB of in every binary.
        for (const name of ["playwright-core", "kubernetes-models", "yaml"]) {
          assert.ok(
            testOnly.includes(name),
            `${name} is imported by ${command.entry}.ts`,
          );
        }
        // The real build, with compile.sh's flags, on the deno CLI as base
        // binary: its listing of embedded files is what denort would carry.
        const run = await runCommand(Deno.execPath(), [
          "compile",
          ...command.buildFlags,
          ...command.flags,
          "--target",
          command.target,
          "--output",
          `${out}/${command.entry}`,
          rootPath(`${command.entry}.ts`),
        ], {
          env: { DENORT_BIN: Deno.execPath(), NO_COLOR: "1" },
          timeoutMs: 120_000,
        });
        assert.equal(run.code, 0, run.stderr);
        const listing = run.stdout + run.stderr;
        assert.match(listing, /\.deno_compile_node_modules/);
        for (const name of imported) {
          assert.ok(
            listing.includes(name.split("/").at(-1)!),
            `${name} missing`,
          );
        }
        for (const name of [...testOnly, "ajv", "fast-check"]) {
          const escaped = name.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
          assert.doesNotMatch(
            listing,
            new RegExp(`[\\s─┬]${escaped}(/|\\s)`),
            `${name} embedded`,
          );
        }
      });
      await Deno.remove(`${out}/${command.entry}`).catch(() => {});
    }
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

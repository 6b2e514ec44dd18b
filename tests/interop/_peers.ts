/**
 * Independent WebTransport peers for the interop tests: each is installed by
 * the test that needs it (pip, cargo, apt), cached under a work folder, and
 * run as a real process on loopback.
 *
 * The work folder is `.interop/` at the repository root (git-ignored), or
 * `$PINGPONG_INTEROP_DIR`, so CI can keep it between runs; a fresh machine
 * fills it from the registries.
 *
 * @module
 */
import assert from "node:assert/strict";
import { generateCertificate } from "../../lib/certificates.ts";
import { TextLineStream } from "../../lib/text_lines.ts";
import { CHROMIUM_PATH } from "../support/chromium.ts";
import { rootPath, runCommand } from "../support/processes.ts";

/** The aioquic release the Python peer is pinned to. */
export const AIOQUIC_VERSION = "1.7.2";

/** Where peers are installed and built. */
export const WORK_DIR = Deno.env.get("PINGPONG_INTEROP_DIR") ??
  rootPath(".interop");

/** An install or build step gets this long (a cold Rust build on 2 cores is the slowest). */
const INSTALL_TIMEOUT_MS = 15 * 60_000;

/** Runs a peer's install step or program to completion (the shared helper). */
export const run = runCommand;

async function mustRun(
  what: string,
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Promise<string> {
  const started = performance.now();
  const result = await run(cmd, args, { env, timeoutMs: INSTALL_TIMEOUT_MS });
  assert.equal(
    result.code,
    0,
    `${what} failed (${cmd} ${args.join(" ")}):\n${result.stderr.slice(-4000)}`,
  );
  const seconds = (performance.now() - started) / 1000;
  if (seconds > 5) console.error(`${what}: ${seconds.toFixed(1)} s`);
  return result.stdout;
}

/**
 * A Python with aioquic {@linkcode AIOQUIC_VERSION}, in a virtualenv under
 * the work folder (made on first use).
 *
 * @returns the path of its `python`.
 */
export async function ensureAioquic(): Promise<string> {
  const venv = `${WORK_DIR}/venv-aioquic`;
  const python = `${venv}/bin/python`;
  const probe = await run(python, [
    "-c",
    "import aioquic; print(aioquic.__version__)",
  ]).catch(() => undefined);
  if (probe?.code === 0 && probe.stdout.trim() === AIOQUIC_VERSION) {
    return python;
  }
  await mustRun("python venv", "python3", ["-m", "venv", venv]);
  await mustRun("pip install aioquic", `${venv}/bin/pip`, [
    "install",
    "--disable-pip-version-check",
    "--quiet",
    `aioquic==${AIOQUIC_VERSION}`,
  ]);
  return python;
}

/**
 * The wtransport peer (tests/interop/wtransport_peer), built by cargo from
 * its Cargo.lock; cargo makes a warm build a no-op.
 *
 * @returns the path of its binary.
 */
export async function ensureWtransportPeer(): Promise<string> {
  const target = `${WORK_DIR}/cargo-target`;
  await mustRun("cargo build of wtransport_peer", "cargo", [
    "build",
    "--release",
    "--locked",
    "--quiet",
    "--manifest-path",
    rootPath("tests/interop/wtransport_peer/Cargo.toml"),
    "--target-dir",
    target,
  ]);
  return `${target}/release/wtransport_peer`;
}

/**
 * Debian's chromium at {@linkcode CHROMIUM_PATH}, installed with apt-get if
 * missing (never a browser download of playwright's own); start it with
 * `launchChromium` (tests/support/chromium.ts).
 *
 * @returns its path.
 */
export async function ensureChromium(): Promise<string> {
  const present = await Deno.stat(CHROMIUM_PATH).then(() => true, () => false);
  if (!present) {
    await mustRun("apt-get update", "apt-get", ["update"]);
    await mustRun("apt-get install chromium", "apt-get", [
      "install",
      "-y",
      "chromium",
    ], { DEBIAN_FRONTEND: "noninteractive" });
  }
  return CHROMIUM_PATH;
}

/** A certificate on disk, as peers load it. */
export interface CertificateFiles extends AsyncDisposable {
  /** PEM certificate file. */
  certFile: string;
  /** PEM private key file. */
  keyFile: string;
  /** SHA-256 of the certificate, 64 hex digits. */
  hash: string;
}

/**
 * Writes a fresh pinnable certificate (ECDSA P-256, 13 days) to a temp folder.
 *
 * @example
 * ```ts ignore
 * await using cert = await writeCertificate();
 * ```
 */
export async function writeCertificate(): Promise<CertificateFiles> {
  const bundle = await generateCertificate();
  const dir = await Deno.makeTempDir({ prefix: "pingpong-interop-" });
  const certFile = `${dir}/cert.pem`;
  const keyFile = `${dir}/key.pem`;
  await Deno.writeTextFile(certFile, bundle.certPem);
  await Deno.writeTextFile(keyFile, bundle.keyPem);
  return {
    certFile,
    keyFile,
    hash: bundle.hash,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A peer server that printed `listening on PORT`. */
export interface PeerServer extends AsyncDisposable {
  /** Its UDP port on 127.0.0.1. */
  port: number;
  /** Everything it wrote to stderr so far. */
  stderr: string[];
}

/**
 * Starts a peer server and resolves once it printed `listening on PORT`.
 *
 * @example
 * ```ts ignore
 * await using peer = await startPeerServer(binary, ["server", cert, key]);
 * ```
 */
export async function startPeerServer(
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<PeerServer> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  let onPort: (port: number) => void = () => {};
  const listening = new Promise<number>((resolve) => onPort = resolve);
  const pumps = Promise.allSettled([
    (async () => {
      for await (const line of _lines(child.stderr)) stderr.push(line);
    })(),
    (async () => {
      for await (const line of _lines(child.stdout)) {
        const match = /^listening on (\d+)$/.exec(line);
        if (match) onPort(Number(match[1]));
      }
    })(),
  ]);
  const stop = async () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
    await child.status;
    await pumps;
  };
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const port = await Promise.race([
      listening,
      child.status.then((status) => {
        throw new Error(`peer exited with ${status.code} before listening`);
      }),
      new Promise<never>((_, reject) =>
        timer = setTimeout(
          () => reject(new Error(`peer not listening in ${timeoutMs} ms`)),
          timeoutMs,
        )
      ),
    ]);
    return { port, stderr, [Symbol.asyncDispose]: stop };
  } catch (error) {
    await stop();
    throw new Error(
      `${cmd}: ${(error as Error).message}\n${stderr.join("\n")}`,
      { cause: error },
    );
  } finally {
    clearTimeout(timer);
  }
}

function _lines(stream: ReadableStream<Uint8Array>): ReadableStream<string> {
  return stream.pipeThrough(new TextDecoderStream()).pipeThrough(
    new TextLineStream(),
  );
}

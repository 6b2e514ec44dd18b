/**
 * `pingpong-server`: serves WebTransport over HTTP/3 and answers every PING
 * with a PONG. Parses flags and wires lib/ together.
 *
 * @module
 */
import { AccessPolicy, TOKEN_ENV } from "./lib/auth.ts";
import {
  type CertificateBundle,
  CertificateError,
  KeyMismatchError,
  loadCertificate,
  pinningProblem,
} from "./lib/certificates.ts";
import {
  applyLogFlags,
  ExitCode,
  ExitError,
  readEnv,
  runMain,
  VERSION,
} from "./lib/cli.ts";
import { StateDirError, storedCertificateSource } from "./lib/cert_store.ts";
import { assertPrivateKeyFile } from "./lib/key_file.ts";
import { logger } from "./lib/log.ts";
import type { PingPongServer } from "./lib/server_core.ts";
import { startWithBindRetry } from "./lib/server_lifecycle.ts";
import { formatStatsLine, STATS_SIGNAL } from "./lib/stats_line.ts";
import {
  type Advertising,
  checkAdvertising,
  startAdvertising,
} from "./lib/discovery_cli.ts";
import {
  HealthBindError,
  type HealthEndpoint,
  serveHealth,
  serverMetrics,
} from "./lib/health.ts";
import {
  parseServerArgs,
  SERVER_HELP,
  type ServerConfig,
} from "./lib/server_cli.ts";
import { BindError, formatSeconds } from "./lib/transport.ts";

const log = logger("server");

async function readCertificate(
  config: ServerConfig,
): Promise<CertificateBundle | undefined> {
  if (config.certFile === undefined || config.keyFile === undefined) {
    return undefined;
  }
  const read = async (flag: string, file: string) => {
    try {
      return await Deno.readTextFile(file);
    } catch (cause) {
      throw new ExitError(
        ExitCode.USAGE,
        `cannot read ${flag} ${file}: ${(cause as Error).message}`,
        {
          cause,
        },
      );
    }
  };
  const certPem = await read("--cert", config.certFile);
  const keyPem = await read("--key", config.keyFile);
  try {
    await assertPrivateKeyFile(config.keyFile);
  } catch (cause) {
    throw new ExitError(ExitCode.USAGE, (cause as Error).message, { cause });
  }
  let certificate: CertificateBundle;
  try {
    certificate = await loadCertificate(certPem, keyPem);
  } catch (cause) {
    throw new ExitError(
      ExitCode.USAGE,
      cause instanceof KeyMismatchError
        ? `certificate ${config.certFile} does not match key ${config.keyFile}: ${cause.message}`
        : `${
          cause instanceof CertificateError && cause.part === "key"
            ? config.keyFile
            : config.certFile
        }: ${(cause as Error).message}`,
      { cause },
    );
  }
  const problem = pinningProblem(certificate);
  if (problem) {
    log.warning(
      "{file}: {problem}; browsers will refuse its --cert-hash (a CA-issued certificate needs none)",
      { file: config.certFile, problem },
    );
  }
  return certificate;
}

function printCertificate(certificate: CertificateBundle): void {
  console.log(`cert-hash sha-256 ${certificate.hash}`);
}

async function main(args: string[]): Promise<number> {
  const config = parseServerArgs(args, readEnv([TOKEN_ENV]));
  if (config.action === "help") {
    console.log(SERVER_HELP);
    return ExitCode.OK;
  }
  if (config.action === "version") {
    console.log(`pingpong-server ${VERSION}`);
    return ExitCode.OK;
  }
  applyLogFlags(config);
  const discovery = config.discovery ??
    { advertise: false, name: undefined, interfaces: [] };
  // A bad --interface is a usage error: say so before binding the port.
  checkAdvertising(discovery, config.hostname);
  const certificate = await readCertificate(config);
  let server: PingPongServer;
  let advertising: Advertising | undefined;
  try {
    server = await startWithBindRetry({
      hostname: config.hostname,
      port: config.port,
      path: config.path,
      echo: config.echo,
      certificate,
      generateCertificate: config.stateDir === undefined
        ? undefined
        : storedCertificateSource(config.stateDir),
      maxFrameSize: config.maxMessageSize,
      limits: config.limits,
      handshakeTimeoutMs: config.handshakeTimeoutMs,
      access: new AccessPolicy({
        token: config.token,
        allowOrigins: config.allowOrigins,
      }),
      onCertificate: (renewed) => {
        printCertificate(renewed);
        advertising?.updateHash(renewed.hash);
      },
    });
  } catch (error) {
    if (error instanceof BindError) {
      throw new ExitError(ExitCode.LOSS, error.message, { cause: error });
    }
    if (error instanceof StateDirError) {
      // Like a --key file that cannot be read or is open to others: the
      // operator's to fix, so a usage error.
      throw new ExitError(ExitCode.USAGE, error.message, { cause: error });
    }
    throw error;
  }
  let draining = false;
  let health: HealthEndpoint | undefined;
  if (config.healthPort !== undefined) {
    try {
      health = serveHealth({
        hostname: config.hostname,
        port: config.healthPort,
        source: {
          ready: () => !draining && !server.stopping,
          metrics: () => serverMetrics(server, draining),
        },
      });
    } catch (error) {
      await server.shutdown(0);
      if (!(error instanceof HealthBindError)) throw error;
      throw new ExitError(ExitCode.LOSS, error.message, { cause: error });
    }
  }
  const stop = Promise.withResolvers<Deno.Signal>();
  const again = Promise.withResolvers<void>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  let received = 0;
  const handlers = signals.map((signal) => {
    const handler = () =>
      ++received === 1 ? stop.resolve(signal) : again.resolve();
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  let reports = 0;
  const report = () =>
    console.log(formatStatsLine(++reports, server, Deno.memoryUsage()));
  Deno.addSignalListener(STATS_SIGNAL, report);
  console.log(`listening on ${server.url}`);
  printCertificate(server.certificate);
  console.log(
    `browser page ${new URL(
      "/",
      server.url,
    )} (HTTP/2 on TCP ${server.addr.port} too)`,
  );
  try {
    advertising = await startAdvertising(
      discovery,
      server,
      config.path,
      (line) => console.log(line),
    );
  } catch (error) {
    await server.shutdown();
    throw error;
  }
  if (health) console.log(`health on ${health.url}`);
  const signal = await stop.promise;
  draining = true;
  // Goodbye first: browsers should stop finding a server that is leaving,
  // as load balancers stop sending to it while readiness is off.
  await advertising?.close();
  if (config.drainDelayMs > 0) {
    // Readiness is off: load balancers stop sending new flows while the
    // sessions already here keep their pongs.
    console.log(
      `${signal}: draining for ${formatSeconds(config.drainDelayMs)}`,
    );
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      again.promise,
      new Promise((resolve) =>
        timer = setTimeout(resolve, config.drainDelayMs)
      ),
    ]);
    clearTimeout(timer);
  }
  console.log(`${signal}: closing ${server.sessionCount} session(s)`);
  await server.shutdown(config.drainTimeoutMs);
  await health?.close();
  for (const [name, handler] of handlers) {
    Deno.removeSignalListener(name, handler);
  }
  Deno.removeSignalListener(STATS_SIGNAL, report);
  return ExitCode.OK;
}

if (import.meta.main) {
  Deno.exit(
    await runMain(
      "pingpong-server",
      Deno.args,
      () => main(Deno.args),
      ExitCode.LOSS,
    ),
  );
}

/**
 * `pingpong-server`: serves WebTransport over HTTP/3 and answers every PING
 * with a PONG. Parses flags and wires lib/ together.
 *
 * @module
 */
import { type CertificateBundle, loadCertificate } from "./lib/certificates.ts";
import {
  applyLogFlags,
  ExitCode,
  ExitError,
  runMain,
  VERSION,
} from "./lib/cli.ts";
import { PingPongServer } from "./lib/server_core.ts";
import {
  parseServerArgs,
  SERVER_HELP,
  type ServerConfig,
} from "./lib/server_cli.ts";
import { BindError } from "./lib/transport.ts";

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
    return await loadCertificate(certPem, keyPem);
  } catch (cause) {
    throw new ExitError(
      ExitCode.USAGE,
      `${config.certFile}: ${(cause as Error).message}`,
      { cause },
    );
  }
}

function printCertificate(certificate: CertificateBundle): void {
  console.log(`cert-hash sha-256 ${certificate.hash}`);
}

async function main(args: string[]): Promise<number> {
  const config = parseServerArgs(args);
  if (config.action === "help") {
    console.log(SERVER_HELP);
    return ExitCode.OK;
  }
  if (config.action === "version") {
    console.log(`pingpong-server ${VERSION}`);
    return ExitCode.OK;
  }
  applyLogFlags(config);
  const certificate = await readCertificate(config);
  let server: PingPongServer;
  try {
    server = await PingPongServer.start({
      hostname: config.hostname,
      port: config.port,
      path: config.path,
      certificate,
      onCertificate: printCertificate,
    });
  } catch (error) {
    if (error instanceof BindError) {
      throw new ExitError(ExitCode.LOSS, error.message, { cause: error });
    }
    throw error;
  }
  const stop = Promise.withResolvers<Deno.Signal>();
  const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
  const handlers = signals.map((signal) => {
    const handler = () => stop.resolve(signal);
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  console.log(`listening on ${server.url}`);
  printCertificate(server.certificate);
  console.log(
    `browser page ${new URL(
      "/",
      server.url,
    )} (HTTP/2 on TCP ${server.addr.port} too)`,
  );
  const signal = await stop.promise;
  console.log(`${signal}: closing ${server.sessionCount} session(s)`);
  await server.shutdown();
  for (const [name, handler] of handlers) {
    Deno.removeSignalListener(name, handler);
  }
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

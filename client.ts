/**
 * `pingpong-client`: pings a pingpong server over WebTransport and reports
 * round-trip times like ping(8). Parses flags and wires lib/ together.
 *
 * @module
 */
import {
  CLIENT_HELP,
  type ClientConfig,
  parseClientArgs,
} from "./lib/client_cli.ts";
import {
  applyLogFlags,
  ExitCode,
  ExitError,
  runMain,
  UsageError,
  VERSION,
} from "./lib/cli.ts";
import { CloseCode } from "./lib/codec.ts";
import { runPings, SessionClosedError } from "./lib/pinger.ts";
import { Reporter } from "./lib/report.ts";
import { RttStats } from "./lib/stats.ts";
import { ConnectError, connectWebTransport } from "./lib/transport.ts";

async function main(args: string[]): Promise<number> {
  const config = parseClientArgs(args);
  if (config.action === "help") {
    console.log(CLIENT_HELP);
    return ExitCode.OK;
  }
  if (config.action === "version") {
    console.log(`pingpong-client ${VERSION}`);
    return ExitCode.OK;
  }
  applyLogFlags(config);
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", interrupt);
  try {
    return await ping(config, controller.signal);
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
  }
}

async function ping(
  config: ClientConfig,
  signal: AbortSignal,
): Promise<number> {
  const reporter = new Reporter(config.json, (line) => console.log(line));
  let connected;
  try {
    connected = await connectWebTransport(config.url, {
      certHash: config.certHash,
      timeoutMs: config.timeoutMs,
      signal,
    });
  } catch (error) {
    if (error instanceof ConnectError) {
      throw new ExitError(ExitCode.USAGE, error.message, { cause: error });
    }
    throw error;
  }
  const { session, handshakeMs } = connected;
  reporter.report({
    type: "start",
    url: config.url,
    mode: config.mode,
    size: config.size,
    handshakeMs,
  });
  const stats = new RttStats();
  let failure: SessionClosedError | undefined;
  try {
    await runPings(session, {
      mode: config.mode,
      echo: config.echo,
      count: config.count,
      intervalMs: config.intervalMs,
      size: config.size,
      timeoutMs: config.timeoutMs,
      signal,
      stats,
      onReply: (seq, rttMs, bytes) =>
        reporter.report({ type: "pong", seq, rttMs, bytes }),
      onTimeout: (seq) => reporter.report({ type: "timeout", seq }),
      onError: (code, reason) =>
        reporter.report({ type: "error", code, reason }),
    });
  } catch (error) {
    if (error instanceof RangeError) {
      throw new UsageError(error.message, { cause: error });
    }
    if (!(error instanceof SessionClosedError)) throw error;
    failure = error;
  } finally {
    await closeSession(session);
  }
  if (failure?.closeCode === CloseCode.NOT_FOUND) {
    throw new ExitError(
      ExitCode.USAGE,
      `server refused path ${new URL(config.url).pathname}: ${
        failure.reason || "not found"
      }`,
    );
  }
  const summary = stats.summary();
  reporter.report({ type: "summary", url: config.url, summary, handshakeMs });
  if (failure) {
    throw new ExitError(ExitCode.USAGE, failure.message, { cause: failure });
  }
  return summary.received === summary.transmitted ? ExitCode.OK : ExitCode.LOSS;
}

/** Closes `session` and gives the close a moment to reach the server. */
async function closeSession(session: WebTransport): Promise<void> {
  try {
    session.close({ closeCode: CloseCode.NORMAL, reason: "done" });
  } catch {
    return; // already closed by the server: nothing left to release
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    session.closed.catch(() => {}),
    new Promise((resolve) => timer = setTimeout(resolve, 250)),
  ]);
  clearTimeout(timer);
}

if (import.meta.main) {
  Deno.exit(
    await runMain(
      "pingpong-client",
      Deno.args,
      () => main(Deno.args),
      ExitCode.USAGE,
    ),
  );
}

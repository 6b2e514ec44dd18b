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
  readEnv,
  runMain,
  UsageError,
  VERSION,
} from "./lib/cli.ts";
import { CloseCode } from "./lib/codec.ts";
import {
  redactToken,
  refusalMessage,
  TOKEN_ENV,
  withToken,
} from "./lib/auth.ts";
import {
  isRefusal,
  ServiceMismatchError,
  SessionClosedError,
} from "./lib/pinger.ts";
import { pingWithReconnect, ReconnectFailedError } from "./lib/reconnect.ts";
import {
  CERT_HASH_ENV,
  discoverTargets,
  formatDiscovered,
  listServers,
} from "./lib/discovery_cli.ts";
import { Reporter } from "./lib/report.ts";
import { ConnectError } from "./lib/transport.ts";

async function main(args: string[]): Promise<number> {
  const config = parseClientArgs(args, readEnv([TOKEN_ENV, CERT_HASH_ENV]));
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
    if (config.discovery?.list) {
      return await listServers(
        config.discovery,
        discoverRun(config, controller.signal),
      );
    }
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
  // --discover / --server: the servers found, in order, go to the ping loop,
  // which connects to the first that answers (with the retry policy, the
  // token and --transport, like any session) and fails over to the others.
  const discovery = config.discovery;
  const found = discovery
    ? await discoverTargets(discovery, discoverRun(config, signal))
    : undefined;
  const servers = (found ?? [{ url: config.url, certHash: config.certHash }])
    .map((server) => ({
      url: withToken(server.url, config.token),
      certHash: server.certHash,
    }));
  // The token stays out of everything printed, even if typed into the URL.
  let shownUrl = redactToken(servers[0].url);
  let result;
  try {
    result = await pingWithReconnect({
      url: servers[0].url,
      certHash: servers[0].certHash,
      connectTimeoutMs: config.timeoutMs,
      servers: servers.slice(1),
      retryFirst: found !== undefined,
      transport: config.transport,
      mode: config.mode,
      echo: config.echo,
      count: config.count,
      intervalMs: config.intervalMs,
      size: config.size,
      timeoutMs: config.timeoutMs,
      signal,
      policy: {
        enabled: config.reconnect,
        maxRetries: config.maxRetries,
        maxDelayMs: config.retryMaxDelayMs,
        deadAfterMs: config.deadAfterMs,
      },
      onConnected: (handshakeMs, transport, url) => {
        shownUrl = redactToken(url);
        const target = found?.[servers.findIndex((s) => s.url === url)];
        if (discovery && target) {
          console.log(formatDiscovered(target, discovery.source, config.json));
        }
        reporter.report({
          type: "start",
          transport,
          url: shownUrl,
          mode: config.mode,
          size: config.size,
          handshakeMs,
        });
      },
      onReply: (seq, rttMs, bytes) =>
        reporter.report({ type: "pong", seq, rttMs, bytes }),
      onTimeout: (seq) => reporter.report({ type: "timeout", seq }),
      onError: (code, reason) =>
        reporter.report({ type: "error", code, reason }),
      onDisconnect: (reason) => reporter.report({ type: "disconnect", reason }),
      onReconnect: (info) => reporter.report({ type: "reconnect", ...info }),
    });
  } catch (error) {
    throw exitErrorFor(error, shownUrl);
  }
  const { stats, handshakeMs, failure } = result;
  const summary = stats.summary();
  // A refusal is not a loss: the pings in flight were taken back, and a
  // server that refused the session at once was never "connected".
  if (failure instanceof SessionClosedError && isRefusal(failure.closeCode)) {
    reporter.discard();
  } else reporter.flush();
  // A run cut short still reports what it measured (as ping(8) does), then
  // the one line that says why it ended.
  if (!failure || summary.transmitted > 0) {
    reporter.report({ type: "summary", url: shownUrl, summary, handshakeMs });
  }
  if (failure) throw exitErrorFor(failure, shownUrl);
  return summary.received === summary.transmitted ? ExitCode.OK : ExitCode.LOSS;
}

/** The one line and exit code for what ended a run early. */
function exitErrorFor(error: unknown, url: string): unknown {
  if (error instanceof RangeError) {
    return new UsageError(error.message, { cause: error });
  }
  if (error instanceof SessionClosedError || error instanceof ConnectError) {
    if (error.closeCode === CloseCode.NOT_FOUND) {
      return new ExitError(
        ExitCode.USAGE,
        `server refused path ${new URL(url).pathname}: ${
          error.reason || "not found"
        }`,
      );
    }
    const refused = refusalMessage(error.closeCode, error.reason);
    if (refused) {
      return new ExitError(ExitCode.USAGE, refused, { cause: error });
    }
  }
  if (
    error instanceof ConnectError || error instanceof SessionClosedError ||
    error instanceof ReconnectFailedError ||
    error instanceof ServiceMismatchError
  ) {
    return new ExitError(ExitCode.USAGE, error.message, { cause: error });
  }
  return error;
}

function discoverRun(config: ClientConfig, signal: AbortSignal) {
  return {
    certHash: config.certHash,
    print: (line: string) => console.log(line),
    json: config.json,
    signal,
    sendsToken: config.action === "ping" && config.token !== undefined,
  };
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

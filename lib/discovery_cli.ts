/**
 * Discovery on the command lines: the client's `--discover`, `--list`,
 * `--server` and the server's `--no-advertise`, `--name`, `--interface`;
 * and the glue the entry points call (browse and connect, advertise).
 *
 * @module
 */
import { ExitCode, ExitError, parseSeconds, UsageError } from "./cli.ts";
import { PROTOCOL_VERSION } from "./codec.ts";
import {
  DiscoveryError,
  formatInstance,
  instanceTargets,
  parseServerList,
  srvTargets,
  staticTargets,
  type Target,
} from "./discovery.ts";
import {
  instanceNameProblem,
  localHostLabel,
  type ServiceInfo,
} from "./dns_sd.ts";
import {
  browse,
  MdnsAdvertiser,
  MdnsError,
  type MdnsInterface,
  selectInterfaces,
} from "./mdns.ts";
import { logger } from "./log.ts";
import type { PingPongServer } from "./server_core.ts";
import { formatHostPort } from "./transport.ts";

const log = logger("discovery");

/**
 * Environment variable holding the hash to pin when `--cert-hash` is not
 * given, wherever the client connects: a URL, SRV and static targets, and
 * over the hash mDNS advertises. Read once, by the client's flag parser.
 */
export const CERT_HASH_ENV = "PINGPONG_CERT_HASH";

/** Path asked for on SRV and static targets. */
export const DISCOVERY_PATH = "/pingpong";

/** Default of `--discover-timeout`, seconds. */
export const DEFAULT_DISCOVER_TIMEOUT_SECONDS = 2;

/** How the client finds its server. */
export interface DiscoveryConfig {
  /** `mdns` browses the LAN, `dns` reads SRV records, `static` is `--server`. */
  source: "mdns" | "dns" | "static";
  /** SRV name for `dns`. */
  srvName: string;
  /** Servers for `static`. */
  servers: { host: string; port: number }[];
  /** `--instance`: only this mDNS instance. */
  instance: string | undefined;
  /** `--discover-timeout` in ms. */
  timeoutMs: number;
  /** `--interface` names or addresses; empty for every non-loopback one. */
  interfaces: string[];
  /** `--list`: print what was found and exit. */
  list: boolean;
}

/** `parseArgs` option specs of the client's discovery flags. */
export const CLIENT_DISCOVERY_FLAG_SPECS = {
  discover: { type: "boolean", default: false },
  list: { type: "boolean", default: false },
  instance: { type: "string" },
  "discover-timeout": { type: "string" },
  interface: { type: "string", multiple: true },
  server: { type: "string" },
} as const;

/** Help lines of the client's discovery flags. */
export const CLIENT_DISCOVERY_HELP = `Discovery (instead of URL):
      --discover       find a server by mDNS on the LAN and ping the first
                       that answers, pinning the hash it advertises
      --discover dns:NAME
                       use the DNS SRV records of NAME, e.g.
                       _pingpong._udp.SVC.NS.svc.cluster.local
      --server HOST:PORT[,HOST:PORT...]
                       try these servers in order
      --list           print the servers found by mDNS (or SRV) and exit
      --instance NAME  only the mDNS instance NAME
      --discover-timeout SEC
                       how long to wait for mDNS answers (default: ${DEFAULT_DISCOVER_TIMEOUT_SECONDS})
      --interface IF   interface for mDNS, by name or IPv4 address; repeat or
                       comma-separate (default: every non-loopback IPv4 one)
  The certificate is pinned by --cert-hash or $${CERT_HASH_ENV} (which
  override a hash mDNS advertises), else by the advertised hash (mDNS) or
  validated by the system CAs (dns:, --server). The servers found are tried
  in order with the retry policy (--max-retries, --retry-max-delay).`;

type ClientDiscoveryValues = {
  discover?: boolean;
  list?: boolean;
  instance?: string;
  "discover-timeout"?: string;
  interface?: string[];
  server?: string;
};

/**
 * The discovery part of the client's flags, or `undefined` when the client
 * was given a URL. With `--discover` the one positional may be `dns:NAME`.
 *
 * @throws {UsageError} naming the bad flag or combination.
 * @example
 * ```ts
 * import { parseClientDiscovery } from "./discovery_cli.ts";
 * console.log(parseClientDiscovery({ discover: true }, [])?.source); // mdns
 * ```
 */
export function parseClientDiscovery(
  values: ClientDiscoveryValues,
  positionals: readonly string[],
): DiscoveryConfig | undefined {
  const discover = values.discover === true;
  const list = values.list === true;
  const server = values.server;
  const tuning = values.instance !== undefined ||
    values["discover-timeout"] !== undefined ||
    (values.interface?.length ?? 0) > 0;
  if (!discover && !list && server === undefined) {
    if (tuning) {
      throw new UsageError(
        "--instance, --discover-timeout and --interface need --discover or --list",
      );
    }
    return undefined;
  }
  let source: DiscoveryConfig["source"] = "mdns";
  let srvName = "";
  const [first, ...rest] = positionals;
  if (server !== undefined) {
    if (discover || positionals.length > 0) {
      throw new UsageError(
        "--server replaces the URL and --discover: give only one of them",
      );
    }
    source = "static";
  } else if (first !== undefined) {
    if (!first.startsWith("dns:") || rest.length > 0) {
      throw new UsageError(
        `with --discover or --list, the only argument may be dns:NAME, got '${
          positionals.join(" ")
        }'`,
      );
    }
    source = "dns";
    srvName = first.slice(4);
    if (!/^[A-Za-z0-9_.-]+$/.test(srvName)) {
      throw new UsageError(`not a DNS name: '${srvName}'`);
    }
  }
  if (list && source === "static") {
    throw new UsageError("--list finds servers: it does not take --server");
  }
  if (source !== "mdns" && tuning) {
    throw new UsageError(
      `--instance, --discover-timeout and --interface are for mDNS: not with ${
        source === "dns" ? "dns:NAME" : "--server"
      }`,
    );
  }
  let servers: DiscoveryConfig["servers"] = [];
  if (server !== undefined) {
    try {
      servers = parseServerList(server);
    } catch (cause) {
      throw new UsageError(`--server: ${(cause as Error).message}`, { cause });
    }
  }
  const interfaces = (values.interface ?? []).flatMap((item) => item.split(","))
    .map((item) => item.trim()).filter((item) => item !== "");
  return {
    source,
    srvName,
    servers,
    instance: values.instance,
    timeoutMs: values["discover-timeout"] === undefined
      ? DEFAULT_DISCOVER_TIMEOUT_SECONDS * 1000
      : parseSeconds("discover-timeout", values["discover-timeout"], {
        min: 0.05,
        max: 3600,
      }),
    interfaces,
    list,
  };
}

/** Options of {@linkcode discoverTargets} and {@linkcode listServers}. */
export interface DiscoverRun {
  /** Hash to pin, from `--cert-hash` or {@linkcode CERT_HASH_ENV}, if any. */
  certHash: Uint8Array<ArrayBuffer> | undefined;
  /** Writes one line of output (`--list`). */
  print: (line: string) => void;
  /** `--json` output. */
  json: boolean;
  /** Cancels. */
  signal: AbortSignal;
  /**
   * Whether the run sends a token (`--token`, `$PINGPONG_TOKEN`): mDNS then
   * needs a pin that does not come from the advert.
   * @default {false}
   */
  sendsToken?: boolean;
}

function interfacesOf(config: DiscoveryConfig): MdnsInterface[] {
  try {
    return selectInterfaces(Deno.networkInterfaces(), config.interfaces);
  } catch (cause) {
    const message = (cause as Error).message;
    // Blame the flag only when it was given: otherwise the host has no LAN.
    if (config.interfaces.length === 0) {
      throw new ExitError(ExitCode.USAGE, message, { cause });
    }
    throw new UsageError(`--interface: ${message}`, { cause });
  }
}

function nothingFound(config: DiscoveryConfig): DiscoveryError {
  const within = `within ${config.timeoutMs / 1000} s`;
  return new DiscoveryError(
    config.instance === undefined
      ? `no pingpong server answered mDNS ${within}`
      : `no pingpong server named '${config.instance}' answered mDNS ${within}`,
  );
}

async function targetsOf(
  config: DiscoveryConfig,
  run: DiscoverRun,
): Promise<Target[]> {
  if (config.source === "static") {
    return staticTargets(config.servers, DISCOVERY_PATH, run.certHash);
  }
  if (config.source === "dns") {
    return await srvTargets(config.srvName, {
      path: DISCOVERY_PATH,
      certHash: run.certHash,
    });
  }
  const pin = run.certHash;
  if (run.sendsToken && !pin) {
    // An mDNS answer is unauthenticated: pinning the hash it advertises would
    // hand the token to any host on the link that answers first.
    throw new UsageError(
      `--token with mDNS discovery needs --cert-hash or $${CERT_HASH_ENV}: an advert's own hash would send the token to whoever answers`,
    );
  }
  const wanted = config.instance?.toLowerCase();
  const instances = await browse({
    interfaces: interfacesOf(config),
    timeoutMs: config.timeoutMs,
    signal: run.signal,
    until: (found) =>
      instanceTargets(found, { instance: config.instance }).length > 0 &&
      (wanted === undefined ||
        found.some((i) => i.name.toLowerCase() === wanted)),
  });
  const targets = instanceTargets(instances, {
    instance: config.instance,
    certHash: pin,
  });
  if (targets.length === 0) throw nothingFound(config);
  return targets;
}

/**
 * Finds the servers `config` names, in the order to try them. Connecting is
 * the reconnecting ping loop's job (lib/reconnect.ts, `retryFirst`), so the
 * token, `--transport` and the retry policy apply to every target alike.
 *
 * @throws {ExitError} with code 2 when nothing is found.
 * @example
 * ```ts
 * import { discoverTargets } from "./discovery_cli.ts";
 * const targets = await discoverTargets({
 *   source: "static", srvName: "", servers: [{ host: "127.0.0.1", port: 4433 }],
 *   instance: undefined, timeoutMs: 2000, interfaces: [], list: false,
 * }, {
 *   certHash: undefined, print: console.log,
 *   json: false, signal: new AbortController().signal,
 * });
 * console.log(targets[0].url); // https://127.0.0.1:4433/pingpong
 * ```
 */
export async function discoverTargets(
  config: DiscoveryConfig,
  run: DiscoverRun,
): Promise<Target[]> {
  try {
    return await targetsOf(config, run);
  } catch (error) {
    if (error instanceof DiscoveryError || error instanceof MdnsError) {
      throw new ExitError(ExitCode.USAGE, error.message, { cause: error });
    }
    throw error;
  }
}

/**
 * The line that names the discovered server the client connected to (with
 * its address), printed before the ping output.
 *
 * @example
 * ```ts
 * import { formatDiscovered } from "./discovery_cli.ts";
 * const target = { url: "https://10.0.0.1:4433/pingpong", certHash: undefined, label: "lab" };
 * console.log(formatDiscovered(target, "mdns", false));
 * // discovered lab at 10.0.0.1:4433 (mdns)
 * ```
 */
export function formatDiscovered(
  target: Target,
  source: DiscoveryConfig["source"],
  json: boolean,
): string {
  if (json) {
    return JSON.stringify({
      type: "discovered",
      source,
      name: target.label,
      url: target.url,
    });
  }
  return `discovered ${target.label} at ${
    new URL(target.url).host
  } (${source})`;
}

/**
 * `--list`: prints every server found, one per line, and returns the exit
 * code (2 when none was found).
 *
 * @throws {ExitError} with code 2 when nothing answered.
 * @example
 * ```ts ignore
 * import { listServers, parseClientDiscovery } from "./discovery_cli.ts";
 * const code = await listServers(parseClientDiscovery({ list: true }, [])!, {
 *   certHash: undefined, print: console.log,
 *   json: false, signal: new AbortController().signal,
 * });
 * // pingpong-box-4433 address=10.0.0.2 port=4433 path=/pingpong host=box.local ...
 * console.log(code); // 0
 * ```
 */
export async function listServers(
  config: DiscoveryConfig,
  run: DiscoverRun,
): Promise<number> {
  try {
    if (config.source === "dns") {
      const targets = await targetsOf(config, run);
      for (const target of targets) {
        run.print(
          run.json
            ? JSON.stringify({ type: "server", url: target.url })
            : target.url,
        );
      }
      return ExitCode.OK;
    }
    let known = new Set<string>();
    const instances = await browse({
      interfaces: interfacesOf(config),
      timeoutMs: config.timeoutMs,
      signal: run.signal,
      onChange: (found) => {
        const names = new Set(found.map((instance) => instance.name));
        for (const name of names.difference(known)) {
          log.info("found {name}", { name });
        }
        for (const name of known.difference(names)) {
          log.info("gone {name}", { name });
        }
        known = names;
      },
    });
    const shown = instances.filter((instance) =>
      config.instance === undefined ||
      instance.name.toLowerCase() === config.instance.toLowerCase()
    );
    for (const instance of shown) {
      run.print(
        run.json
          ? JSON.stringify({ type: "instance", ...instance })
          : formatInstance(instance),
      );
    }
    if (shown.length === 0) throw nothingFound(config);
    return ExitCode.OK;
  } catch (error) {
    if (error instanceof DiscoveryError || error instanceof MdnsError) {
      throw new ExitError(ExitCode.USAGE, error.message, { cause: error });
    }
    throw error;
  }
}

/** What the server was asked about advertising. */
export interface AdvertiseConfig {
  /** `--no-advertise` turns it off. */
  advertise: boolean;
  /** `--name`, or `undefined` for `pingpong-HOST-PORT`. */
  name: string | undefined;
  /** `--interface` names or addresses. */
  interfaces: string[];
}

/** `parseArgs` option specs of the server's discovery flags. */
export const SERVER_DISCOVERY_FLAG_SPECS = {
  "no-advertise": { type: "boolean", default: false },
  name: { type: "string" },
  interface: { type: "string", multiple: true },
} as const;

/** Help lines of the server's discovery flags. */
export const SERVER_DISCOVERY_HELP =
  `      --no-advertise   do not advertise by mDNS (_pingpong._udp.local);
                       a loopback --host is never advertised
      --name NAME      mDNS instance name (default: pingpong-HOST-PORT)
      --interface IF   advertise on IF (name or IPv4 address); repeat or
                       comma-separate (default: the interfaces of --host, or
                       every non-loopback IPv4 one for a wildcard --host)`;

/**
 * The discovery part of the server's flags.
 *
 * @throws {UsageError} for a bad `--name`.
 * @example
 * ```ts
 * import { parseServerDiscovery } from "./discovery_cli.ts";
 * console.log(parseServerDiscovery({ "no-advertise": true }).advertise); // false
 * ```
 */
export function parseServerDiscovery(values: {
  "no-advertise"?: boolean;
  name?: string;
  interface?: string[];
}): AdvertiseConfig {
  if (values.name !== undefined) {
    const problem = instanceNameProblem(values.name);
    if (problem) throw new UsageError(`--name ${problem}`);
  }
  if (values["no-advertise"]) {
    const unused = [
      values.name !== undefined && "--name",
      values.interface?.length && "--interface",
    ].filter(Boolean);
    if (unused.length > 0) {
      throw new UsageError(
        `${unused.join(" and ")} ${
          unused.length > 1 ? "apply" : "applies"
        } only when advertising: drop --no-advertise or ${
          unused.length > 1 ? "them" : "it"
        }`,
      );
    }
  }
  return {
    advertise: values["no-advertise"] !== true,
    name: values.name,
    interfaces: (values.interface ?? []).flatMap((item) => item.split(","))
      .map((item) => item.trim()).filter((item) => item !== ""),
  };
}

const WILDCARDS = new Set(["::", "0.0.0.0", "[::]", ""]);

function isLoopback(host: string): boolean {
  return host === "localhost" || host.startsWith("127.") || host === "::1";
}

/**
 * Which interfaces and addresses to advertise for a server bound to
 * `hostname`: nothing for loopback; the interface holding a specific
 * address; every non-loopback IPv4 interface (and its global IPv6
 * addresses when bound to `::`) for a wildcard.
 *
 * @throws {MdnsError} when an interface asked for does not exist, or
 * interfaces are asked for a server bound to loopback (nobody on them could
 * reach it).
 * @example
 * ```ts
 * import { advertisePlan } from "./discovery_cli.ts";
 * console.log(advertisePlan("127.0.0.1", [], [])); // undefined
 * ```
 */
export function advertisePlan(
  hostname: string,
  wanted: readonly string[],
  available: readonly Deno.NetworkInterfaceInfo[],
): { interfaces: MdnsInterface[]; addresses: string[] } | undefined {
  if (isLoopback(hostname)) {
    if (wanted.length === 0) return undefined;
    throw new MdnsError(
      `the server is bound to loopback ${hostname}, unreachable from ${
        wanted.join(", ")
      }: give --host an address there, or ::`,
    );
  }
  const wildcard = WILDCARDS.has(hostname);
  const owner = available.find((info) => info.address === hostname);
  const interfaces = selectInterfaces(
    available,
    wanted.length > 0 ? wanted : wildcard || !owner ? [] : [owner.name],
  );
  if (!wildcard) return { interfaces, addresses: [hostname] };
  const names = new Set(interfaces.map((info) => info.name));
  const addresses = available.filter((info) =>
    names.has(info.name) &&
    (info.family === "IPv4" ||
      (hostname !== "0.0.0.0" && !/^fe[89ab]/i.test(info.address)))
  ).map((info) => info.address);
  return { interfaces, addresses };
}

/** A running advertisement, or nothing when advertising is off. */
export interface Advertising {
  /** Re-announces with a new certificate hash. */
  updateHash(hash: string): Promise<void>;
  /** Says goodbye and stops. */
  close(): Promise<void>;
}

/**
 * Checks the advertising flags against the interfaces there are, so the
 * server can refuse a bad `--interface` before it binds and says it listens.
 *
 * @throws {ExitError} with code 2 for a bad `--interface`, or one given to a
 * server bound to loopback.
 * @example
 * ```ts
 * import { checkAdvertising } from "./discovery_cli.ts";
 * checkAdvertising({ advertise: true, name: undefined, interfaces: [] }, "127.0.0.1");
 * ```
 */
export function checkAdvertising(
  config: AdvertiseConfig,
  hostname: string,
): void {
  _plan(config, hostname, true);
}

/**
 * The plan for `hostname`, `undefined` when there is nothing to advertise
 * (logged unless `quiet`). Problems with interfaces asked for end the server
 * (exit 2); without `--interface` they are only logged: a host with no LAN
 * still serves.
 */
function _plan(
  config: AdvertiseConfig,
  hostname: string,
  quiet = false,
): ReturnType<typeof advertisePlan> {
  if (!config.advertise) return undefined;
  try {
    const plan = advertisePlan(
      hostname,
      config.interfaces,
      Deno.networkInterfaces(),
    );
    if (!plan && !quiet) {
      log.info("not advertising: bound to loopback {host}", { host: hostname });
    }
    return plan;
  } catch (cause) {
    if (config.interfaces.length === 0) {
      if (!quiet) {
        log.warn("not advertising: {error}", {
          error: (cause as Error).message,
        });
      }
      return undefined;
    }
    throw new ExitError(
      ExitCode.USAGE,
      `--interface: ${(cause as Error).message}`,
      { cause },
    );
  }
}

/**
 * Starts advertising `server` as `config` asks, or returns `undefined` when
 * it is off (or the server is bound to loopback).
 *
 * @throws {ExitError} with code 2 for a bad `--interface` (see
 * {@linkcode checkAdvertising}), 1 when the mDNS sockets cannot be opened on
 * interfaces chosen with `--interface`. Without `--interface`, both only log
 * a warning: the server serves unadvertised.
 * @example
 * ```ts ignore
 * import { startAdvertising } from "./discovery_cli.ts";
 * import { PingPongServer } from "./server_core.ts";
 * const server = await PingPongServer.start({ port: 4433 });
 * const advertising = await startAdvertising(
 *   { advertise: true, name: "lab", interfaces: ["eth0"] },
 *   server,
 *   "/pingpong",
 *   console.log,
 * ); // advertising lab on eth0 (10.0.0.2:4433)
 * await advertising?.close();
 * ```
 */
export async function startAdvertising(
  config: AdvertiseConfig,
  server: PingPongServer,
  path: string,
  print: (line: string) => void,
): Promise<Advertising | undefined> {
  if (!config.advertise) return undefined;
  const plan = _plan(config, server.addr.hostname);
  if (!plan) return undefined;
  const host = localHostLabel(Deno.hostname());
  const service: ServiceInfo = {
    name: config.name ?? `pingpong-${host}-${server.addr.port}`,
    host,
    port: server.addr.port,
    path,
    certHash: server.certificate.hash,
    protocolVersion: PROTOCOL_VERSION,
    addresses: plan.addresses,
  };
  let advertiser: MdnsAdvertiser;
  try {
    advertiser = await MdnsAdvertiser.start({
      service,
      interfaces: plan.interfaces,
    });
  } catch (cause) {
    if (config.interfaces.length === 0) {
      log.warn("not advertising: {error}", { error: (cause as Error).message });
      return undefined;
    }
    throw new ExitError(ExitCode.LOSS, (cause as Error).message, { cause });
  }
  print(
    `advertising ${service.name} on ${
      plan.interfaces.map((info) => info.name).join(", ")
    } (${
      plan.addresses.map((a) => formatHostPort(a, service.port)).join(" ")
    })`,
  );
  return {
    updateHash: (hash) =>
      advertiser.update({ ...advertiser.service, certHash: hash }),
    close: () => advertiser.close(),
  };
}

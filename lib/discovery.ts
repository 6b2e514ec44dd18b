/**
 * Where the client's servers come from when it is not given a URL: mDNS
 * browsing (`--discover`), DNS SRV records (`--discover dns:NAME`, for
 * Kubernetes headless services) or a static list (`--server`). Each yields
 * targets in the order to try them; the client's reconnecting ping loop
 * (lib/reconnect.ts) tries them with the retry policy.
 *
 * @module
 */
import { parseCertHash } from "./cert_hash.ts";
import { PROTOCOL_VERSION } from "./codec.ts";
import type { ServiceInstance } from "./dns_sd.ts";
import { logger } from "./log.ts";
import { formatHostPort } from "./transport.ts";

const log = logger("discovery");

/** A server to try. */
export interface Target {
  /** `https://HOST:PORT/PATH`. */
  url: string;
  /** Hash to pin, or `undefined` for CA validation. */
  certHash: Uint8Array<ArrayBuffer> | undefined;
  /** Where it came from, for output: an instance name or `host:port`. */
  label: string;
}

/**
 * Thrown when discovery finds nothing to connect to.
 *
 * @example
 * ```ts
 * import { DiscoveryError } from "./discovery.ts";
 * const error = new DiscoveryError("no SRV records for x");
 * console.log(error.name); // DiscoveryError
 * ```
 */
export class DiscoveryError extends Error {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DiscoveryError";
  }
}

/**
 * Parses `--server host:port[,host:port...]` (IPv6 in brackets).
 *
 * @throws {RangeError} naming the entry that is not `host:port`.
 * @example
 * ```ts
 * import { parseServerList } from "./discovery.ts";
 * console.log(parseServerList("a:1,[::1]:2"));
 * // [ { host: "a", port: 1 }, { host: "::1", port: 2 } ]
 * ```
 */
export function parseServerList(
  text: string,
): { host: string; port: number }[] {
  const entries = text.split(",").map((entry) => entry.trim()).filter((
    entry,
  ) => entry !== "");
  if (entries.length === 0) throw new RangeError("no host:port given");
  return entries.map((entry) => {
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s\[\]]+)):(\d{1,5})$/.exec(
      entry,
    );
    const port = match ? Number(match[3]) : NaN;
    if (!match || port < 1 || port > 65_535) {
      throw new RangeError(
        `'${entry}' is not host:port (IPv6 as [addr]:port)`,
      );
    }
    return { host: match[1] ?? match[2], port };
  });
}

/**
 * Orders SRV records as RFC 2782 says: lowest priority first, and within a
 * priority a weighted random order (weight 0 rarely first).
 *
 * @param random returns a number in [0, 1); injectable for tests.
 * @example
 * ```ts
 * import { orderSrv } from "./discovery.ts";
 * const records = [
 *   { priority: 20, weight: 0, port: 1, target: "b" },
 *   { priority: 10, weight: 0, port: 1, target: "a" },
 * ];
 * console.log(orderSrv(records).map((r) => r.target)); // [ "a", "b" ]
 * ```
 */
export function orderSrv(
  records: readonly Deno.SrvRecord[],
  random: () => number = Math.random,
): Deno.SrvRecord[] {
  const priorities = [...new Set(records.map((r) => r.priority))].sort((
    a,
    b,
  ) => a - b);
  const ordered: Deno.SrvRecord[] = [];
  for (const priority of priorities) {
    // RFC 2782: zero-weight records first in the list, so they are picked
    // only when the roll lands on their (empty) share.
    const left = records.filter((r) => r.priority === priority)
      .sort((a, b) => a.weight - b.weight);
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const roll = random() * total;
      let running = 0;
      let pick = left.length - 1;
      for (let i = 0; i < left.length; i++) {
        running += left[i].weight;
        if (running >= roll && (left[i].weight > 0 || total === 0)) {
          pick = i;
          break;
        }
      }
      ordered.push(left.splice(pick, 1)[0]);
    }
  }
  return ordered;
}

/** Options of {@linkcode srvTargets}. */
export interface SrvOptions {
  /** Path on every target. */
  path: string;
  /** Hash to pin (from `--cert-hash` or `PINGPONG_CERT_HASH`), if any. */
  certHash: Uint8Array<ArrayBuffer> | undefined;
  /**
   * Resolves SRV records.
   *
   * @default {(name) => Deno.resolveDns(name, "SRV")}
   */
  resolve?: (name: string) => Promise<Deno.SrvRecord[]>;
  /**
   * Random numbers in [0, 1) for the weighted order.
   *
   * @default {Math.random}
   */
  random?: () => number;
}

/**
 * Resolves `name`'s SRV records into targets in the order to try them.
 *
 * @throws {DiscoveryError} when the name does not resolve or has no records.
 * @example
 * ```ts
 * import { srvTargets } from "./discovery.ts";
 * const targets = await srvTargets("_pingpong._udp.pp.default.svc.cluster.local", {
 *   path: "/pingpong",
 *   certHash: undefined,
 *   resolve: () => Promise.resolve([{ priority: 0, weight: 0, port: 4433, target: "pp-0.pp.default.svc.cluster.local." }]),
 * });
 * console.log(targets[0].url); // https://pp-0.pp.default.svc.cluster.local:4433/pingpong
 * ```
 */
export async function srvTargets(
  name: string,
  options: SrvOptions,
): Promise<Target[]> {
  const resolve = options.resolve ??
    ((query: string) => Deno.resolveDns(query, "SRV"));
  let records: Deno.SrvRecord[];
  try {
    records = await resolve(name);
  } catch (cause) {
    throw new DiscoveryError(
      `cannot resolve SRV ${name}: ${(cause as Error).message}`,
      { cause },
    );
  }
  // RFC 2782: a lone "." target means the service is decidedly not there.
  const usable = records.filter((r) => r.target !== "." && r.target !== "");
  if (usable.length === 0) {
    throw new DiscoveryError(`no SRV records for ${name}`);
  }
  return orderSrv(usable, options.random).map((record) => {
    const host = record.target.replace(/\.$/, "");
    const where = formatHostPort(host, record.port);
    return {
      url: `https://${where}${options.path}`,
      certHash: options.certHash,
      label: where,
    };
  });
}

/**
 * Targets of a static `--server` list, in the order given.
 *
 * @example
 * ```ts
 * import { staticTargets } from "./discovery.ts";
 * console.log(staticTargets([{ host: "::1", port: 4433 }], "/pingpong", undefined)[0].url);
 * // https://[::1]:4433/pingpong
 * ```
 */
export function staticTargets(
  servers: readonly { host: string; port: number }[],
  path: string,
  certHash: Uint8Array<ArrayBuffer> | undefined,
): Target[] {
  return servers.map(({ host, port }) => {
    const where = formatHostPort(host, port);
    return { url: `https://${where}${path}`, certHash, label: where };
  });
}

/** Options of {@linkcode instanceTargets}. */
export interface InstanceTargetOptions {
  /** Only the instance with this name (case-insensitive). */
  instance?: string;
  /**
   * A hash the user pinned; it overrides the advertised one, so a host that
   * advertises itself falsely cannot be connected to.
   */
  certHash?: Uint8Array<ArrayBuffer>;
}

/**
 * Targets of mDNS instances: one per instance (its first address, IPv4
 * preferred), pinning the advertised hash unless the user pinned one.
 * Instances of another protocol version or with no address are skipped.
 *
 * @example
 * ```ts
 * import { instanceTargets } from "./discovery.ts";
 * const [target] = instanceTargets([{
 *   name: "lab", host: "box.local", port: 4433, addresses: ["10.0.0.1"],
 *   path: "/pingpong", certHash: "ab".repeat(32), protocolVersion: 1,
 * }]);
 * console.log(target.url); // https://10.0.0.1:4433/pingpong
 * ```
 */
export function instanceTargets(
  instances: readonly ServiceInstance[],
  options: InstanceTargetOptions = {},
): Target[] {
  const wanted = options.instance?.toLowerCase();
  const targets: Target[] = [];
  for (const instance of instances) {
    if (wanted !== undefined && instance.name.toLowerCase() !== wanted) {
      continue;
    }
    if (
      instance.protocolVersion !== undefined &&
      instance.protocolVersion !== PROTOCOL_VERSION
    ) {
      log.warn("skipping {name}: protocol version {version}", {
        name: instance.name,
        version: instance.protocolVersion,
      });
      continue;
    }
    const address = instance.addresses[0];
    if (address === undefined) continue;
    targets.push({
      url: `https://${formatHostPort(address, instance.port)}${instance.path}`,
      certHash: options.certHash ??
        (instance.certHash ? parseCertHash(instance.certHash) : undefined),
      label: instance.name,
    });
  }
  return targets;
}

/**
 * One line of `--list` output for an instance.
 *
 * @example
 * ```ts
 * import { formatInstance } from "./discovery.ts";
 * console.log(formatInstance({
 *   name: "lab", host: "box.local", port: 4433, addresses: ["10.0.0.1"],
 *   path: "/pingpong", certHash: "ab".repeat(32), protocolVersion: 1,
 * }).split(" ")[0]); // lab
 * ```
 */
export function formatInstance(instance: ServiceInstance): string {
  const fields = [
    instance.name,
    `address=${instance.addresses.join(",") || "-"}`,
    `port=${instance.port}`,
    `path=${instance.path}`,
    `host=${instance.host}`,
    `cert-hash=${instance.certHash ?? "-"}`,
    `version=${instance.protocolVersion ?? "-"}`,
  ];
  return fields.join(" ");
}

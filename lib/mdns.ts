/**
 * Multicast DNS on the wire: the server's advertiser (answers queries,
 * announces, says goodbye) and the client's browser, over Deno's UDP sockets.
 * The records themselves come from lib/dns_sd.ts.
 *
 * Interfaces are chosen explicitly: the group is joined on each chosen
 * interface's IPv4 address, and every multicast is sent from a socket bound
 * to that address, which makes Linux send it out of that interface and no
 * other (whatever the routing table says about 224.0.0.0/4).
 *
 * @module
 */
import {
  answerQuery,
  buildAnnouncement,
  buildQuery,
  InstanceTable,
  MDNS_GROUP_V4,
  MDNS_PORT,
  parseResponse,
  type ServiceInfo,
  type ServiceInstance,
} from "./dns_sd.ts";
import { logger } from "./log.ts";

const log = logger("mdns");

/** An interface mDNS runs on. */
export interface MdnsInterface {
  /** Interface name, e.g. `eth0`. */
  name: string;
  /** Its IPv4 address: the group is joined and multicast sent from here. */
  address: string;
  /** Its IPv4 prefix length, to tell which interface a peer is on. */
  prefix: number;
}

/**
 * Thrown when mDNS cannot run as asked (no such interface, no socket).
 *
 * @example
 * ```ts
 * import { MdnsError, selectInterfaces } from "./mdns.ts";
 * try {
 *   selectInterfaces([], ["eth9"]);
 * } catch (error) {
 *   console.log(error instanceof MdnsError); // true
 * }
 * ```
 */
export class MdnsError extends Error {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "MdnsError";
  }
}

/**
 * Picks the interfaces to use from `Deno.networkInterfaces()`: the ones
 * named in `wanted` (by name or IPv4 address), or by default every IPv4
 * interface except loopback.
 *
 * @throws {MdnsError} when a wanted interface has no IPv4 address, or none
 * is left.
 * @example
 * ```ts
 * import { selectInterfaces } from "./mdns.ts";
 * const chosen = selectInterfaces([
 *   { family: "IPv4", name: "lo", address: "127.0.0.1", netmask: "255.0.0.0", scopeid: null, cidr: "127.0.0.1/8", mac: "" },
 *   { family: "IPv4", name: "eth0", address: "10.0.0.2", netmask: "255.255.255.0", scopeid: null, cidr: "10.0.0.2/24", mac: "" },
 * ]);
 * console.log(chosen.map((i) => i.name)); // [ "eth0" ]
 * ```
 */
export function selectInterfaces(
  available: readonly Deno.NetworkInterfaceInfo[],
  wanted: readonly string[] = [],
): MdnsInterface[] {
  const v4 = available.filter((info) => info.family === "IPv4").map((
    info,
  ) => ({
    name: info.name,
    address: info.address,
    prefix: Number(info.cidr.split("/")[1] ?? 32),
  }));
  if (wanted.length === 0) {
    const chosen = v4.filter((info) => !info.address.startsWith("127."));
    if (chosen.length === 0) {
      throw new MdnsError(
        "no IPv4 interface other than loopback for mDNS (choose one with --interface)",
      );
    }
    return chosen;
  }
  return wanted.map((want) => {
    const found = v4.find((info) =>
      info.name === want || info.address === want
    );
    if (!found) {
      throw new MdnsError(
        `no IPv4 interface '${want}' (have: ${
          [...new Set(v4.map((info) => info.name))].join(", ") || "none"
        })`,
      );
    }
    return found;
  });
}

/**
 * The chosen interface whose subnet holds `address` (IPv4), if any.
 *
 * @example
 * ```ts
 * import { interfaceFor } from "./mdns.ts";
 * const eth0 = { name: "eth0", address: "10.0.0.2", prefix: 24 };
 * console.log(interfaceFor("10.0.0.9", [eth0])?.name); // eth0
 * ```
 */
export function interfaceFor(
  address: string,
  interfaces: readonly MdnsInterface[],
): MdnsInterface | undefined {
  const ip = ipv4Number(address);
  if (ip === undefined) return undefined;
  return interfaces.find((info) => {
    const own = ipv4Number(info.address)!;
    const mask = info.prefix === 0 ? 0 : (~0 << (32 - info.prefix)) >>> 0;
    return ((own & mask) >>> 0) === ((ip & mask) >>> 0);
  });
}

function ipv4Number(address: string): number | undefined {
  const parts = address.split(".").map(Number);
  if (
    parts.length !== 4 ||
    parts.some((part) => !Number.isInteger(part) || part < 0 || part > 255)
  ) return undefined;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>>
    0;
}

const GROUP: Deno.NetAddr = {
  transport: "udp",
  hostname: MDNS_GROUP_V4,
  port: MDNS_PORT,
};

type Handler = (
  bytes: Uint8Array,
  from: Deno.NetAddr,
) => void;

/**
 * One receiving socket on 0.0.0.0:5353 that joined the group on every
 * interface, and one sending socket per interface bound to its address.
 */
class MdnsSockets {
  readonly interfaces: readonly MdnsInterface[];
  readonly #receiver: Deno.DatagramConn | undefined;
  readonly #senders: Map<MdnsInterface, Deno.DatagramConn>;
  readonly #pumps: Promise<void>[] = [];
  #closed = false;

  private constructor(
    interfaces: readonly MdnsInterface[],
    receiver: Deno.DatagramConn | undefined,
    senders: Map<MdnsInterface, Deno.DatagramConn>,
  ) {
    this.interfaces = interfaces;
    this.#receiver = receiver;
    this.#senders = senders;
  }

  /**
   * Opens the sockets. With `shared` false (the fallback when 5353 is taken
   * by a daemon that does not share it), senders bind an ephemeral port and
   * answers come back by unicast (RFC 6762 §5.1 one-shot queries).
   */
  static async open(
    interfaces: readonly MdnsInterface[],
    shared: boolean,
  ): Promise<MdnsSockets> {
    const opened: Deno.DatagramConn[] = [];
    try {
      let receiver: Deno.DatagramConn | undefined;
      if (shared) {
        receiver = Deno.listenDatagram({
          transport: "udp",
          hostname: "0.0.0.0",
          port: MDNS_PORT,
          reuseAddress: true,
          loopback: true,
        });
        opened.push(receiver);
        for (const info of interfaces) {
          await receiver.joinMulticastV4(MDNS_GROUP_V4, info.address);
        }
      }
      const senders = new Map<MdnsInterface, Deno.DatagramConn>();
      for (const info of interfaces) {
        const sender = Deno.listenDatagram({
          transport: "udp",
          hostname: info.address,
          port: shared ? MDNS_PORT : 0,
          reuseAddress: shared,
          // Looped back, so a server and a client on one host hear each
          // other's queries and answers (RFC 6762 §15.1: several mDNS
          // processes on one host).
          loopback: true,
        });
        opened.push(sender);
        senders.set(info, sender);
      }
      return new MdnsSockets(interfaces, receiver, senders);
    } catch (cause) {
      for (const conn of opened) conn.close();
      throw new MdnsError(
        `cannot open mDNS socket: ${(cause as Error).message}`,
        { cause },
      );
    }
  }

  /** Calls `handler` with every datagram until closed. */
  listen(handler: Handler): void {
    const conns = [
      ...(this.#receiver ? [this.#receiver] : []),
      ...this.#senders.values(),
    ];
    for (const conn of conns) this.#pumps.push(this.#pump(conn, handler));
  }

  async #pump(conn: Deno.DatagramConn, handler: Handler): Promise<void> {
    while (!this.#closed) {
      let received: [Uint8Array, Deno.Addr];
      try {
        received = await conn.receive();
      } catch (error) {
        if (!this.#closed) log.debug("receive failed: {error}", { error });
        return;
      }
      const [bytes, from] = received;
      try {
        handler(bytes, from as Deno.NetAddr);
      } catch (error) {
        log.debug("handler failed: {error}", { error: String(error) });
      }
    }
  }

  /** Multicasts `bytes` on `only` those interfaces, or on all. */
  async multicast(
    bytes: Uint8Array,
    only: readonly MdnsInterface[] = this.interfaces,
  ): Promise<void> {
    await Promise.all(only.map(async (info) => {
      try {
        await this.#senders.get(info)!.send(bytes, GROUP);
      } catch (error) {
        log.warn("mDNS send on {iface} failed: {error}", {
          iface: info.name,
          error: String(error),
        });
      }
    }));
  }

  /** Sends `bytes` to one peer, from the interface on its subnet. */
  async unicast(bytes: Uint8Array, to: Deno.NetAddr): Promise<void> {
    const info = interfaceFor(to.hostname, this.interfaces) ??
      this.interfaces[0];
    try {
      await this.#senders.get(info)!.send(bytes, to);
    } catch (error) {
      log.debug("unicast reply failed: {error}", { error: String(error) });
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#receiver?.close();
    for (const conn of this.#senders.values()) conn.close();
    await Promise.allSettled(this.#pumps);
  }
}

/** Options of {@linkcode MdnsAdvertiser.start}. */
export interface AdvertiserOptions {
  /** What to advertise. */
  service: ServiceInfo;
  /** Where to advertise (see {@linkcode selectInterfaces}). */
  interfaces: readonly MdnsInterface[];
  /**
   * Gap between the two copies of an announcement (RFC 6762 §8.3: one
   * second).
   *
   * @default {1000}
   */
  repeatMs?: number;
}

/**
 * Advertises one pingpong server by mDNS: announces it on start and on
 * {@linkcode MdnsAdvertiser.update}, answers queries, and says goodbye on
 * {@linkcode MdnsAdvertiser.close}.
 *
 * Probing for a unique name (RFC 6762 §8.1) is not done: two servers given
 * one `--name` on a link would both answer.
 *
 * @example
 * ```ts ignore
 * import { MdnsAdvertiser, selectInterfaces } from "./mdns.ts";
 * const advertiser = await MdnsAdvertiser.start({
 *   interfaces: selectInterfaces(Deno.networkInterfaces(), ["veth0"]),
 *   service: {
 *     name: "lab", host: "box", port: 4433, path: "/pingpong",
 *     certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
 *   },
 * });
 * await advertiser.close();
 * ```
 */
export class MdnsAdvertiser {
  readonly #sockets: MdnsSockets;
  readonly #repeatMs: number;
  #service: ServiceInfo;
  #repeat: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  private constructor(sockets: MdnsSockets, options: AdvertiserOptions) {
    this.#sockets = sockets;
    this.#service = options.service;
    this.#repeatMs = options.repeatMs ?? 1000;
  }

  /**
   * Opens the sockets, starts answering and announces.
   *
   * @throws {MdnsError} when the sockets cannot be opened.
   * @example
   * ```ts ignore
   * import { MdnsAdvertiser, selectInterfaces } from "./mdns.ts";
   * const advertiser = await MdnsAdvertiser.start({
   *   interfaces: selectInterfaces(Deno.networkInterfaces(), ["veth0"]),
   *   service: {
   *     name: "lab", host: "box", port: 4433, path: "/pingpong",
   *     certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
   *   },
   * });
   * ```
   */
  static async start(options: AdvertiserOptions): Promise<MdnsAdvertiser> {
    const sockets = await MdnsSockets.open(options.interfaces, true);
    const advertiser = new MdnsAdvertiser(sockets, options);
    sockets.listen((bytes, from) => advertiser.#onMessage(bytes, from));
    await advertiser.#announce();
    return advertiser;
  }

  /**
   * What is advertised now.
   *
   * @example
   * ```ts ignore
   * import type { MdnsAdvertiser } from "./mdns.ts";
   * declare const advertiser: MdnsAdvertiser;
   * console.log(advertiser.service.certHash);
   * ```
   */
  get service(): ServiceInfo {
    return this.#service;
  }

  /**
   * Advertises `service` from now on (e.g. a renewed certificate's hash),
   * announcing it at once; nothing after {@linkcode MdnsAdvertiser.close}.
   *
   * @example
   * ```ts ignore
   * import type { MdnsAdvertiser } from "./mdns.ts";
   * declare const advertiser: MdnsAdvertiser;
   * await advertiser.update({ ...advertiser.service, certHash: "cd".repeat(32) });
   * ```
   */
  async update(service: ServiceInfo): Promise<void> {
    if (this.#closed) return;
    this.#service = service;
    await this.#announce();
  }

  /**
   * Says goodbye (PTR, SRV and TXT with TTL 0) and closes the sockets; a
   * second call does nothing.
   *
   * @example
   * ```ts ignore
   * import type { MdnsAdvertiser } from "./mdns.ts";
   * declare const advertiser: MdnsAdvertiser;
   * await advertiser.close();
   * ```
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#repeat);
    await this.#sockets.multicast(buildAnnouncement(this.#service, true));
    await this.#sockets.close();
  }

  async #announce(): Promise<void> {
    clearTimeout(this.#repeat);
    const bytes = buildAnnouncement(this.#service);
    await this.#sockets.multicast(bytes);
    log.info("announced {name} on {ifaces}", {
      name: this.#service.name,
      ifaces: this.#sockets.interfaces.map((info) => info.name).join(", "),
    });
    // A second copy in case the first was lost (RFC 6762 §8.3).
    this.#repeat = setTimeout(() => {
      if (!this.#closed) this.#sockets.multicast(bytes);
    }, this.#repeatMs);
  }

  #onMessage(bytes: Uint8Array, from: Deno.NetAddr): void {
    if (this.#closed) return;
    const answer = answerQuery(bytes, from.port, this.#service);
    if (!answer) return;
    log.debug("answering {peer}", { peer: `${from.hostname}:${from.port}` });
    if (answer.unicast) {
      this.#sockets.unicast(answer.bytes, from);
      return;
    }
    const on = interfaceFor(from.hostname, this.#sockets.interfaces);
    this.#sockets.multicast(answer.bytes, on ? [on] : undefined);
  }
}

/** Options of {@linkcode browse}. */
export interface BrowseOptions {
  /** Where to ask (see {@linkcode selectInterfaces}). */
  interfaces: readonly MdnsInterface[];
  /**
   * How long to listen at most.
   *
   * @default {2000}
   */
  timeoutMs?: number;
  /**
   * Stop early once this returns true for what has been found (e.g. the
   * first instance, or the one named by `--instance`).
   *
   * @default {() => false}
   */
  until?: (instances: ServiceInstance[]) => boolean;
  /**
   * Called whenever the set of instances changes (one came, one left).
   *
   * @default {undefined}
   */
  onChange?: (instances: ServiceInstance[]) => void;
  /**
   * Query again after this long if still listening (RFC 6762 §5.2 spaces
   * repeats by at least one second).
   *
   * @default {1000}
   */
  requeryMs?: number;
  /**
   * Cancels the browse; what was found so far is returned.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Asks for pingpong instances and collects the answers (and any
 * announcements or goodbyes heard meanwhile).
 *
 * @returns the instances alive at the end, sorted by name.
 * @throws {MdnsError} when no socket can be opened.
 * @example
 * ```ts ignore
 * import { browse, selectInterfaces } from "./mdns.ts";
 * const found = await browse({
 *   interfaces: selectInterfaces(Deno.networkInterfaces(), ["veth0"]),
 *   until: (instances) => instances.length > 0,
 * });
 * console.log(found[0]?.addresses);
 * ```
 */
export async function browse(
  options: BrowseOptions,
): Promise<ServiceInstance[]> {
  let sockets: MdnsSockets;
  try {
    sockets = await MdnsSockets.open(options.interfaces, true);
  } catch (error) {
    // A daemon holding 5353 without sharing it: ask as a one-shot querier.
    log.info("mDNS port busy, asking by unicast: {error}", {
      error: String(error),
    });
    sockets = await MdnsSockets.open(options.interfaces, false);
  }
  const table = new InstanceTable();
  const done = Promise.withResolvers<void>();
  let seen = "[]";
  const check = () => {
    const instances = table.instances();
    const now = JSON.stringify(instances);
    if (now !== seen) {
      seen = now;
      options.onChange?.(instances);
    }
    if (options.until?.(instances)) done.resolve();
  };
  sockets.listen((bytes) => {
    const records = parseResponse(bytes);
    if (!records) return;
    table.add(records);
    check();
  });
  const onAbort = () => done.resolve();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  const timeout = setTimeout(() => done.resolve(), options.timeoutMs ?? 2000);
  const query = buildQuery();
  const requery = setInterval(
    () => sockets.multicast(query),
    options.requeryMs ?? 1000,
  );
  try {
    if (!options.signal?.aborted) await sockets.multicast(query);
    await done.promise;
  } finally {
    clearTimeout(timeout);
    clearInterval(requery);
    options.signal?.removeEventListener("abort", onAbort);
    await sockets.close();
  }
  return table.instances();
}

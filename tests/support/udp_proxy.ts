/**
 * A userspace UDP proxy for fault injection between a client and a server on
 * loopback: drops a fraction of packets, adds delay and jitter, and
 * black-holes all traffic during a partition. Seeded, so a run's drop and
 * delay decisions follow from the seed and the order packets arrive in.
 *
 * Each client address gets its own upstream socket, as a NAT would give it,
 * so a client that reconnects from a new port is a new flow.
 *
 * @module
 */

/**
 * A seeded source of numbers in [0, 1) (mulberry32).
 *
 * @example
 * ```ts
 * import { seededRandom } from "./udp_proxy.ts";
 * const a = seededRandom(1), b = seededRandom(1);
 * console.log(a() === b()); // true
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let r = Math.imul(state ^ (state >>> 15), 1 | state);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** Options of {@linkcode startUdpProxy}. */
export interface UdpProxyOptions {
  /** Where packets from clients go. */
  target: { hostname: string; port: number };
  /**
   * Address the proxy listens on (a port from 0).
   *
   * @default {"127.0.0.1"}
   */
  hostname?: string;
  /**
   * Seed of the drop and jitter decisions.
   *
   * @default {1}
   */
  seed?: number;
  /**
   * Fraction of packets dropped, each direction, 0 to 1.
   *
   * @default {0}
   */
  dropRate?: number;
  /**
   * Which packets the drop rate applies to: `to-server` makes a ping's loss
   * equal to the rate, `both` makes it `1 - (1 - rate)^2`.
   *
   * @default {"both"}
   */
  dropDirection?: "both" | "to-server" | "to-client";
  /**
   * Delay added to every packet, ms.
   *
   * @default {0}
   */
  delayMs?: number;
  /**
   * Extra delay drawn uniformly from [0, jitterMs), ms.
   *
   * @default {0}
   */
  jitterMs?: number;
  /**
   * Most client flows at once; packets of further clients are dropped.
   *
   * @default {1024}
   */
  maxFlows?: number;
  /**
   * Most delayed packets held at once; more are dropped (a full queue).
   *
   * @default {10000}
   */
  maxQueued?: number;
}

/** What the proxy did so far. */
export interface UdpProxyCounters {
  /** Packets passed on. */
  forwarded: number;
  /** Packets dropped by the drop rate. */
  dropped: number;
  /** Packets swallowed by a partition. */
  blackholed: number;
  /** Packets dropped because a bound was reached. */
  overflow: number;
}

/** A running proxy. */
export interface UdpProxy extends AsyncDisposable {
  /** The address clients send to. */
  addr: Deno.NetAddr;
  /** Counters so far. */
  counters: Readonly<UdpProxyCounters>;
  /** Client flows seen. */
  flows: number;
  /** Starts (true) or ends (false) a partition: all traffic is swallowed. */
  partition(on: boolean): void;
  /** Changes the drop rate from now on. */
  setDropRate(rate: number): void;
  /** Stops the proxy and closes every socket. */
  close(): Promise<void>;
}

interface Flow {
  upstream: Deno.DatagramConn;
  done: Promise<void>;
}

/**
 * Starts a proxy that forwards to `options.target`.
 *
 * @example
 * ```ts ignore
 * await using proxy = startUdpProxy({ target: { hostname: "127.0.0.1", port: 4433 }, dropRate: 0.1, seed: 7 });
 * console.log(proxy.addr.port);
 * ```
 */
export function startUdpProxy(options: UdpProxyOptions): UdpProxy {
  const hostname = options.hostname ?? "127.0.0.1";
  const random = seededRandom(options.seed ?? 1);
  const delayMs = options.delayMs ?? 0;
  const jitterMs = options.jitterMs ?? 0;
  const maxFlows = options.maxFlows ?? 1024;
  const maxQueued = options.maxQueued ?? 10_000;
  let dropRate = options.dropRate ?? 0;
  let partitioned = false;
  let closed = false;
  let queued = 0;
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const counters: UdpProxyCounters = {
    forwarded: 0,
    dropped: 0,
    blackholed: 0,
    overflow: 0,
  };
  const front = Deno.listenDatagram({ transport: "udp", hostname, port: 0 });
  const flows = new Map<string, Flow>();

  const direction = options.dropDirection ?? "both";
  const pass = (
    conn: Deno.DatagramConn,
    data: Uint8Array,
    to: Deno.NetAddr,
  ) => {
    if (partitioned) return void counters.blackholed++;
    const toServer = conn !== front;
    const lossy = direction === "both" ||
      (direction === "to-server") === toServer;
    if (lossy && dropRate > 0 && random() < dropRate) {
      return void counters.dropped++;
    }
    const wait = delayMs + (jitterMs > 0 ? random() * jitterMs : 0);
    const send = () => {
      if (closed) return;
      counters.forwarded++;
      conn.send(data, to).catch(() => {});
    };
    if (wait <= 0) return send();
    if (queued >= maxQueued) return void counters.overflow++;
    queued++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      queued--;
      send();
    }, wait);
    timers.add(timer);
  };

  const flowFor = (client: Deno.NetAddr): Flow | undefined => {
    const key = `${client.hostname}:${client.port}`;
    const known = flows.get(key);
    if (known) return known;
    if (flows.size >= maxFlows) return undefined;
    const upstream = Deno.listenDatagram({
      transport: "udp",
      hostname,
      port: 0,
    });
    const done = (async () => {
      try {
        for await (const [data] of upstream) pass(front, data, client);
      } catch {
        // closed
      }
    })();
    const flow = { upstream, done };
    flows.set(key, flow);
    return flow;
  };

  const target: Deno.NetAddr = {
    transport: "udp",
    hostname: options.target.hostname,
    port: options.target.port,
  };
  const frontDone = (async () => {
    try {
      for await (const [data, from] of front) {
        const flow = flowFor(from as Deno.NetAddr);
        if (!flow) {
          counters.overflow++;
          continue;
        }
        pass(flow.upstream, data, target);
      }
    } catch {
      // closed
    }
  })();

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    front.close();
    for (const flow of flows.values()) flow.upstream.close();
    await Promise.allSettled([
      frontDone,
      ...[...flows.values()].map((flow) => flow.done),
    ]);
  };

  return {
    addr: front.addr as Deno.NetAddr,
    counters,
    get flows() {
      return flows.size;
    },
    partition: (on) => partitioned = on,
    setDropRate: (rate) => {
      if (!(rate >= 0 && rate <= 1)) throw new RangeError("rate is 0 to 1");
      dropRate = rate;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

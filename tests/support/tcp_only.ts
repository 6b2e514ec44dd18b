/**
 * A path where UDP is black-holed and TCP gets through, as on networks that
 * drop UDP: a port whose TCP side forwards to a server and whose UDP side
 * swallows every datagram without an answer.
 *
 * @module
 */

/** A running forwarder; dispose to close it and its connections. */
export interface TcpOnlyPath extends AsyncDisposable {
  /** The port clients use: TCP forwards, UDP is a black hole. */
  port: number;
  /** Datagrams swallowed so far. */
  readonly udpDropped: number;
  /** TCP connections forwarded so far. */
  readonly tcpForwarded: number;
}

/**
 * Opens a TCP-only path to `target` on 127.0.0.1.
 *
 * @example
 * ```ts ignore
 * await using path = openTcpOnlyPath({ hostname: "127.0.0.1", port: server.port });
 * // https://127.0.0.1:${path.port}/pingpong reaches the server over TCP only
 * ```
 */
export function openTcpOnlyPath(
  target: { hostname: string; port: number },
): TcpOnlyPath {
  // Bind TCP on a free port, then UDP on the same number (retry if taken).
  let listener: Deno.TcpListener | undefined;
  let sink: Deno.DatagramConn | undefined;
  for (let attempt = 0; attempt < 16 && !sink; attempt++) {
    listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      sink = Deno.listenDatagram({
        transport: "udp",
        hostname: "127.0.0.1",
        port: (listener.addr as Deno.NetAddr).port,
      });
    } catch {
      listener.close();
      listener = undefined;
    }
  }
  if (!listener || !sink) throw new Error("no port free on both TCP and UDP");
  const tcp = listener;
  const udp = sink;
  const open = new Set<Deno.Conn>();
  let udpDropped = 0;
  let tcpForwarded = 0;
  const swallowing = (async () => {
    try {
      for await (const _ of udp) udpDropped++;
    } catch {
      // Closed.
    }
  })();
  const forwarding = (async () => {
    try {
      for await (const inbound of tcp) {
        tcpForwarded++;
        open.add(inbound);
        Deno.connect(target).then((outbound) => {
          open.add(outbound);
          // Relay each write at once: Nagle plus delayed ACKs would add ~40 ms.
          inbound.setNoDelay(true);
          outbound.setNoDelay(true);
          const done = () => {
            for (const conn of [inbound, outbound]) {
              open.delete(conn);
              try {
                conn.close();
              } catch {
                // Already closed.
              }
            }
          };
          Promise.allSettled([
            inbound.readable.pipeTo(outbound.writable),
            outbound.readable.pipeTo(inbound.writable),
          ]).then(done);
        }, () => {
          open.delete(inbound);
          inbound.close();
        });
      }
    } catch {
      // Closed.
    }
  })();
  return {
    port: (tcp.addr as Deno.NetAddr).port,
    get udpDropped() {
      return udpDropped;
    },
    get tcpForwarded() {
      return tcpForwarded;
    },
    [Symbol.asyncDispose]: async () => {
      tcp.close();
      udp.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
      await Promise.allSettled([swallowing, forwarding]);
    },
  };
}

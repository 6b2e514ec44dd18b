/**
 * The floor of the RTT table: a UDP socket that sends every datagram back.
 * No QUIC, no TLS, no streams; only Deno's UDP binding.
 *
 * Prints `listening PORT`, then echoes until killed.
 *
 * @module
 */
const socket = Deno.listenDatagram({
  transport: "udp",
  hostname: "127.0.0.1",
  port: 0,
});
console.log(`listening ${(socket.addr as Deno.NetAddr).port}`);
for await (const [data, from] of socket) {
  socket.send(data, from).catch(() => {});
}

/**
 * What a user might pick instead: a WebSocket echo over TCP on Deno.serve.
 * Every binary message is sent straight back.
 *
 * Prints `listening PORT`, then echoes until killed.
 *
 * @module
 */
const server = Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening ${port}`),
}, (request) => {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.binaryType = "arraybuffer";
  socket.onmessage = (event) => socket.send(event.data);
  return response;
});
await server.finished;

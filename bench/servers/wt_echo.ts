/**
 * The runtime's own cost: a bare Deno WebTransport echo with no pingpong code.
 * Every bidirectional stream's bytes and every datagram go straight back.
 *
 * Usage: `wt_echo.ts CERT.pem KEY.pem`; prints `listening PORT`, then serves
 * until killed. Each line on stdin makes it print `memory {...}`: its
 * Deno.memoryUsage() after a full GC, so the bench can tell the JS heap's
 * share of a session's memory from the runtime's native share.
 *
 * @module
 */
const [certFile, keyFile] = Deno.args;
const endpoint = new Deno.QuicEndpoint({ hostname: "127.0.0.1", port: 0 });
const listener = endpoint.listen({
  cert: Deno.readTextFileSync(certFile),
  key: Deno.readTextFileSync(keyFile),
  alpnProtocols: ["h3"],
  maxIdleTimeout: 30_000,
});
console.log(`listening ${endpoint.addr.port}`);

async function reportMemory() {
  const { default: v8 } = await import("node:v8");
  const { default: vm } = await import("node:vm");
  v8.setFlagsFromString("--expose-gc");
  const gc = vm.runInNewContext("gc") as () => void;
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  for await (const _chunk of lines) {
    gc();
    console.log(`memory ${JSON.stringify(Deno.memoryUsage())}`);
  }
}
reportMemory();

async function echoStream(stream: WebTransportBidirectionalStream) {
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      writer.write(value).catch(() => {});
    }
  } catch {
    // The session went away.
  }
}

async function echoDatagrams(session: WebTransport) {
  const reader = session.datagrams.readable.getReader();
  const writer = session.datagrams.writable.getWriter();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      writer.write(value).catch(() => {});
    }
  } catch {
    // The session went away.
  }
}

async function serve(incoming: Deno.QuicIncoming) {
  try {
    const conn = await incoming.accept();
    const session = await Deno.upgradeWebTransport(conn);
    session.closed.catch(() => {});
    await session.ready;
    echoDatagrams(session);
    const streams = session.incomingBidirectionalStreams.getReader();
    for (;;) {
      const { value, done } = await streams.read();
      if (done) break;
      echoStream(value);
    }
  } catch {
    // A failed handshake or a closed session.
  }
}

for await (const incoming of listener) serve(incoming);

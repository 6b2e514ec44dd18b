import assert from "node:assert/strict";
import {
  expectAllPongs,
  rootPath,
  runClient,
  startServer,
} from "../support/processes.ts";
import { generateCertificate } from "../../lib/certificates.ts";
import { listenWebTransport } from "../../lib/transport.ts";
import {
  ensureAioquic,
  run,
  startPeerServer,
  writeCertificate,
} from "./_peers.ts";

Deno.test("client.ts --echo gets 20 of 20 echoes from an aioquic echo server in every mode", async (t) => {
  const python = await ensureAioquic();
  await using cert = await writeCertificate();
  await using peer = await startPeerServer(python, [
    rootPath("tests/interop/aioquic_echo_server.py"),
    cert.certFile,
    cert.keyFile,
  ]);
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      await expectAllPongs(`https://127.0.0.1:${peer.port}/echo`, cert.hash, {
        mode,
        args: ["--echo"],
        context: () => peer.stderr.join("\n"),
      });
    });
  }
});

Deno.test("an aioquic echo server refuses a path other than /echo, and client.ts reports it as a connection error", async () => {
  const python = await ensureAioquic();
  await using cert = await writeCertificate();
  await using peer = await startPeerServer(python, [
    rootPath("tests/interop/aioquic_echo_server.py"),
    cert.certFile,
    cert.keyFile,
  ]);
  const result = await runClient([
    `https://127.0.0.1:${peer.port}/nowhere`,
    "--echo",
    "--cert-hash",
    cert.hash,
    "-c",
    "1",
  ]);
  assert.equal(result.code, 2, result.stdout);
});

/** Which unidirectional streams the aioquic client opens first, and whether its WebTransport one then reaches server.ts. */
const STREAM_VARIANTS = [
  { streams: "control", what: "control stream only", uni: "echoed" },
  {
    streams: "control,encoder,decoder",
    what: "control + QPACK encoder + decoder (stock aioquic)",
    uni: "missing",
  },
  {
    streams: "control,encoder",
    what: "control + QPACK encoder (as Chromium)",
    uni: "missing",
  },
  {
    streams: "control,decoder",
    what: "control + QPACK decoder",
    uni: "missing",
  },
  {
    streams: "control,reserved",
    what: "control + reserved type 0x21 (RFC 9114 §6.2.3)",
    uni: "missing",
  },
] as const;

/** Runs the aioquic client against 127.0.0.1:`port`, opening `streams` first. */
function aioquicClient(
  python: string,
  port: number,
  streams: string,
  waitSeconds = 2,
) {
  return run(python, [
    rootPath("tests/interop/aioquic_echo_client.py"),
    String(port),
    "/echo",
    streams,
    String(waitSeconds),
  ], { timeoutMs: 30_000 });
}

Deno.test("server.ts /echo echoes an aioquic client's datagram, but its unidirectional stream only when no other unidirectional stream came first (Deno 2.9.6 stalls behind QPACK and reserved streams)", async (t) => {
  const python = await ensureAioquic();
  await using server = await startServer();
  for (const variant of STREAM_VARIANTS) {
    await t.step(`${variant.what}: uni ${variant.uni}`, async () => {
      const result = await aioquicClient(python, server.port, variant.streams);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.trim().split("\n"), [
        "status 200",
        "datagram echoed",
        `uni ${variant.uni}`,
      ]);
    });
  }
  await t.step(
    "control: aioquic's echo server echoes the stream in every variant",
    async () => {
      await using cert = await writeCertificate();
      await using peer = await startPeerServer(python, [
        rootPath("tests/interop/aioquic_echo_server.py"),
        cert.certFile,
        cert.keyFile,
      ]);
      for (const variant of STREAM_VARIANTS) {
        const result = await aioquicClient(python, peer.port, variant.streams);
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout.trim().split("\n"), [
          "status 200",
          "datagram echoed",
          "uni echoed",
        ], variant.what);
      }
    },
  );
});

Deno.test("Deno 2.9.6's incomingUnidirectionalStreams leaves a read() pending behind a QPACK stream, and only further read() calls get the stream behind it", async () => {
  const python = await ensureAioquic();
  const sessions = Promise.withResolvers<WebTransport>();
  const listener = listenWebTransport({
    hostname: "127.0.0.1",
    port: 0,
    certificate: await generateCertificate(),
    onSession: ({ session }) => sessions.resolve(session),
  });
  // Stock aioquic: its QPACK encoder and decoder streams come before the
  // WebTransport one. A long wait, so the client outlives the checks below.
  const client = aioquicClient(
    python,
    listener.addr.port,
    "control,encoder,decoder",
    20,
  );
  let timer: ReturnType<typeof setTimeout> | undefined;
  const within = <T>(promise: Promise<T>, ms: number) =>
    Promise.race([
      promise,
      new Promise<"pending">((resolve) =>
        timer = setTimeout(() => resolve("pending"), ms)
      ),
    ]).finally(() => clearTimeout(timer));
  try {
    const session = await within(sessions.promise, 10_000);
    assert.notEqual(session, "pending", "no session from the aioquic client");
    const wt = session as WebTransport;
    const reader = wt.incomingUnidirectionalStreams.getReader();
    const first = reader.read();
    // The client sends its datagram right after its stream, in one flight:
    // once it is here, so are the stream's packets.
    const datagrams = wt.datagrams.readable.getReader();
    const datagram = await within(datagrams.read(), 10_000);
    assert.notEqual(datagram, "pending", "no datagram from the aioquic client");
    datagrams.releaseLock();
    // The pull that took the encoder stream enqueued nothing and, with no
    // read() made meanwhile, the stream is not pulled again.
    assert.equal(await within(first, 500), "pending");
    // Each further read() pulls once more: the decoder stream (nothing
    // enqueued again), then the WebTransport stream, which fulfils the first
    // read(). One read() per stream ahead of it, so two.
    const extra: Promise<unknown>[] = [];
    let got: Awaited<typeof first> | "pending" = "pending";
    while (got === "pending" && extra.length < 4) {
      extra.push(reader.read().catch(() => {}));
      got = await within(first, 1500);
    }
    assert.notEqual(got, "pending", "still pending after 4 more read() calls");
    assert.equal(extra.length, 2, "read() calls it took after the first");
    const { value: stream, done } = got as Awaited<typeof first>;
    assert.equal(done, false);
    const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    assert.equal(new TextDecoder().decode(bytes), "aioquic uni echo");
    // Echo both, so the client stops waiting.
    const reply = (await wt.createUnidirectionalStream()).getWriter();
    await reply.write(bytes);
    const datagramWriter = wt.datagrams.writable.getWriter();
    await datagramWriter.write((datagram as { value: Uint8Array }).value);
    const result = await client;
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "status 200",
      "datagram echoed",
      "uni echoed",
    ]);
  } finally {
    listener.close();
    await client;
  }
});

import assert from "node:assert/strict";
import { launchChromium } from "../support/chromium.ts";
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  FrameDecoder,
  makePing,
  MessageType,
} from "../../lib/codec.ts";
import { rootPath, startServer } from "../support/processes.ts";
import {
  ensureAioquic,
  ensureChromium,
  startPeerServer,
  writeCertificate,
} from "./_peers.ts";

/** What the page reports back from one session. */
interface PageResult {
  /** Bytes read back on one bidirectional stream. */
  stream: number[];
  /** Whether that stream ended (FIN) within a short wait after its bytes. */
  streamEnded: boolean;
  /** Bytes read back on a unidirectional stream the server opened. */
  uni: number[];
  /** Whether that unidirectional stream ended. */
  uniEnded: boolean;
  /** Datagrams received. */
  datagrams: number[][];
}

/**
 * Runs in the page: opens a session pinned to `hash`, writes `streamBytes` on
 * a bidirectional stream and reads `expectStream` bytes back; optionally the
 * same on a unidirectional stream (closed, so Chromium sends FIN), and sends
 * each datagram until `expectDatagrams` came back (bounded resends).
 */
async function exchangeInPage(args: {
  url: string;
  hash: number[];
  streamBytes: number[];
  expectStream: number;
  uniBytes: number[] | null;
  datagrams: number[][];
}): Promise<PageResult> {
  const wait = (ms: number) =>
    new Promise<"timeout">((resolve) =>
      setTimeout(() => resolve("timeout"), ms)
    );
  const readN = async (
    readable: ReadableStream<Uint8Array>,
    n: number,
  ): Promise<{ bytes: number[]; ended: boolean }> => {
    const reader = readable.getReader();
    const bytes: number[] = [];
    while (bytes.length < n) {
      const next = await Promise.race([reader.read(), wait(5000)]);
      if (next === "timeout" || next.done) {
        return { bytes, ended: next !== "timeout" };
      }
      bytes.push(...next.value);
    }
    const last = await Promise.race([reader.read(), wait(300)]);
    return { bytes, ended: last !== "timeout" && last.done };
  };
  const session = new WebTransport(args.url, {
    serverCertificateHashes: [{
      algorithm: "sha-256",
      value: new Uint8Array(args.hash),
    }],
  });
  await session.ready;
  const result: PageResult = {
    stream: [],
    streamEnded: false,
    uni: [],
    uniEnded: false,
    datagrams: [],
  };

  const bidi = await session.createBidirectionalStream();
  const bidiWriter = bidi.writable.getWriter();
  await bidiWriter.write(new Uint8Array(args.streamBytes));
  await bidiWriter.close();
  const streamRead = await readN(bidi.readable, args.expectStream);
  result.stream = streamRead.bytes;
  result.streamEnded = streamRead.ended;

  if (args.uniBytes) {
    const incoming = session.incomingUnidirectionalStreams.getReader();
    const uni = await session.createUnidirectionalStream();
    const uniWriter = uni.getWriter();
    await uniWriter.write(new Uint8Array(args.uniBytes));
    await uniWriter.close();
    const next = await Promise.race([incoming.read(), wait(5000)]);
    if (next !== "timeout" && !next.done) {
      const uniRead = await readN(next.value, args.uniBytes.length);
      result.uni = uniRead.bytes;
      result.uniEnded = uniRead.ended;
    }
  }

  const dgramWriter = session.datagrams.writable.getWriter();
  const dgramReader = session.datagrams.readable.getReader();
  for (const datagram of args.datagrams) {
    for (let attempt = 0; attempt < 3; attempt++) {
      await dgramWriter.write(new Uint8Array(datagram));
      const next = await Promise.race([dgramReader.read(), wait(1000)]);
      if (next !== "timeout" && !next.done) {
        result.datagrams.push([...next.value]);
        break;
      }
    }
  }
  session.close({ closeCode: 0, reason: "done" });
  return result;
}

function hexBytes(hex: string): number[] {
  return hex.match(/../g)!.map((byte) => parseInt(byte, 16));
}

Deno.test("headless Chromium exchanges stream and datagram messages with server.ts on /pingpong and /echo", async (t) => {
  await ensureChromium();
  await using server = await startServer();
  // WebTransport needs a secure context: a page from http://127.0.0.1 is one.
  await using origin = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () =>
      new Response("<!doctype html><title>pingpong interop</title>", {
        headers: { "content-type": "text/html" },
      }),
  );
  await using context = await launchChromium();
  const page = context.pages()[0] ?? await context.newPage();
  await page.goto(`http://127.0.0.1:${origin.addr.port}/`);
  const hash = hexBytes(server.certHash);

  await t.step(
    "/pingpong: PONGs for 10 framed PINGs on a stream and 5 datagram PINGs",
    async () => {
      const pings = Array.from(
        { length: 10 },
        (_, i) => makePing(i + 1, Date.now(), 64),
      );
      const frames = pings.flatMap((ping) => [...encodeFrame(ping)]);
      const datagrams = Array.from(
        { length: 5 },
        (_, i) => [...encodeMessage(makePing(100 + i, Date.now(), 64))],
      );
      const result = await page.evaluate(exchangeInPage, {
        url: server.url,
        hash,
        streamBytes: frames,
        expectStream: frames.length,
        uniBytes: null,
        datagrams,
      });
      const pongs = new FrameDecoder().push(new Uint8Array(result.stream));
      assert.deepEqual(
        pongs.map((pong) => pong.type === MessageType.PONG && pong.seq),
        pings.map((ping) => ping.seq),
      );
      assert.deepEqual(
        result.datagrams.map((bytes) => {
          const pong = decodeMessage(new Uint8Array(bytes));
          return pong.type === MessageType.PONG && pong.seq;
        }),
        [100, 101, 102, 103, 104],
      );
    },
  );

  await t.step(
    "/echo: bidirectional bytes and datagrams echoed; Deno ends no stream (denoland/deno#36822) and never receives Chromium's unidirectional one",
    async () => {
      const bytes = [
        ...new TextEncoder().encode(
          `chromium ${Date.now()} `.padEnd(200, "x"),
        ),
      ];
      const datagrams = [[1, 2, 3], [4, 5, 6, 7]];
      const result = await page.evaluate(exchangeInPage, {
        url: server.url.replace(/\/pingpong$/, "/echo"),
        hash,
        streamBytes: bytes,
        expectStream: bytes.length,
        uniBytes: bytes,
        datagrams,
      });
      assert.deepEqual(result.stream, bytes);
      assert.deepEqual(result.datagrams, datagrams);
      // Chromium sent FIN on its stream; Deno sends none back.
      assert.equal(result.streamEnded, false);
      // Chromium's unidirectional stream never reaches Deno 2.9.6's server,
      // stalled behind Chromium's QPACK encoder stream (the control step
      // shows that stream; aioquic_test.ts the stall), so nothing comes
      // back. See README.
      assert.deepEqual(result.uni, []);
    },
  );

  await t.step(
    "control: aioquic's echo server echoes both stream kinds and ends them",
    async () => {
      const python = await ensureAioquic();
      await using cert = await writeCertificate();
      await using peer = await startPeerServer(python, [
        rootPath("tests/interop/aioquic_echo_server.py"),
        cert.certFile,
        cert.keyFile,
      ]);
      const bytes = [
        ...new TextEncoder().encode("chromium to aioquic".padEnd(200, "y")),
      ];
      const result = await page.evaluate(exchangeInPage, {
        url: `https://127.0.0.1:${peer.port}/echo`,
        hash: hexBytes(cert.hash),
        streamBytes: bytes,
        expectStream: bytes.length,
        uniBytes: bytes,
        datagrams: [[9, 8, 7]],
      });
      assert.deepEqual(result, {
        stream: bytes,
        streamEnded: true,
        uni: bytes,
        uniEnded: true,
        datagrams: [[9, 8, 7]],
      });
      // Chromium opened a QPACK encoder stream before its WebTransport
      // one: what stalls Deno 2.9.6's incomingUnidirectionalStreams
      // (aioquic_test.ts), hence the missing stream in the /echo step.
      assert.ok(
        peer.stderr.some((line) =>
          /^uni stream after peer QPACK streams: encoder \d+,/.test(line)
        ),
        peer.stderr.join("\n"),
      );
    },
  );
});

import assert from "node:assert/strict";
import {
  CloseCode,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  ErrorCode,
  Flag,
  FrameDecoder,
  makePing,
  type Message,
  MessageType,
} from "../lib/codec.ts";
import { runPings } from "../lib/pinger.ts";
import {
  openSession,
  readMessages,
  startInProcessServer,
  writeWithoutReading,
} from "./support/in_process.ts";
import { within } from "./support/poll.ts";
import { pollUntil } from "./support/poll.ts";

Deno.test("serveSession() answers PINGs on a stream with PONGs in order", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  const decoder = new FrameDecoder();
  for (let seq = 1; seq <= 5; seq++) {
    await writer.write(encodeFrame(makePing(seq, seq * 10, 40)));
  }
  const replies = await readMessages(reader, (chunk) => decoder.push(chunk), 5);
  assert.deepEqual(
    replies.map((m) =>
      m.type === MessageType.PONG ? [m.seq, m.timestamp, m.padding.length] : []
    ),
    [1, 2, 3, 4, 5].map((seq) => [seq, seq * 10, 40 - 19]),
  );
  assert.equal(server.stats.pongs, 5);
});

Deno.test("serveSession() answers a malformed frame with ERROR and keeps the session's other streams", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const good = await session.createBidirectionalStream();
  const goodWriter = good.writable.getWriter();
  const goodReader = good.readable.getReader();
  const goodDecoder = new FrameDecoder();
  await goodWriter.write(encodeFrame(makePing(1, 0)));
  assert.equal(
    (await readMessages(goodReader, (c) => goodDecoder.push(c), 1)).length,
    1,
  );

  const bad = await session.createBidirectionalStream();
  const badWriter = bad.writable.getWriter();
  const badReader = bad.readable.getReader();
  await badWriter.write(new Uint8Array([3, 9, 1, 0])); // version 9
  const [error] = await readMessages(
    badReader,
    (c) => new FrameDecoder().push(c),
    1,
  );
  assert.equal(error.type, MessageType.ERROR);
  assert.equal(
    error.type === MessageType.ERROR && error.code,
    ErrorCode.MALFORMED,
  );
  assert.match(
    error.type === MessageType.ERROR ? error.reason : "",
    /unknown protocol version 9/,
  );

  await goodWriter.write(encodeFrame(makePing(2, 0)));
  const [pong] = await readMessages(goodReader, (c) => goodDecoder.push(c), 1);
  assert.equal(pong.type === MessageType.PONG && pong.seq, 2);
  assert.equal(server.stats.malformed, 1);
  assert.equal(server.sessionCount, 1);
});

Deno.test("a frame length above the maximum cuts the session off with 413", async () => {
  await using server = await startInProcessServer({ maxFrameSize: 100 });
  using session = await openSession(server);
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  await writer.write(encodeFrame(makePing(1, 0, 200)));
  // Over a limit is cut off and told why (docs/security.md), not just refused.
  const info = await session.closed;
  assert.equal(info.closeCode, CloseCode.TOO_LARGE);
  assert.match(
    info.reason ?? "",
    /frame length 200 is over the maximum of 100/,
  );
  assert.equal(server.stats.malformed, 1);
});

Deno.test("serveSession() refuses a PONG sent to the server with UNEXPECTED", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const stream = await session.createBidirectionalStream();
  const pong = { ...makePing(1, 0), type: MessageType.PONG } as Message;
  await stream.writable.getWriter().write(encodeFrame(pong));
  const [reply] = await readMessages(
    stream.readable.getReader(),
    (c) => new FrameDecoder().push(c),
    1,
  );
  assert.equal(
    reply.type === MessageType.ERROR && reply.code,
    ErrorCode.UNEXPECTED,
  );
});

Deno.test("serveSession() answers datagram PINGs, and malformed datagrams with a short ERROR", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const writer = session.datagrams.writable.getWriter();
  const reader = session.datagrams.readable.getReader();
  await writer.write(encodeMessage(makePing(7, 1.5, 64)));
  const [pong] = await readMessages(reader, (c) => [decodeMessage(c)], 1);
  assert.deepEqual(
    pong.type === MessageType.PONG &&
      [pong.seq, pong.timestamp, pong.padding.length],
    [7, 1.5, 64 - 19],
  );
  const garbage = new Uint8Array(100).fill(0xff);
  await writer.write(garbage);
  const [error] = await readMessages(reader, (c) => [decodeMessage(c)], 1);
  assert.equal(error.type, MessageType.ERROR);
  // No amplification: the answer to a bad datagram is smaller than it.
  assert.ok(encodeMessage(error).length < garbage.length);
});

Deno.test("serveSession() serves more than 100 FINAL-flagged streams in one session", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  for (let seq = 1; seq <= 150; seq++) {
    const stream = await session.createBidirectionalStream();
    const ping = makePing(seq, 0);
    ping.flags = Flag.FINAL;
    await stream.writable.getWriter().write(encodeFrame(ping));
    const reader = stream.readable.getReader();
    const [pong] = await readMessages(
      reader,
      (c) => new FrameDecoder().push(c),
      1,
    );
    assert.equal(pong.type === MessageType.PONG && pong.seq, seq);
    assert.equal(pong.type === MessageType.PONG && pong.flags, Flag.FINAL);
    await reader.cancel();
  }
  assert.equal(server.stats.streams, 150);
});

Deno.test("serveSession() stops reading a stream whose peer does not read its pongs", async () => {
  await using server = await startInProcessServer();
  using session = await openSession(server);
  const stream = await session.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const frame = encodeFrame(makePing(1, 0, 65_000));
  // Write while the stream takes more, never reading the pongs; stop when
  // writes make no progress for 1 s (the server stopped reading) or 400
  // PINGs (26 MB) went through, at most 20 s.
  let accepted = 0;
  let progressAt = performance.now();
  const deadline = performance.now() + 20_000;
  while (
    accepted < 400 && performance.now() - progressAt < 1000 &&
    performance.now() < deadline
  ) {
    if (writer.desiredSize! > 0) {
      writer.write(frame).then(() => {
        accepted++;
        progressAt = performance.now();
      }, () => {});
    }
    // Pacing the writer (not a readiness wait): the loop ends on progress.
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // Only what QUIC's flow-control windows hold got through (about 40 on
  // Deno 2.9.6); without backpressure the server reads on and queues pongs.
  assert.ok(accepted < 200, `${accepted} PINGs accepted`);
  assert.ok(server.stats.pongs < 200, `${server.stats.pongs} pongs queued`);
  // Reading again resumes the flow: the peer was slowed, not dropped.
  const reader = stream.readable.getReader();
  const decoder = new FrameDecoder();
  const before = server.stats.pongs;
  await readMessages(reader, (chunk) => decoder.push(chunk), before + 1);
  assert.ok(server.stats.pongs > before, "the server read on");
  await reader.cancel();
  writer.releaseLock();
});

Deno.test("junk frames on streams cost pings: past the rate the session is closed with 429", async () => {
  await using server = await startInProcessServer({
    limits: { maxPingsPerSecond: 5 },
  });
  using session = await openSession(server);
  let closeCode: number | undefined;
  session.closed.then((info) => closeCode = info.closeCode, () => {});
  let errors = 0;
  for (let i = 0; i < 20 && closeCode === undefined; i++) {
    try {
      const stream = await session.createBidirectionalStream();
      await stream.writable.getWriter().write(new Uint8Array([3, 9, 1, 0]));
      const replies = await readMessages(
        stream.readable.getReader(),
        (chunk) => new FrameDecoder().push(chunk),
        1,
      );
      errors += replies.filter((m) => m.type === MessageType.ERROR).length;
    } catch {
      // The session closed under us.
    }
  }
  // Bounded: without the charge the session is never closed.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const info = await Promise.race([
    session.closed,
    new Promise<undefined>((resolve) =>
      timer = setTimeout(() => resolve(undefined), 5000)
    ),
  ]).finally(() => clearTimeout(timer));
  assert.equal(info?.closeCode, CloseCode.RATE_LIMITED, `${errors} ERRORs`);
  assert.match(info?.reason ?? "", /too many messages: at most 5 a second/);
  // The one-second burst of 5, and what refilled while the test ran.
  assert.ok(errors >= 5 && errors <= 7, `${errors} ERRORs`);
});

Deno.test("a stream whose peer does not read its pongs closes its session with 408 at the stall timeout", async () => {
  await using server = await startInProcessServer({
    limits: { stallTimeoutMs: 300 },
  });
  using session = await openSession(server);
  const closed = within(session.closed, 10_000);
  // Without the stall timeout only the idle timeout (120 s) would end it.
  await writeWithoutReading(
    session,
    encodeFrame(makePing(1, 0, 65_000)),
    closed,
    10_000,
  );
  const info = await closed;
  assert.equal(info?.closeCode, CloseCode.IDLE_TIMEOUT);
  assert.equal(info?.reason, "stalled: not reading its pongs for 0.3 s");
  assert.equal(server.refusals.get(CloseCode.IDLE_TIMEOUT), 1);
  assert.equal(server.stalledStreams, 0, "its place is given back");
});

Deno.test("a stream that would stall beyond --max-stalled closes its session at once with 503; other sessions carry on", async () => {
  await using server = await startInProcessServer({
    limits: { maxStalled: 1, stallTimeoutMs: 0 },
  });
  using first = await openSession(server);
  using second = await openSession(server);
  using reading = await openSession(server);
  let firstClosed = false;
  first.closed.finally(() => firstClosed = true).catch(() => {});
  const ping = encodeFrame(makePing(1, 0, 65_000));
  // The first session's stream takes the only place...
  const stop = Promise.withResolvers<void>();
  const firstWrites = writeWithoutReading(first, ping, stop.promise, 10_000);
  const stalled = await pollUntil(
    () => Promise.resolve(server.stalledStreams),
    (n) => n === 1,
  );
  assert.equal(stalled, 1);
  // ...so the second is closed as soon as its own stream stalls.
  const closed = within(second.closed, 10_000);
  await writeWithoutReading(second, ping, closed, 10_000);
  const info = await closed;
  assert.equal(info?.closeCode, CloseCode.BUSY);
  assert.equal(
    info?.reason,
    "server busy: too many clients not reading (stalled streams at the limit of 1)",
  );
  // A client that reads its pongs is untouched, and so is the first one.
  const stats = await runPings(reading, {
    count: 20,
    intervalMs: 0,
    timeoutMs: 2000,
  });
  assert.equal(stats.summary().received, 20);
  stop.resolve();
  await firstWrites;
  assert.equal(firstClosed, false);
  assert.equal(server.stalledStreams, 1);
  assert.deepEqual([...server.refusals], [[CloseCode.BUSY, 1]]);
});

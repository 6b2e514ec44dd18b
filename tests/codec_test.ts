import assert from "node:assert/strict";
import {
  DecodeError,
  decodeMessage,
  encodeFrame,
  encodeMessage,
  ERROR_HEADER_SIZE,
  ErrorCode,
  Flag,
  FrameDecoder,
  makePing,
  MAX_REASON_BYTES,
  MessageType,
  PING_HEADER_SIZE,
  pongFor,
  PROTOCOL_VERSION,
  readVarint,
  varintSize,
  writeVarint,
} from "../lib/codec.ts";

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (error) {
    assert.ok(
      error instanceof DecodeError,
      `expected DecodeError, got ${error}`,
    );
    return error;
  }
  assert.fail("expected a DecodeError");
}

Deno.test("encodeFrame() lays out a PING byte by byte as docs/protocol.md shows", () => {
  const ping = makePing(3, 1764000000000.25, 24);
  ping.padding.fill(0xaa);
  const hex = Array.from(
    encodeFrame(ping),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join(" ");
  assert.equal(
    hex,
    "18 01 01 00 00 00 00 00 00 00 00 03 42 79 ab 69 7e 80 04 00 aa aa aa aa aa",
  );
  ping.flags = Flag.FINAL;
  assert.equal(encodeMessage(ping)[2], 0x01);
  const error = encodeMessage({
    type: MessageType.ERROR,
    code: 400,
    reason: "bad",
  });
  assert.deepEqual(Array.from(error), [
    0x01,
    0x03,
    0x00,
    0x01,
    0x90,
    0x62,
    0x61,
    0x64,
  ]);
});

Deno.test("decodeMessage() round-trips PING, PONG and ERROR", () => {
  const ping = makePing(42, 123.25, 100);
  ping.padding.set([1, 2, 3]);
  assert.deepEqual(decodeMessage(encodeMessage(ping)), ping);
  const pong = pongFor(ping);
  assert.deepEqual(decodeMessage(encodeMessage(pong)), pong);
  const error = {
    type: MessageType.ERROR,
    code: ErrorCode.LIMIT,
    reason: "slow down ✋",
  } as const;
  assert.deepEqual(decodeMessage(encodeMessage(error)), error);
});

Deno.test("makePing() produces exactly the requested size and refuses less than the header", () => {
  assert.equal(encodeMessage(makePing(1, 0, 64)).length, 64);
  assert.equal(encodeMessage(makePing(1, 0)).length, PING_HEADER_SIZE);
  assert.throws(() => makePing(1, 0, PING_HEADER_SIZE - 1), RangeError);
});

Deno.test("pongFor() repeats seq, timestamp, padding and flags", () => {
  const ping = makePing(9, 77, 30);
  ping.flags = Flag.FINAL;
  const pong = pongFor(ping);
  assert.equal(pong.type, MessageType.PONG);
  assert.equal(pong.seq, 9);
  assert.equal(pong.timestamp, 77);
  assert.equal(pong.padding, ping.padding);
  assert.equal(pong.flags, Flag.FINAL);
});

Deno.test("decodeMessage() rejects truncated headers", () => {
  assert.equal(
    decodeError(() => decodeMessage(new Uint8Array([1, 1]))).kind,
    "truncated",
  );
  const ping = encodeMessage(makePing(1, 0));
  assert.equal(
    decodeError(() => decodeMessage(ping.subarray(0, PING_HEADER_SIZE - 1)))
      .kind,
    "truncated",
  );
  const error = encodeMessage({ type: MessageType.ERROR, code: 1, reason: "" });
  assert.equal(error.length, ERROR_HEADER_SIZE);
  assert.equal(
    decodeError(() => decodeMessage(error.subarray(0, ERROR_HEADER_SIZE - 1)))
      .kind,
    "truncated",
  );
});

Deno.test("decodeMessage() rejects an unknown version or type", () => {
  const bytes = encodeMessage(makePing(1, 0));
  bytes[0] = 2;
  assert.equal(decodeError(() => decodeMessage(bytes)).kind, "version");
  bytes[0] = PROTOCOL_VERSION;
  bytes[1] = 0x7f;
  const error = decodeError(() => decodeMessage(bytes));
  assert.equal(error.kind, "type");
  assert.match(error.message, /0x7f/);
});

Deno.test("decodeMessage() rejects a message above maxSize", () => {
  const bytes = encodeMessage(makePing(1, 0, 200));
  const error = decodeError(() => decodeMessage(bytes, 199));
  assert.equal(error.kind, "too-large");
  assert.equal(error.errorCode, ErrorCode.TOO_LARGE);
  assert.equal(decodeMessage(bytes, 200).type, MessageType.PING);
});

Deno.test("decodeMessage() rejects a sequence number beyond 2^53", () => {
  const bytes = encodeMessage(makePing(1, 0));
  bytes.fill(0xff, 3, 11);
  assert.equal(decodeError(() => decodeMessage(bytes)).kind, "invalid");
});

Deno.test("decodeMessage() rejects an ERROR reason that is not UTF-8", () => {
  const bytes = new Uint8Array([
    PROTOCOL_VERSION,
    MessageType.ERROR,
    0,
    1,
    144,
    0xff,
    0xfe,
  ]);
  const error = decodeError(() => decodeMessage(bytes));
  assert.equal(error.kind, "invalid");
  assert.equal(error.errorCode, ErrorCode.MALFORMED);
});

Deno.test("encodeMessage() cuts an overlong ERROR reason on a character boundary", () => {
  const reason = "é".repeat(MAX_REASON_BYTES); // 2 bytes each
  const bytes = encodeMessage({ type: MessageType.ERROR, code: 500, reason });
  assert.ok(bytes.length <= ERROR_HEADER_SIZE + MAX_REASON_BYTES);
  const decoded = decodeMessage(bytes);
  assert.equal(decoded.type, MessageType.ERROR);
  assert.ok(
    decoded.type === MessageType.ERROR && reason.startsWith(decoded.reason),
  );
});

Deno.test("encodeMessage() refuses a negative or fractional seq", () => {
  assert.throws(() => encodeMessage(makePing(-1, 0)), RangeError);
  assert.throws(() => encodeMessage(makePing(1.5, 0)), RangeError);
});

Deno.test("writeVarint() and readVarint() agree at every size boundary", () => {
  for (
    const value of [
      0,
      63,
      64,
      16383,
      16384,
      2 ** 30 - 1,
      2 ** 30,
      Number.MAX_SAFE_INTEGER,
    ]
  ) {
    const out = new Uint8Array(8);
    const size = writeVarint(value, out, 0);
    assert.equal(size, varintSize(value));
    assert.deepEqual(readVarint(out, 0), [value, size]);
  }
  // RFC 9000 appendix A.1 examples.
  assert.deepEqual(readVarint(new Uint8Array([0x7b, 0xbd]), 0), [15293, 2]);
  assert.deepEqual(readVarint(new Uint8Array([0x9d, 0x7f, 0x3e, 0x7d]), 0), [
    494878333,
    4,
  ]);
  assert.equal(readVarint(new Uint8Array([0x9d, 0x7f]), 0), undefined);
});

Deno.test("FrameDecoder returns messages split across chunks, byte by byte", () => {
  const frames = [makePing(1, 10, 30), makePing(2, 20, 300), makePing(3, 30)]
    .map(encodeFrame);
  const all = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const frame of frames) {
    all.set(frame, at);
    at += frame.length;
  }
  const decoder = new FrameDecoder();
  const seqs: number[] = [];
  for (let i = 0; i < all.length; i++) {
    for (const message of decoder.push(all.subarray(i, i + 1))) {
      assert.equal(message.type, MessageType.PING);
      seqs.push(message.type === MessageType.PING ? message.seq : -1);
    }
  }
  assert.deepEqual(seqs, [1, 2, 3]);
  assert.equal(decoder.buffered, 0);
});

Deno.test("FrameDecoder returns several messages from one chunk and keeps the rest", () => {
  const a = encodeFrame(makePing(1, 0));
  const b = encodeFrame(makePing(2, 0, 100));
  const chunk = new Uint8Array(a.length + 5);
  chunk.set(a);
  chunk.set(b.subarray(0, 5), a.length);
  const decoder = new FrameDecoder();
  assert.equal(decoder.push(chunk).length, 1);
  assert.equal(decoder.buffered, 5);
  const rest = decoder.push(b.subarray(5));
  assert.equal(rest.length, 1);
  assert.equal(rest[0].type === MessageType.PING && rest[0].seq, 2);
});

Deno.test("FrameDecoder rejects a length above maxFrameSize before the body arrives", () => {
  const decoder = new FrameDecoder({ maxFrameSize: 1000 });
  const prefix = new Uint8Array(8).fill(0xff); // 2^62 - 1
  const error = decodeError(() => decoder.push(prefix));
  assert.equal(error.kind, "too-large");
  const small = new FrameDecoder({ maxFrameSize: 1000 });
  const header = new Uint8Array(2);
  writeVarint(1001, header, 0);
  assert.equal(decodeError(() => small.push(header)).kind, "too-large");
});

Deno.test("FrameDecoder rejects a frame whose message is malformed", () => {
  const decoder = new FrameDecoder();
  assert.equal(
    decodeError(() => decoder.push(new Uint8Array([3, 2, 9, 9]))).kind,
    "version",
  );
  assert.equal(
    decodeError(() => new FrameDecoder().push(new Uint8Array([0]))).kind,
    "truncated",
  );
});

Deno.test("FrameDecoder's messages stay intact after later pushes reuse its buffer", () => {
  const decoder = new FrameDecoder();
  const first = encodeFrame(makePing(1, 0, 40));
  decoder.push(first.subarray(0, 10));
  const [message] = decoder.push(first.subarray(10));
  assert.ok(message.type === MessageType.PING);
  const padding = message.padding.slice();
  const second = encodeFrame(makePing(2, 0, 40));
  second.fill(0xee, 20);
  decoder.push(second.subarray(0, 10));
  decoder.push(second.subarray(10));
  assert.deepEqual(message.padding, padding);
});

import assert from "node:assert/strict";
import fc from "fast-check";
import {
  DecodeError,
  decodeMessage,
  DEFAULT_MAX_FRAME_SIZE,
  encodeFrame,
  encodeMessage,
  type ErrorMessage,
  FrameDecoder,
  MAX_REASON_BYTES,
  type Message,
  MessageType,
  PING_HEADER_SIZE,
  type PingMessage,
  readVarint,
  varintSize,
  writeVarint,
} from "../lib/codec.ts";

/** Random byte strings each fuzz property decodes (the issue asks ≥100,000). */
const FUZZ_RUNS = 100_000;

/** Every property is bounded in time too; running out counts as a failure. */
const TIME_LIMIT_MS = 240_000;

const bounded = {
  interruptAfterTimeLimit: TIME_LIMIT_MS,
  markInterruptAsFailure: true,
} as const;

const utf8 = new TextEncoder();

// U+FEFF is drawn often: a decoder that strips a leading BOM loses it.
const reasonChar = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom("\uFEFF", "é", "€", "😀", "\0") },
  { weight: 8, arbitrary: fc.string({ unit: "binary", maxLength: 1 }) },
);

const pingArb: fc.Arbitrary<PingMessage> = fc.record({
  type: fc.constantFrom(MessageType.PING, MessageType.PONG),
  seq: fc.maxSafeNat(),
  timestamp: fc.double(),
  padding: fc.uint8Array({ maxLength: 512 }),
  flags: fc.integer({ min: 0, max: 255 }),
}).map((ping) => ({ ...ping }));

const errorArb: fc.Arbitrary<ErrorMessage> = fc.record({
  type: fc.constant(MessageType.ERROR),
  code: fc.integer({ min: 0, max: 0xffff }),
  reason: fc.string({ unit: reasonChar, maxLength: 300 }),
}).map((error) => ({ ...error })).filter((message) =>
  utf8.encode(message.reason).length <= MAX_REASON_BYTES
);

const messageArb: fc.Arbitrary<Message> = fc.oneof(pingArb, errorArb);

/** Splits `bytes` at the given cut points (any order, duplicates allowed). */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))]
    .sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const point of [...points, bytes.length]) {
    chunks.push(bytes.subarray(from, point));
    from = point;
  }
  return chunks;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** What a decoder made of a byte stream: messages, then maybe an error. */
interface Outcome {
  messages: Message[];
  error: DecodeError["kind"] | undefined;
  buffered: number;
}

/** Feeds `chunks` to a fresh decoder; anything but a DecodeError escapes. */
function feed(chunks: Uint8Array[], maxFrameSize?: number): Outcome {
  const decoder = new FrameDecoder({ maxFrameSize });
  const messages: Message[] = [];
  for (const chunk of chunks) {
    try {
      messages.push(...decoder.push(chunk));
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return { messages, error: error.kind, buffered: -1 };
    }
  }
  return { messages, error: undefined, buffered: decoder.buffered };
}

/**
 * The frame grammar written as plainly as possible, to check FrameDecoder's
 * buffering against: every complete frame in order up to the first bad one.
 */
function referenceDecode(bytes: Uint8Array, maxFrameSize: number): Outcome {
  const messages: Message[] = [];
  let pos = 0;
  while (pos < bytes.length) {
    const header = readVarint(bytes, pos);
    if (header === undefined) break;
    const [length, prefix] = header;
    if (length > maxFrameSize) {
      return { messages, error: "too-large", buffered: -1 };
    }
    if (pos + prefix + length > bytes.length) break;
    try {
      messages.push(
        decodeMessage(bytes.slice(pos + prefix, pos + prefix + length)),
      );
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      return { messages, error: error.kind, buffered: -1 };
    }
    pos += prefix + length;
  }
  return { messages, error: undefined, buffered: bytes.length - pos };
}

/** Random bytes, half of them starting like a message so decoding gets further. */
const hostileBytes = fc.oneof(
  fc.uint8Array({ maxLength: 96 }),
  fc.tuple(
    fc.constantFrom(MessageType.PING, MessageType.PONG, MessageType.ERROR),
    fc.uint8Array({ maxLength: 96 }),
  ).map(([type, rest]) => Uint8Array.of(1, type, ...rest)),
);

Deno.test("decodeMessage(encodeMessage(m)) returns m for every valid message", () => {
  fc.assert(
    fc.property(messageArb, (message) => {
      const bytes = encodeMessage(message);
      assert.equal(
        bytes.length,
        message.type === MessageType.ERROR
          ? 5 + utf8.encode(message.reason).length
          : PING_HEADER_SIZE + message.padding.length,
      );
      assert.deepEqual(decodeMessage(bytes), message);
    }),
    { numRuns: 20_000, ...bounded },
  );
});

Deno.test("decodeMessage() round-trips a PING of the largest accepted size", () => {
  fc.assert(
    fc.property(
      pingArb,
      fc.integer({ min: 0, max: 0xff }),
      (ping, fill) => {
        const padding = new Uint8Array(
          DEFAULT_MAX_FRAME_SIZE - PING_HEADER_SIZE,
        ).fill(fill);
        const big = { ...ping, padding };
        const bytes = encodeMessage(big);
        assert.equal(bytes.length, DEFAULT_MAX_FRAME_SIZE);
        assert.deepEqual(decodeMessage(bytes), big);
        assert.throws(
          () => decodeMessage(bytes, DEFAULT_MAX_FRAME_SIZE - 1),
          (error) => error instanceof DecodeError && error.kind === "too-large",
        );
      },
    ),
    { numRuns: 50, ...bounded },
  );
});

Deno.test("encodeMessage() cuts an over-long ERROR reason to a UTF-8 prefix that decodes", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: reasonChar, minLength: 200, maxLength: 1200 }),
      fc.integer({ min: 0, max: 0xffff }),
      (reason, code) => {
        const decoded = decodeMessage(
          encodeMessage({ type: MessageType.ERROR, code, reason }),
        ) as ErrorMessage;
        const sent = utf8.encode(reason).length;
        const got = utf8.encode(decoded.reason).length;
        assert.equal(decoded.code, code);
        assert.ok(reason.startsWith(decoded.reason));
        assert.ok(got <= MAX_REASON_BYTES);
        // Cut on a character boundary: at most one 4-byte character short.
        assert.ok(got >= Math.min(sent, MAX_REASON_BYTES - 3));
      },
    ),
    { numRuns: 2_000, ...bounded },
  );
});

Deno.test("FrameDecoder returns every framed message in order however the stream is cut", () => {
  fc.assert(
    fc.property(
      fc.array(messageArb, { maxLength: 8 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      (messages, cuts) => {
        const stream = concat(messages.map(encodeFrame));
        const outcome = feed(split(stream, cuts));
        assert.deepEqual(outcome, { messages, error: undefined, buffered: 0 });
      },
    ),
    { numRuns: 10_000, ...bounded },
  );
});

Deno.test("readVarint(writeVarint(n)) returns n in the fewest bytes for every safe integer", () => {
  fc.assert(
    fc.property(fc.maxSafeNat(), (value) => {
      const out = new Uint8Array(8);
      const size = writeVarint(value, out, 0);
      assert.equal(size, varintSize(value));
      assert.deepEqual(readVarint(out, 0, size), [value, size]);
      assert.equal(readVarint(out, 0, size - 1), undefined);
      if (size > 1) assert.ok(value >= 2 ** (8 * (size / 2) - 2));
    }),
    { numRuns: 20_000, ...bounded },
  );
});

Deno.test(`decodeMessage() on ${FUZZ_RUNS} random byte strings returns a message or throws only DecodeError`, () => {
  const kinds = new Map<string, number>();
  fc.assert(
    fc.property(hostileBytes, (bytes) => {
      let kind = "message";
      try {
        const message = decodeMessage(bytes);
        // Whatever is accepted survives re-encoding (an ERROR's ignored
        // flags byte aside, so compare decoded forms, not bytes).
        assert.deepEqual(decodeMessage(encodeMessage(message)), message);
      } catch (error) {
        if (!(error instanceof DecodeError)) throw error;
        kind = error.kind;
      }
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }),
    { numRuns: FUZZ_RUNS, ...bounded },
  );
  // The generator reaches every outcome, not just "bad version".
  for (const kind of ["message", "truncated", "version", "type", "invalid"]) {
    assert.ok((kinds.get(kind) ?? 0) > 0, `no input ended as ${kind}`);
  }
});

Deno.test(`FrameDecoder on ${FUZZ_RUNS} random byte streams cut at random matches a whole-buffer decode and throws only DecodeError`, () => {
  const maxFrameSize = 64;
  let errors = 0;
  let decoded = 0;
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          hostileBytes.map((bytes) => {
            // Frame it with a correct length so the body decoder is reached.
            const out = new Uint8Array(8 + bytes.length);
            const prefix = writeVarint(bytes.length, out, 0);
            out.set(bytes, prefix);
            return out.subarray(0, prefix + bytes.length);
          }),
          fc.uint8Array({ maxLength: 32 }),
        ),
        { maxLength: 4 },
      ),
      fc.array(fc.nat(), { maxLength: 12 }),
      (parts, cuts) => {
        const stream = concat(parts);
        const outcome = feed(split(stream, cuts), maxFrameSize);
        const expected = referenceDecode(stream, maxFrameSize);
        if (expected.error === undefined) {
          assert.deepEqual(outcome, expected);
        } else {
          // push() throws away what the failing chunk completed before the
          // bad frame (the stream is refused anyway): a prefix arrives.
          assert.equal(outcome.error, expected.error);
          assert.deepEqual(
            outcome.messages,
            expected.messages.slice(0, outcome.messages.length),
          );
        }
        if (outcome.error) errors++;
        decoded += outcome.messages.length;
      },
    ),
    { numRuns: FUZZ_RUNS, ...bounded },
  );
  assert.ok(errors > 0 && decoded > 0, `${errors} errors, ${decoded} messages`);
});

Deno.test("FrameDecoder refuses a length prefix near 2^62 before any body arrives", () => {
  fc.assert(
    fc.property(
      fc.bigInt({ min: 2n ** 61n, max: 2n ** 62n - 1n }),
      fc.integer({ min: 1, max: 8 }),
      (length, firstChunk) => {
        const prefix = new Uint8Array(8);
        new DataView(prefix.buffer).setBigUint64(0, length | (0b11n << 62n));
        const decoder = new FrameDecoder();
        let thrown: unknown;
        try {
          decoder.push(prefix.subarray(0, firstChunk));
          decoder.push(prefix.subarray(firstChunk));
        } catch (error) {
          thrown = error;
        }
        assert.ok(
          thrown instanceof DecodeError && thrown.kind === "too-large",
          String(thrown),
        );
        assert.ok(decoder.buffered <= 8);
      },
    ),
    { numRuns: 1_000, ...bounded },
  );
});

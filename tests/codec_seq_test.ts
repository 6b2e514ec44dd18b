import assert from "node:assert/strict";
import {
  DecodeError,
  decodeMessage,
  encodeMessage,
  makePing,
} from "../lib/codec.ts";

Deno.test("encodeMessage() and decodeMessage() keep every safe seq exactly", () => {
  for (
    const seq of [0, 1, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 5, 2 ** 53 - 1]
  ) {
    const bytes = encodeMessage(makePing(seq, 0));
    assert.equal(
      new DataView(bytes.buffer).getBigUint64(3),
      BigInt(seq),
      `wire bytes of ${seq}`,
    );
    const decoded = decodeMessage(bytes);
    assert.equal("seq" in decoded && decoded.seq, seq);
  }
});

Deno.test("decodeMessage() rejects a seq of 2^53 or more", () => {
  const bytes = encodeMessage(makePing(1, 0));
  new DataView(bytes.buffer).setBigUint64(3, 2n ** 53n);
  assert.throws(
    () => decodeMessage(bytes),
    (error) => error instanceof DecodeError && error.kind === "invalid",
  );
});

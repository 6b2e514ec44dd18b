import assert from "node:assert/strict";
import {
  decodeMessage,
  encodeFrame,
  encodeMessage,
  Flag,
  makePing,
  MessageType,
} from "../lib/codec.ts";
import { datagramPongInPlace, framePongInPlace } from "../lib/pong_in_place.ts";

Deno.test("framePongInPlace() turns a PING frame into the PONG the codec would make", () => {
  for (const size of [19, 64, 100, 1200]) {
    const ping = makePing(123_456, 1.5, size);
    ping.padding.fill(7);
    ping.flags = Flag.FINAL;
    const chunk = encodeFrame(ping);
    assert.equal(framePongInPlace(chunk, 65_536), Flag.FINAL);
    const prefix = chunk.length - size;
    const pong = decodeMessage(chunk.subarray(prefix));
    assert.equal(pong.type, MessageType.PONG);
    assert.deepEqual(pong, { ...ping, type: MessageType.PONG });
  }
});

Deno.test("framePongInPlace() leaves anything but exactly one PING frame untouched", () => {
  const one = encodeFrame(makePing(1, 0, 64));
  const cases: [string, Uint8Array][] = [
    ["empty chunk", new Uint8Array(0)],
    ["partial frame", one.slice(0, 30)],
    ["two frames", new Uint8Array([...one, ...one])],
    [
      "an ERROR",
      encodeFrame({ type: MessageType.ERROR, code: 400, reason: "x" }),
    ],
    ["a PONG", encodeFrame({ ...makePing(1, 0, 64), type: MessageType.PONG })],
    [
      "another version",
      (() => {
        const bytes = one.slice();
        bytes[1] = 9;
        return bytes;
      })(),
    ],
    [
      "seq above 2^53",
      (() => {
        const bytes = one.slice();
        bytes[1 + 4] = 0x20;
        return bytes;
      })(),
    ],
  ];
  for (const [what, chunk] of cases) {
    const before = chunk.slice();
    assert.equal(framePongInPlace(chunk, 65_536), -1, what);
    assert.deepEqual(chunk, before, what);
  }
});

Deno.test("framePongInPlace() refuses a frame over maxFrameSize", () => {
  assert.equal(framePongInPlace(encodeFrame(makePing(1, 0, 200)), 100), -1);
});

Deno.test("datagramPongInPlace() answers a PING datagram and refuses the rest", () => {
  const datagram = encodeMessage(makePing(9, 2, 64));
  assert.equal(datagramPongInPlace(datagram, 65_536), 0);
  assert.equal(decodeMessage(datagram).type, MessageType.PONG);
  assert.equal(datagramPongInPlace(datagram, 65_536), -1); // now a PONG
  assert.equal(datagramPongInPlace(encodeMessage(makePing(9, 2, 64)), 32), -1);
  assert.equal(datagramPongInPlace(new Uint8Array(5), 65_536), -1);
});

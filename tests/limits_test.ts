import assert from "node:assert/strict";
import type { Refusal } from "../lib/auth.ts";
import { CloseCode } from "../lib/codec.ts";
import {
  admitSession,
  type Limits,
  SessionGuard,
  TokenBucket,
} from "../lib/limits.ts";

const NONE: Limits = {
  maxSessions: 0,
  maxStreams: 0,
  maxPingsPerSecond: 0,
  idleTimeoutMs: 0,
};

function guarded(limits: Partial<Limits>, clock = { now: 0 }) {
  const closes: Refusal[] = [];
  const guard = new SessionGuard(
    { ...NONE, ...limits },
    (refusal) => closes.push(refusal),
    { now: () => clock.now, timer: false },
  );
  return { guard, closes, clock };
}

Deno.test("admitSession() refuses with 503 once maxSessions are open, and never when 0", () => {
  assert.equal(admitSession(1, { maxSessions: 2 }), undefined);
  assert.equal(admitSession(2, { maxSessions: 2 })?.closeCode, CloseCode.BUSY);
  assert.equal(admitSession(10_000, { maxSessions: 0 }), undefined);
});

Deno.test("TokenBucket allows a burst, then refills at its rate", () => {
  let now = 0;
  const bucket = new TokenBucket(10, 5, () => now);
  for (let i = 0; i < 5; i++) assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
  now = 100; // one token back
  assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
  now = 100_000; // refill stops at the burst
  for (let i = 0; i < 5; i++) assert.equal(bucket.take(), true);
  assert.equal(bucket.take(), false);
});

Deno.test("SessionGuard closes with 429 when more streams than maxStreams are open at once", () => {
  const { guard, closes } = guarded({ maxStreams: 2 });
  assert.equal(guard.streamOpened(), true);
  assert.equal(guard.streamOpened(), true);
  guard.streamClosed();
  assert.equal(guard.streamOpened(), true);
  assert.equal(closes.length, 0);
  assert.equal(guard.streamOpened(), false);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].closeCode, CloseCode.RATE_LIMITED);
  assert.match(closes[0].reason, /streams/);
  // Closed once only, whatever follows.
  guard.streamOpened();
  assert.equal(guard.ping(), false);
  assert.equal(closes.length, 1);
});

Deno.test("SessionGuard closes with 429 when pings come faster than maxPingsPerSecond", () => {
  const { guard, closes, clock } = guarded({ maxPingsPerSecond: 100 });
  // 100 a second for 3 s, exactly at the rate: never cut.
  for (let i = 0; i < 300; i++) {
    clock.now = i * 10;
    assert.equal(guard.ping(), true, `ping ${i}`);
  }
  // Then a flood: the one-second burst runs out.
  let accepted = 0;
  while (guard.ping()) accepted++;
  assert.ok(accepted <= 100, `${accepted} accepted`);
  assert.equal(closes.length, 1);
  assert.equal(closes[0].closeCode, CloseCode.RATE_LIMITED);
  assert.match(closes[0].reason, /pings/);
});

Deno.test("SessionGuard closes with 408 after idleTimeoutMs without a ping", () => {
  const { guard, closes, clock } = guarded({ idleTimeoutMs: 1000 });
  clock.now = 600;
  assert.equal(guard.checkIdle(), 400);
  guard.ping();
  clock.now = 1500;
  assert.equal(guard.checkIdle(), 100);
  assert.equal(closes.length, 0);
  clock.now = 1600;
  assert.equal(guard.checkIdle(), 0);
  assert.deepEqual(closes.map((close) => close.closeCode), [
    CloseCode.IDLE_TIMEOUT,
  ]);
});

Deno.test("SessionGuard closes with 413 on an oversize message", () => {
  const { guard, closes } = guarded({});
  guard.oversize("frame length 99999 is over the maximum of 1000");
  assert.equal(closes[0].closeCode, CloseCode.TOO_LARGE);
  assert.equal(guard.closed, true);
});

Deno.test("SessionGuard's idle timer closes a silent session by itself", async () => {
  const closed = Promise.withResolvers<Refusal>();
  const guard = new SessionGuard(
    { ...NONE, idleTimeoutMs: 20 },
    closed.resolve,
  );
  try {
    assert.equal((await closed.promise).closeCode, CloseCode.IDLE_TIMEOUT);
  } finally {
    guard.dispose();
  }
});

Deno.test("SessionGuard charges malformed datagrams to the ping rate and closes with 429 past it", () => {
  const { guard, closes, clock } = guarded({ maxPingsPerSecond: 10 });
  for (let i = 0; i < 10; i++) assert.equal(guard.malformed(), true);
  assert.equal(guard.malformed(), false);
  assert.equal(closes[0].closeCode, CloseCode.RATE_LIMITED);
  clock.now = 10_000;
  assert.equal(guard.malformed(), false, "stays closed");
  assert.equal(closes.length, 1);
});

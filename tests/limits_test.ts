import assert from "node:assert/strict";
import type { Refusal } from "../lib/auth.ts";
import { CloseCode } from "../lib/codec.ts";
import {
  admitSession,
  Budget,
  type Limits,
  SessionGuard,
  stalledBudget,
  TokenBucket,
} from "../lib/limits.ts";

const NONE: Limits = {
  maxSessions: 0,
  maxStreams: 0,
  maxPingsPerSecond: 0,
  idleTimeoutMs: 0,
  stallTimeoutMs: 0,
  maxStalled: 0,
};

function guarded(
  limits: Partial<Limits>,
  clock = { now: 0 },
  stalled?: Budget,
) {
  const closes: Refusal[] = [];
  const guard = new SessionGuard(
    { ...NONE, ...limits },
    (refusal) => closes.push(refusal),
    { now: () => clock.now, timer: false, stalled },
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

Deno.test("Budget takes up to its maximum and gives back", () => {
  const budget = new Budget(3);
  assert.equal(budget.take(2), true);
  assert.equal(budget.take(2), false, "nothing taken past the maximum");
  assert.equal(budget.held, 2);
  assert.equal(budget.take(), true);
  budget.give(3);
  assert.equal(budget.held, 0);
  assert.equal(stalledBudget({ maxStalled: 0 }).max, Infinity, "0: no limit");
});

Deno.test("SessionGuard closes with 408 once a writer stays stalled for stallTimeoutMs", () => {
  const { guard, closes, clock } = guarded({ stallTimeoutMs: 1000 });
  assert.equal(guard.checkStalls(), 0, "no stall, nothing to time out");
  const end = guard.stallBegan(true);
  assert.ok(end);
  clock.now = 600;
  assert.equal(guard.checkStalls(), 400);
  // A stall that ended no longer counts; the next one has its own time.
  end();
  clock.now = 5000;
  assert.equal(guard.checkStalls(), 0);
  assert.ok(guard.stallBegan(false), "the datagram writer stalls too");
  clock.now = 5999;
  assert.equal(guard.checkStalls(), 1);
  assert.equal(closes.length, 0);
  clock.now = 6000;
  assert.equal(guard.checkStalls(), 0);
  assert.deepEqual(closes, [{
    closeCode: CloseCode.IDLE_TIMEOUT,
    reason: "stalled: not reading its pongs for 1 s",
  }]);
  assert.equal(guard.stallBegan(true), false, "closed: stop serving");
  assert.equal(closes.length, 1);
});

Deno.test("SessionGuard names the stall timeout in seconds and the echo service's replies", () => {
  const clock = { now: 0 };
  const closes: Refusal[] = [];
  const guard = new SessionGuard(
    { ...NONE, stallTimeoutMs: 500 },
    (refusal) => closes.push(refusal),
    { now: () => clock.now, timer: false, replies: "echoes" },
  );
  guard.stallBegan(true);
  clock.now = 500;
  guard.checkStalls();
  assert.equal(closes[0].reason, "stalled: not reading its echoes for 0.5 s");
});

Deno.test("a stream stalling beyond maxStalled closes its own session with 503, and no other", () => {
  const stalled = stalledBudget({ maxStalled: 2 });
  const a = guarded({}, undefined, stalled);
  const b = guarded({}, undefined, stalled);
  const c = guarded({}, undefined, stalled);
  const endA = a.guard.stallBegan(true);
  assert.ok(endA);
  assert.ok(b.guard.stallBegan(true));
  // The datagram writer holds no flow-control window: not counted.
  assert.ok(c.guard.stallBegan(false));
  assert.equal(stalled.held, 2);
  assert.equal(c.guard.stallBegan(true), false);
  assert.deepEqual(c.closes, [{
    closeCode: CloseCode.BUSY,
    reason:
      "server busy: too many clients not reading (stalled streams at the limit of 2)",
  }]);
  assert.deepEqual([a.closes, b.closes], [[], []]);
  // A stall that ends gives its place back.
  endA();
  endA();
  assert.equal(stalled.held, 1, "ended once only");
  const d = guarded({}, undefined, stalled);
  assert.ok(d.guard.stallBegan(true));
  assert.equal(stalled.held, 2);
  // A session closed for any limit gives back every place it held at once,
  // whether or not its writers ever see their wait end.
  const endD2 = d.guard.stallBegan(true);
  assert.equal(endD2, false, "over the cap again");
  assert.equal(d.closes[0].closeCode, CloseCode.BUSY);
  assert.equal(stalled.held, 1);
  b.guard.dispose();
  assert.equal(stalled.held, 0);
});

Deno.test("maxStalled 0 and stallTimeoutMs 0 turn the stall limits off", () => {
  const { guard, closes, clock } = guarded({});
  for (let i = 0; i < 1000; i++) assert.ok(guard.stallBegan(true));
  clock.now = 1e9;
  assert.equal(guard.checkStalls(), 0);
  assert.deepEqual(closes, []);
  assert.equal(guard.stalls, 1000);
  guard.dispose();
  assert.equal(guard.stalls, 0);
});

Deno.test("SessionGuard's stall timer closes a stalled session by itself, and not an unstalled one", async () => {
  const closed = Promise.withResolvers<Refusal>();
  const guard = new SessionGuard(
    { ...NONE, stallTimeoutMs: 20 },
    closed.resolve,
  );
  const calm = new SessionGuard(
    { ...NONE, stallTimeoutMs: 20 },
    () => assert.fail("no stall ongoing: no close"),
  );
  try {
    // One stall that ends at once, then one that lasts.
    const end = calm.stallBegan(true);
    assert.ok(end);
    end();
    guard.stallBegan(true);
    assert.equal((await closed.promise).closeCode, CloseCode.IDLE_TIMEOUT);
    // The calm session's timer, armed first for as long, has fired by now
    // and found no stall.
    assert.equal(calm.closed, false);
  } finally {
    guard.dispose();
    calm.dispose();
  }
});

import assert from "node:assert/strict";
import {
  DeadPathDetector,
  missedSlots,
  RECONNECT_DEFAULTS,
} from "../lib/reconnect.ts";

Deno.test("DeadPathDetector calls a path dead only after deadAfterMs of silence with pings outstanding", () => {
  const detector = new DeadPathDetector(3000);
  assert.equal(detector.isDead(10_000), false, "nothing sent: not dead");
  detector.sent(1000);
  detector.sent(2000); // a later ping does not restart the clock
  assert.equal(detector.isDead(3999), false);
  assert.equal(detector.isDead(4000), true);
});

Deno.test("DeadPathDetector starts over from the first ping after a pong", () => {
  const detector = new DeadPathDetector(3000);
  detector.sent(0);
  detector.replied();
  assert.equal(detector.isDead(5000), false);
  detector.sent(5000);
  assert.equal(detector.isDead(7999), false);
  assert.equal(detector.isDead(8000), true);
});

Deno.test("RECONNECT_DEFAULTS detect within 3 s and cap one delay at 5 s", () => {
  assert.equal(RECONNECT_DEFAULTS.deadAfterMs, 3000);
  assert.equal(RECONNECT_DEFAULTS.maxDelayMs, 5000);
  assert.ok(RECONNECT_DEFAULTS.maxRetries >= 1);
});

Deno.test("missedSlots() counts the intervals strictly between the last ping and the new session", () => {
  assert.equal(missedSlots(1000, 6050, 100, Infinity), 50); // 1100 ... 6000
  assert.equal(missedSlots(1000, 6000, 100, Infinity), 49); // 6000 is the next ping
  assert.equal(missedSlots(1000, 1050, 100, Infinity), 0);
});

Deno.test("missedSlots() stops at the pings left and counts none back to back", () => {
  assert.equal(missedSlots(0, 10_000, 100, 7), 7);
  assert.equal(missedSlots(0, 10_000, 0, Infinity), 0);
});

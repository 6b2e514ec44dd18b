import assert from "node:assert/strict";
import { DeadPathDetector, RECONNECT_DEFAULTS } from "../lib/reconnect.ts";

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

import assert from "node:assert/strict";
import {
  backoffCeiling,
  backoffDelay,
  CircuitBreaker,
  retry,
  RetryExhaustedError,
} from "../lib/retry.ts";

/** A clock that only moves when the code under test sleeps. */
function fakeTime() {
  let t = 0;
  const sleeps: number[] = [];
  return {
    now: () => t,
    sleep: (ms: number, signal?: AbortSignal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
      t += ms;
      return Promise.resolve();
    },
    advance: (ms: number) => t += ms,
    sleeps,
  };
}

/** A seeded source of numbers in [0, 1) (mulberry32). */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let r = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

const fail = (message = "down") => Promise.reject(new Error(message));

Deno.test("backoffCeiling() doubles from the base and stops at the cap", () => {
  const options = { baseDelayMs: 100, maxDelayMs: 1000 };
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 200].map((n) => backoffCeiling(n, options)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
});

Deno.test("backoffDelay() draws full jitter: from 0 up to just under the ceiling", () => {
  assert.equal(backoffDelay(2, { baseDelayMs: 100 }, () => 0), 0);
  assert.equal(backoffDelay(2, { baseDelayMs: 100 }, () => 0.999), 399);
  assert.equal(backoffDelay(2, { baseDelayMs: 100 }, () => 0.5), 200);
});

Deno.test("retry() follows the jittered schedule and returns the first success", async () => {
  const time = fakeTime();
  const draws = [0.5, 0.25, 0.75, 0.5];
  let i = 0;
  let calls = 0;
  const value = await retry(
    () => ++calls < 5 ? fail() : Promise.resolve("up"),
    {
      baseDelayMs: 100,
      maxDelayMs: 300,
      now: time.now,
      sleep: time.sleep,
      random: () => draws[i++],
    },
  );
  assert.equal(value, "up");
  assert.equal(calls, 5);
  // ceilings 100, 200, 300 (capped), 300 times the draws
  assert.deepEqual(time.sleeps, [50, 50, 225, 150]);
});

Deno.test("retry() stays within the cap and the limits over a seeded run of 1000 retries", async () => {
  const time = fakeTime();
  const waits: number[] = [];
  await assert.rejects(
    retry(() => fail(), {
      onRetry: ({ delayMs }) => waits.push(delayMs),
      baseDelayMs: 10,
      maxDelayMs: 1000,
      maxAttempts: 1001,
      now: time.now,
      sleep: time.sleep,
      random: seeded(42),
    }),
    (error: unknown) =>
      error instanceof RetryExhaustedError && error.attempts === 1001 &&
      error.limit === "attempts",
  );
  assert.equal(waits.length, 1000);
  assert.ok(waits.every((ms) => ms >= 0 && ms < 1000));
  assert.equal(time.now(), waits.reduce((a, b) => a + b, 0));
  // Full jitter on a 1000 ms cap averages near 500 ms once the cap is reached.
  const capped = waits.slice(20);
  const mean = capped.reduce((a, b) => a + b, 0) / capped.length;
  assert.ok(mean > 400 && mean < 600, `mean ${mean}`);
});

Deno.test("retry() gives up on time, shortening the last wait to the deadline", async () => {
  const time = fakeTime();
  let calls = 0;
  const error = await retry(() => {
    calls++;
    time.advance(100); // each attempt takes 100 ms
    return fail();
  }, {
    baseDelayMs: 1000,
    maxDelayMs: 1000,
    maxElapsedMs: 1500,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.99,
  }).catch((error) => error);
  assert.ok(error instanceof RetryExhaustedError);
  assert.equal(error.limit, "time");
  // 0: attempt (100) + wait 990 -> 1090: attempt (100) -> 1190, wait 310 -> 1500: attempt -> 1600
  assert.deepEqual(time.sleeps, [990, 310]);
  assert.equal(calls, 3);
  assert.equal(error.elapsedMs, 1600);
  assert.match(error.message, /gave up after 3 attempts in 1\.6 s: down/);
  assert.equal((error.cause as Error).message, "down");
});

Deno.test("retry() makes the first retry at once when asked, then backs off from the base", async () => {
  const time = fakeTime();
  let calls = 0;
  await retry(() => ++calls < 4 ? fail() : Promise.resolve(), {
    immediateFirstRetry: true,
    baseDelayMs: 100,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
  });
  assert.deepEqual(time.sleeps, [50, 100]); // no wait before retry 1
  assert.equal(calls, 4);
});

Deno.test("retry() rethrows at once an error that retryable() says will not heal", async () => {
  const time = fakeTime();
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return fail("bad certificate");
    }, {
      retryable: (error) => !/certificate/.test((error as Error).message),
      now: time.now,
      sleep: time.sleep,
    }),
    /^Error: bad certificate$/,
  );
  assert.equal(calls, 1);
  assert.deepEqual(time.sleeps, []);
});

Deno.test("retry() reports each wait to onRetry() with the attempt and the error", async () => {
  const time = fakeTime();
  const seen: string[] = [];
  await retry((n) => n < 3 ? fail(`e${n}`) : Promise.resolve(), {
    baseDelayMs: 100,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
    onRetry: ({ attempt, delayMs, error }) =>
      seen.push(`${attempt}:${delayMs}:${(error as Error).message}`),
  });
  assert.deepEqual(seen, ["1:50:e1", "2:100:e2"]);
});

Deno.test("retry() stops with the signal's reason when aborted between attempts", async () => {
  const controller = new AbortController();
  const time = fakeTime();
  let calls = 0;
  await assert.rejects(
    retry(() => {
      if (++calls === 2) controller.abort(new Error("stopped"));
      return fail();
    }, { signal: controller.signal, now: time.now, sleep: time.sleep }),
    /stopped/,
  );
  assert.equal(calls, 2);
});

Deno.test("retry() with the real sleep wakes at once when its signal aborts", async () => {
  const controller = new AbortController();
  const started = performance.now();
  const pending = retry(() => fail(), {
    baseDelayMs: 60_000,
    maxDelayMs: 60_000,
    random: () => 0.99,
    signal: controller.signal,
  });
  queueMicrotask(() => controller.abort(new Error("cancelled")));
  await assert.rejects(pending, /cancelled/);
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("CircuitBreaker opens after the threshold, lets one probe through after the cool-down, closes on success", () => {
  let t = 0;
  const breaker = new CircuitBreaker({
    failureThreshold: 3,
    coolDownMs: 1000,
    now: () => t,
  });
  for (let i = 0; i < 2; i++) {
    assert.ok(breaker.tryAcquire());
    breaker.failure();
  }
  assert.equal(breaker.state, "closed");
  assert.ok(breaker.tryAcquire());
  breaker.failure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.tryAcquire(), false);
  t = 400;
  assert.equal(breaker.waitMs(), 600);
  t = 1000;
  assert.equal(breaker.state, "half-open");
  assert.equal(breaker.tryAcquire(), true); // the probe
  assert.equal(breaker.tryAcquire(), false); // only one probe at a time
  breaker.success();
  assert.equal(breaker.state, "closed");
  assert.equal(breaker.failures, 0);
});

Deno.test("CircuitBreaker re-opens for a full cool-down when the probe fails", () => {
  let t = 0;
  const breaker = new CircuitBreaker({
    failureThreshold: 1,
    coolDownMs: 500,
    now: () => t,
  });
  breaker.failure();
  t = 500;
  assert.ok(breaker.tryAcquire());
  t = 520;
  breaker.failure();
  assert.equal(breaker.state, "open");
  assert.equal(breaker.waitMs(), 500);
});

Deno.test("retry() with an open breaker waits out the cool-down before the next attempt", async () => {
  const time = fakeTime();
  const breaker = new CircuitBreaker({
    failureThreshold: 2,
    coolDownMs: 2000,
    now: time.now,
  });
  const attemptsAt: number[] = [];
  await retry(() => {
    attemptsAt.push(time.now());
    return attemptsAt.length < 4 ? fail() : Promise.resolve();
  }, {
    baseDelayMs: 100,
    breaker,
    now: time.now,
    sleep: time.sleep,
    random: () => 0.5,
  });
  // 0 fails; wait 50; 50 fails and opens (threshold 2): wait the cool-down
  // 2000; 2050 is the probe, fails and re-opens: 2000 more; 4050 succeeds.
  assert.deepEqual(attemptsAt, [0, 50, 2050, 4050]);
  assert.equal(breaker.state, "closed");
});

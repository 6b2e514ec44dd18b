import assert from "node:assert/strict";
import { resetSync } from "@logtape/logtape";
import { setupLogging } from "../lib/log.ts";
import { abortableSleep } from "../lib/retry.ts";
import {
  BIND_RETRY_DEFAULTS,
  startWithBindRetry,
} from "../lib/server_lifecycle.ts";
import { BindError } from "../lib/transport.ts";

Deno.test("startWithBindRetry() binds once a busy port frees up during its retries", async () => {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (held.addr as Deno.NetAddr).port;
  let waits = 0;
  const server = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
    maxAttempts: 5,
    baseDelayMs: 10,
    // The old holder lets go while the server waits for its second attempt.
    sleep: (ms, signal) => {
      if (waits++ === 0) held.close();
      return abortableSleep(ms, signal);
    },
  });
  try {
    assert.equal(server.addr.port, port);
    assert.equal(waits, 1);
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("startWithBindRetry() gives up after maxAttempts with a BindError naming the attempts", async () => {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const port = (held.addr as Deno.NetAddr).port;
  try {
    await assert.rejects(
      startWithBindRetry({ hostname: "127.0.0.1", port }, {
        maxAttempts: 3,
        baseDelayMs: 1,
      }),
      (error: unknown) =>
        error instanceof BindError &&
        /address already in use \(gave up after 3 attempts in [\d.]+ s\)$/.test(
          error.message,
        ),
    );
  } finally {
    held.close();
  }
});

/** A clock that only sleeps move: every wait passes at once. */
function fakeClock(onSleep: (now: number) => void = () => {}) {
  let now = 0;
  return {
    now: () => now,
    sleep: (ms: number) => {
      now += ms;
      onSleep(now);
      return Promise.resolve();
    },
  };
}

function holdPort() {
  const held = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  return { held, port: (held.addr as Deno.NetAddr).port };
}

Deno.test("startWithBindRetry()'s defaults try for the full 8 s, whatever the jitter draws", async () => {
  const { held, port } = holdPort();
  try {
    for (const draw of [0.5, 0.999]) {
      const clock = fakeClock();
      const error = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
        ...BIND_RETRY_DEFAULTS,
        ...clock,
        random: () => draw,
      }).catch((error) => error);
      assert.ok(error instanceof BindError, String(error));
      // Time is the limit: the last attempt starts at 8 s, not when some
      // count of attempts runs out.
      assert.equal(clock.now(), 8000, `draw ${draw}`);
      assert.match(
        error.message,
        /address already in use \(gave up after \d+ attempts in 8\.0 s\)$/,
      );
    }
  } finally {
    held.close();
  }
});

Deno.test("startWithBindRetry()'s defaults outlast a previous instance's 5 s drain", async () => {
  const { held, port } = holdPort();
  let freed = false;
  // The old instance exits 5.5 s into the schedule (5 s drain and a margin).
  const clock = fakeClock((now) => {
    if (now >= 5500 && !freed) {
      freed = true;
      held.close();
    }
  });
  const server = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
    ...BIND_RETRY_DEFAULTS,
    ...clock,
    random: () => 0.5,
  });
  try {
    assert.equal(server.addr.port, port);
    assert.ok(clock.now() >= 5500 && clock.now() <= 8000, `${clock.now()}`);
  } finally {
    await server.shutdown(0);
    if (!freed) held.close();
  }
});

Deno.test("startWithBindRetry() also retries when only the TCP port (HTTP/2) is busy", async () => {
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (held.addr as Deno.NetAddr).port;
  let waits = 0;
  const server = await startWithBindRetry({ hostname: "127.0.0.1", port }, {
    maxAttempts: 5,
    baseDelayMs: 10,
    sleep: (ms, signal) => {
      if (waits++ === 0) held.close();
      return abortableSleep(ms, signal);
    },
  });
  try {
    assert.equal(server.addr.port, port);
    assert.equal(waits, 1);
  } finally {
    await server.shutdown(0);
  }
});

Deno.test("startWithBindRetry() logs each wait in seconds, rounded to the millisecond", async () => {
  const { held, port } = holdPort();
  const lines: string[] = [];
  setupLogging({ write: (line) => lines.push(line) });
  try {
    let now = 0;
    await assert.rejects(
      startWithBindRetry({ hostname: "127.0.0.1", port }, {
        ...BIND_RETRY_DEFAULTS,
        maxAttempts: 3,
        // A clock with fractions, as performance.now() has: the last wait is
        // cut to the time left, so it is fractional too.
        now: () => now,
        sleep: (ms) => {
          now += ms + 0.4456489999993;
          return Promise.resolve();
        },
        random: () => 0.99,
        maxElapsedMs: 400,
      }),
      BindError,
    );
    const retries = lines.filter((line) => line.includes("; retry "));
    assert.equal(retries.length, 2, lines.join(""));
    // Waits 247 ms (0.99 of the 250 ms ceiling), then the 152.554 ms left.
    assert.match(
      retries[0],
      /address already in use"?; retry 1 in "?0\.247 s"?$/m,
    );
    assert.match(retries[1], /; retry 2 in "?0\.153 s"?$/m);
  } finally {
    resetSync();
    held.close();
  }
});

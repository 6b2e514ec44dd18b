import assert from "node:assert/strict";
import { seededRandom, startUdpProxy } from "./support/udp_proxy.ts";

/** A UDP echo server on loopback. */
function startEcho() {
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const done = (async () => {
    try {
      for await (const [data, from] of conn) await conn.send(data, from);
    } catch {
      // closed
    }
  })();
  return {
    addr: conn.addr as Deno.NetAddr,
    [Symbol.asyncDispose]: async () => {
      conn.close();
      await done;
    },
  };
}

/** A client socket that collects what comes back. */
function startClient() {
  const conn = Deno.listenDatagram({
    transport: "udp",
    hostname: "127.0.0.1",
    port: 0,
  });
  const received: { seq: number; at: number }[] = [];
  let wake = () => {};
  const done = (async () => {
    try {
      for await (const [data] of conn) {
        received.push({
          seq: new DataView(data.buffer, data.byteOffset).getUint32(0),
          at: performance.now(),
        });
        wake();
      }
    } catch {
      // closed
    }
  })();
  return {
    received,
    send: (seq: number, to: Deno.NetAddr) => {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, seq);
      return conn.send(bytes, to);
    },
    /** Resolves once `done()` holds, or rejects after `ms`. */
    until: (check: () => boolean, ms = 5000, poll = false) =>
      new Promise<void>((resolve, reject) => {
        // Proxy counters change without a packet arriving here: poll them.
        const ticker = poll ? setInterval(() => wake(), 5) : undefined;
        const timer = setTimeout(() => {
          clearInterval(ticker);
          reject(new Error("timed out"));
        }, ms);
        wake = () => {
          if (check()) {
            clearTimeout(timer);
            clearInterval(ticker);
            resolve();
          }
        };
        wake();
      }),
    [Symbol.asyncDispose]: async () => {
      conn.close();
      await done;
    },
  };
}

Deno.test("seededRandom() repeats its sequence for a seed and differs across seeds", () => {
  const a = seededRandom(42), b = seededRandom(42), c = seededRandom(43);
  const xs = Array.from({ length: 5 }, a);
  assert.deepEqual(Array.from({ length: 5 }, b), xs);
  assert.notDeepEqual(Array.from({ length: 5 }, c), xs);
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

Deno.test("startUdpProxy() forwards both ways and drops close to the asked fraction", async () => {
  await using echo = startEcho();
  await using proxy = startUdpProxy({
    target: echo.addr,
    dropRate: 0.1,
    seed: 7,
  });
  await using client = startClient();
  const n = 1000;
  // In batches, so socket buffers never overflow and only the proxy drops.
  for (let sent = 0; sent < n;) {
    for (let i = 0; i < 50; i++) await client.send(sent++, proxy.addr);
    // Every packet either comes back or was dropped on one of its two legs.
    await client.until(
      () => client.received.length + proxy.counters.dropped === sent,
      5000,
      true,
    );
  }
  const decisions = n + (n - proxy.counters.dropped / 2); // about 1900 draws
  const rate = proxy.counters.dropped / decisions;
  // 1900 Bernoulli(0.1) draws: sd ≈ 0.007, so ±0.03 is over 4 sd.
  assert.ok(rate > 0.07 && rate < 0.13, `drop rate ${rate}`);
  assert.equal(proxy.flows, 1);
});

Deno.test("startUdpProxy() black-holes everything during a partition and passes again after it", async () => {
  await using echo = startEcho();
  await using proxy = startUdpProxy({ target: echo.addr });
  await using client = startClient();
  await client.send(1, proxy.addr);
  await client.until(() => client.received.length === 1);
  proxy.partition(true);
  for (let seq = 2; seq <= 11; seq++) await client.send(seq, proxy.addr);
  // The proxy reads asynchronously: heal only once all ten reached it.
  await client.until(() => proxy.counters.blackholed === 10, 5000, true);
  proxy.partition(false);
  await client.send(12, proxy.addr);
  await client.until(() => client.received.some((r) => r.seq === 12));
  assert.deepEqual(client.received.map((r) => r.seq), [1, 12]);
  assert.equal(proxy.counters.blackholed, 10);
});

Deno.test("startUdpProxy() adds its delay to each leg", async () => {
  await using echo = startEcho();
  await using proxy = startUdpProxy({
    target: echo.addr,
    delayMs: 50,
    jitterMs: 20,
    seed: 3,
  });
  await using client = startClient();
  const sentAt = performance.now();
  await client.send(1, proxy.addr);
  await client.until(() => client.received.length === 1);
  // Two legs of at least 50 ms each; timers never fire early.
  assert.ok(client.received[0].at - sentAt >= 100);
});

Deno.test("startUdpProxy() drops packets beyond its queue bound instead of growing", async () => {
  await using echo = startEcho();
  await using proxy = startUdpProxy({
    target: echo.addr,
    delayMs: 200,
    maxQueued: 5,
  });
  await using client = startClient();
  for (let seq = 0; seq < 20; seq++) await client.send(seq, proxy.addr);
  await client.until(() => client.received.length === 5);
  assert.ok(proxy.counters.overflow >= 15);
});

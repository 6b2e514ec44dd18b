import assert from "node:assert/strict";
import { launchChromium } from "../support/chromium.ts";
import { rootPath, startServer } from "../support/processes.ts";

/** Where the screenshot goes (git-ignored test artefact). */
const ARTEFACT_DIR = rootPath("tests/artefacts");

/** The page's globals the test reads (the page sets `window.pingpong`). */
interface PageGlobals {
  pingpong: {
    status: string;
    transport: string;
    sent: number;
    received: number;
  };
  document: {
    getElementById(id: "chart"): {
      width: number;
      height: number;
      getContext(kind: "2d"): {
        getImageData(x: number, y: number, w: number, h: number): {
          data: Uint8ClampedArray;
        };
      };
    };
  };
}

/**
 * Runs in the page: how many pixel columns of the chart hold part of the RTT
 * line (drawn in blue, #2563eb; the grid is grey, loss marks red, the rest
 * left transparent). The line spans the time since the first pong, so this
 * grows while pongs keep coming.
 */
function chartLineColumns(): number {
  const canvas = (globalThis as unknown as PageGlobals).document
    .getElementById("chart");
  const { data } = canvas.getContext("2d").getImageData(
    0,
    0,
    canvas.width,
    canvas.height,
  );
  const columns = new Set<number>();
  for (let i = 0; i < data.length; i += 4) {
    // Blue well above red, anti-aliased edges included.
    if (data[i + 3] > 0 && data[i + 2] - data[i] > 60) {
      columns.add((i / 4) % canvas.width);
    }
  }
  return columns.size;
}

Deno.test("the server's page pings it from Chromium's own WebTransport", async (t) => {
  await using server = await startServer();
  // The page itself comes over HTTPS with the ephemeral certificate; a
  // person clicks through the warning, the test says so up front.
  await using context = await launchChromium({
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 560 },
  });
  const origin = `https://127.0.0.1:${server.port}`;
  await t.step(
    "pongs come back, the live figures show them and the chart's RTT line grows",
    async () => {
      const page = await context.newPage();
      await page.goto(`${origin}/?interval=100`);
      await page.waitForFunction(
        () => (globalThis as unknown as PageGlobals).pingpong.received >= 20,
        undefined,
        { timeout: 20_000 },
      );
      const state = await page.evaluate(() =>
        (globalThis as unknown as PageGlobals).pingpong
      );
      assert.equal(state.status, "connected");
      assert.equal(state.transport, "HTTP/3");
      assert.ok(state.received >= 20);
      assert.match(
        await page.textContent("#status") ?? "",
        /connected to .* over HTTP\/3/,
      );
      assert.match(await page.textContent("#received") ?? "", /^\d+$/);
      assert.match(await page.textContent("#rtt") ?? "", /^\d+\.\d\d$/);
      assert.equal(await page.textContent("#hash"), server.certHash);
      // The chart: an RTT line is drawn, and 10 pongs later (a second at one
      // ping per 100 ms) it spans more of the time axis.
      const columnsBefore = await page.evaluate(chartLineColumns);
      assert.ok(columnsBefore > 0, "no RTT line on the chart");
      await page.waitForFunction(
        (received) =>
          (globalThis as unknown as PageGlobals).pingpong.received >= received,
        state.received + 10,
        { timeout: 10_000 },
      );
      const columnsAfter = await page.evaluate(chartLineColumns);
      assert.ok(
        columnsAfter > columnsBefore,
        `RTT line spans ${columnsAfter} columns, ${columnsBefore} a second before`,
      );
      await Deno.mkdir(ARTEFACT_DIR, { recursive: true });
      await page.screenshot({ path: `${ARTEFACT_DIR}/browser_page.png` });
      await page.close();
    },
  );

  await t.step("a browser without WebTransport is told so", async () => {
    const page = await context.newPage();
    await page.addInitScript(() => {
      delete (globalThis as { WebTransport?: unknown }).WebTransport;
    });
    await page.goto(`${origin}/`);
    await page.waitForFunction(() =>
      (globalThis as unknown as PageGlobals).pingpong.status === "unsupported"
    );
    assert.match(
      await page.textContent("#status") ?? "",
      /lacks WebTransport/,
    );
    await page.close();
  });
});

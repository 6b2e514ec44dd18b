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
    "pongs come back, live figures and chart update",
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

import assert from "node:assert/strict";
import { CHROMIUM_ARGS } from "../support/chromium.ts";
import { chromium } from "playwright-core";
import { rootPath, startServer } from "../support/processes.ts";

/** Debian's Chromium; never a browser Playwright downloads. */
const CHROMIUM = "/usr/bin/chromium";

/** Where the screenshot goes (git-ignored test artefact). */
const ARTEFACT_DIR = rootPath("tests/artefacts");

Deno.test("the server's page pings it from Chromium's own WebTransport", async (t) => {
  await using server = await startServer();
  const userDataDir = await Deno.makeTempDir({ prefix: "pingpong-chromium-" });
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    // QUIC stays on: the page must reach the server over HTTP/3.
    args: [...CHROMIUM_ARGS],
    // The page itself comes over HTTPS with the ephemeral certificate; a
    // person clicks through the warning, the test says so up front.
    ignoreHTTPSErrors: true,
    viewport: { width: 900, height: 560 },
  });
  try {
    const origin = `https://127.0.0.1:${server.port}`;
    await t.step("pongs come back, live figures and chart update", async () => {
      const page = await context.newPage();
      await page.goto(`${origin}/?interval=100`);
      await page.waitForFunction(
        () =>
          (globalThis as unknown as { pingpong: { received: number } })
            .pingpong.received >= 20,
        undefined,
        { timeout: 20_000 },
      );
      const state = await page.evaluate(() =>
        (globalThis as unknown as {
          pingpong: {
            status: string;
            transport: string;
            sent: number;
            received: number;
          };
        }).pingpong
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
    });

    await t.step("a browser without WebTransport is told so", async () => {
      const page = await context.newPage();
      await page.addInitScript(() => {
        delete (globalThis as { WebTransport?: unknown }).WebTransport;
      });
      await page.goto(`${origin}/`);
      await page.waitForFunction(() =>
        (globalThis as unknown as { pingpong: { status: string } }).pingpong
          .status === "unsupported"
      );
      assert.match(
        await page.textContent("#status") ?? "",
        /lacks WebTransport/,
      );
      await page.close();
    });
  } finally {
    await context.close();
    await Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  }
});

/**
 * How the tests start Debian's Chromium (never a downloaded browser): its
 * path, its flags and the one launch helper the browser and interop tests
 * share.
 *
 * @module
 */
import { type BrowserContext, chromium } from "playwright-core";

/** Where Debian's `chromium` package puts the browser. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/**
 * Flags for a headless Chromium on this machine: no sandbox (root), no GPU,
 * and no background traffic to the closed network. QUIC stays on, since the
 * pages must reach the server over HTTP/3: never add `--disable-quic`.
 */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Options of {@linkcode launchChromium}. */
export interface LaunchChromiumOptions {
  /**
   * Accept the page's own certificate (a person clicks through the warning).
   *
   * @default {false}
   */
  ignoreHTTPSErrors?: boolean;
  /**
   * Page size in CSS pixels.
   *
   * @default {Playwright's 1280 × 720}
   */
  viewport?: { width: number; height: number };
}

/**
 * Starts headless {@linkcode CHROMIUM_PATH} with {@linkcode CHROMIUM_ARGS}
 * in a fresh profile folder; disposing closes it and removes the folder.
 *
 * @example
 * ```ts ignore
 * await using browser = await launchChromium();
 * const page = await browser.newPage();
 * ```
 */
export async function launchChromium(
  options: LaunchChromiumOptions = {},
): Promise<BrowserContext & AsyncDisposable> {
  const userDataDir = await Deno.makeTempDir({ prefix: "pingpong-chromium-" });
  const removeProfile = () =>
    Deno.remove(userDataDir, { recursive: true }).catch(() => {});
  try {
    const context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS],
      ...options,
    });
    return Object.assign(context, {
      [Symbol.asyncDispose]: async () => {
        await context.close();
        await removeProfile();
      },
    });
  } catch (error) {
    await removeProfile();
    throw error;
  }
}

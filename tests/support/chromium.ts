/**
 * How the tests start Debian's Chromium (never a downloaded browser).
 *
 * @module
 */

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

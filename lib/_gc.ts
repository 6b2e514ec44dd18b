/**
 * Deno 2.9 releases a WebTransport stream's QUIC resources (and the peer's
 * stream credit) only when the stream object is garbage-collected
 * (denoland/deno#36822). A session that opens many short streams therefore
 * stalls after 100 unless something collects them; this does, in batches.
 *
 * @module
 */
import v8 from "node:v8";
import vm from "node:vm";

let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect === undefined) {
    try {
      v8.setFlagsFromString("--expose-gc");
      collect = vm.runInNewContext("gc") as () => void;
    } catch {
      collect = null;
    }
  }
  return collect;
}

let released = 0;
let scheduled = false;

/**
 * Notes that a stream was dropped; every `batch` streams, schedules one full
 * garbage collection so their resources return to QUIC.
 *
 * @example
 * ```ts
 * import { streamReleased } from "./_gc.ts";
 * streamReleased(); // after dropping every reference to a finished stream
 * ```
 */
export function streamReleased(batch = 32): void {
  released++;
  if (released < batch || scheduled) return;
  released = 0;
  scheduled = true;
  // After the current turn, so the caller's last references are gone.
  setTimeout(() => {
    scheduled = false;
    collector()?.();
  }, 0);
}

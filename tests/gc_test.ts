import assert from "node:assert/strict";
import { streamReleased } from "../lib/_gc.ts";

/** One macrotask turn (not a wait): what streamReleased() schedules on. */
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A WeakRef to an object nothing else holds (made in its own job). */
function unreachable(): WeakRef<object> {
  return new WeakRef({ stream: new Uint8Array(16) });
}

Deno.test("streamReleased() runs a full collection once a batch of streams is released, not before", async () => {
  const batch = 4;
  const ref = unreachable();
  await tick(); // a WeakRef's target is kept alive until the job ends
  for (let i = 0; i < batch - 1; i++) streamReleased(batch);
  await tick();
  await tick();
  // A quiet isolate with a few bytes allocated does not collect by itself.
  assert.notEqual(
    ref.deref(),
    undefined,
    "collected before the batch was full",
  );
  streamReleased(batch);
  // The collection runs after the current turn (the caller's last
  // references are gone by then).
  await tick();
  await tick();
  assert.equal(ref.deref(), undefined, "not collected after a full batch");
});

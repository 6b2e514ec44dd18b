import assert from "node:assert/strict";
import { formatStatsLine } from "../lib/stats_line.ts";

Deno.test("formatStatsLine() numbers the report, lists refusals by code and counts stalled streams", () => {
  const stats = { pongs: 7, malformed: 2, streams: 4 };
  assert.equal(
    formatStatsLine(3, {
      sessionCount: 1,
      stats,
      refusals: new Map([[503, 2], [401, 1]]),
      stalledStreams: 5,
    }),
    "stats 3 sessions=1 streams=4 pongs=7 malformed=2 refused=401:1,503:2 stalled=5",
  );
  assert.match(
    formatStatsLine(1, {
      sessionCount: 0,
      stats,
      refusals: new Map(),
      stalledStreams: 0,
    }),
    /refused=0 stalled=0$/,
  );
});

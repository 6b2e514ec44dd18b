import assert from "node:assert/strict";
import { STATS_SIGNAL } from "../../lib/stats_line.ts";
import { startServer } from "../support/processes.ts";
import { statsReader } from "../support/server_stats.ts";

/**
 * Deno installs its SIGUSR1 inspector trigger 500 ms after start
 * (denoland/deno#35738); before that no signal could show the hazard.
 */
const RUNTIME_SIGNAL_GRACE_MS = 1000;

/** TCP ports process `pid` listens on (Linux: its socket inodes in /proc). */
async function listeningTcpPorts(pid: number): Promise<number[]> {
  const inodes = new Set<string>();
  for await (const entry of Deno.readDir(`/proc/${pid}/fd`)) {
    const target = await Deno.readLink(`/proc/${pid}/fd/${entry.name}`)
      .catch(() => "");
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) inodes.add(inode);
  }
  const ports = new Set<number>();
  for (const table of ["tcp", "tcp6"]) {
    const text = await Deno.readTextFile(`/proc/${pid}/net/${table}`);
    for (const row of text.trim().split("\n").slice(1)) {
      const fields = row.trim().split(/\s+/);
      // local_address is HEXIP:HEXPORT; state 0A is LISTEN; field 9 the inode.
      if (fields[3] === "0A" && inodes.has(fields[9])) {
        ports.add(parseInt(fields[1].split(":")[1], 16));
      }
    }
  }
  return [...ports].sort((a, b) => a - b);
}

Deno.test("the stats signal prints the stats line and never starts Deno's inspector", async () => {
  const started = performance.now();
  await using server = await startServer();
  const left = RUNTIME_SIGNAL_GRACE_MS - (performance.now() - started);
  // Not a readiness wait (the server is ready): the runtime's own timer.
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  const stats = statsReader(server);
  const first = await stats();
  assert.equal(first.sessions, 0);
  assert.equal(first.pongs, 0);
  // A second round trip gives an inspector started by the first signal time
  // to bind its port.
  await stats();
  // Only the server's own TCP port (HTTP/2 and the browser page); SIGUSR1
  // would add the inspector's 127.0.0.1:9229.
  assert.deepEqual(
    await listeningTcpPorts(server.child.pid),
    [server.port],
    `${STATS_SIGNAL} opened a port`,
  );
  assert.match(
    server.stdout.find((line) => line.startsWith("stats 1 ")) ?? "",
    /^stats 1 sessions=0 streams=0 pongs=0 /,
  );
  assert.equal((await server.stop("SIGTERM")).code, 0);
});

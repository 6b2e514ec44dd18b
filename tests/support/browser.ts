/**
 * A passive mDNS browser for integration tests, run inside a test network
 * namespace: asks once, then only listens (the next query would come after
 * a minute), printing the instances as one JSON line on every change, until
 * stdin closes. What it learns after its first answer came by announcement.
 *
 * @module
 */
import { browse, selectInterfaces } from "../../lib/mdns.ts";

const [iface] = Deno.args;
const controller = new AbortController();
const found = browse({
  interfaces: selectInterfaces(Deno.networkInterfaces(), [iface]),
  timeoutMs: 50_000,
  requeryMs: 60_000,
  signal: controller.signal,
  onChange: (instances) => console.log(JSON.stringify(instances)),
});
for await (const _ of Deno.stdin.readable) {
  // Any input is ignored: only the end of stdin matters.
}
controller.abort();
await found;

/**
 * A bare mDNS advertiser for integration tests, run inside a test network
 * namespace: advertises a fixed instance on `--interface`, re-announces with
 * the hash given on each stdin line `update HEX`, and says goodbye when
 * stdin closes. Prints `ready` and `updated` so tests wait on lines.
 *
 * @module
 */
import { MdnsAdvertiser, selectInterfaces } from "../../lib/mdns.ts";

const [iface, name, address, hash] = Deno.args;
const advertiser = await MdnsAdvertiser.start({
  interfaces: selectInterfaces(Deno.networkInterfaces(), [iface]),
  service: {
    name,
    host: "fixture",
    port: 4433,
    path: "/pingpong",
    certHash: hash,
    protocolVersion: 1,
    addresses: [address],
  },
});
console.log("ready");
const decoder = new TextDecoder();
let pending = "";
for await (const chunk of Deno.stdin.readable) {
  pending += decoder.decode(chunk, { stream: true });
  const lines = pending.split("\n");
  pending = lines.pop() ?? "";
  for (const line of lines) {
    const [command, value] = line.trim().split(" ");
    if (command !== "update") continue;
    await advertiser.update({ ...advertiser.service, certHash: value });
    console.log("updated");
  }
}
await advertiser.close();
console.log("closed");

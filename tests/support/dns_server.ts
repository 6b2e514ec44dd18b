/**
 * A tiny authoritative DNS server for integration tests, run inside a test
 * network namespace: answers SRV and A queries from the records given as
 * arguments, NXDOMAIN otherwise. Prints `ready` once bound.
 *
 * Usage: dns_server.ts ADDR SRV_NAME PRIORITY:WEIGHT:PORT:TARGET... -- NAME=IPV4...
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/dns-packet"
import * as dnsPacket from "dns-packet";

const [address, srvName, ...rest] = Deno.args;
const split = rest.indexOf("--");
const srv = rest.slice(0, split).map((item) => {
  const [priority, weight, port, target] = item.split(":");
  return {
    priority: Number(priority),
    weight: Number(weight),
    port: Number(port),
    target,
  };
});
const hosts = new Map(
  rest.slice(split + 1).map((item) => item.split("=") as [string, string]),
);

const socket = Deno.listenDatagram({
  transport: "udp",
  hostname: address,
  port: 53,
});
console.log("ready");
for (;;) {
  const [bytes, from] = await socket.receive();
  let query: dnsPacket.DecodedPacket;
  try {
    query = dnsPacket.decode(Buffer.from(bytes));
  } catch {
    continue;
  }
  const answers: dnsPacket.Answer[] = [];
  for (const question of query.questions ?? []) {
    const name = question.name.toLowerCase();
    if (question.type === "SRV" && name === srvName) {
      for (const data of srv) {
        answers.push({ type: "SRV", name: question.name, ttl: 5, data });
      }
    }
    if (question.type === "A" && hosts.has(name)) {
      answers.push({
        type: "A",
        name: question.name,
        ttl: 5,
        data: hosts.get(name)!,
      });
    }
  }
  const known = (query.questions ?? []).some((q) =>
    q.name.toLowerCase() === srvName || hosts.has(q.name.toLowerCase())
  );
  const reply = dnsPacket.encode({
    type: "response",
    id: query.id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | dnsPacket.RECURSION_DESIRED |
      (known ? 0 : 3),
    questions: query.questions,
    answers,
  });
  await socket.send(new Uint8Array(reply), from);
}

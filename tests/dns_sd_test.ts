import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/dns-packet"
import * as dnsPacket from "dns-packet";
import {
  answerQuery,
  buildAnnouncement,
  buildQuery,
  buildRecords,
  HOST_TTL,
  instanceNameProblem,
  InstanceTable,
  LEGACY_TTL,
  localHostLabel,
  MDNS_PORT,
  OTHER_TTL,
  parseResponse,
  parseTxt,
  type ServiceInfo,
} from "../lib/dns_sd.ts";

const HASH = "0123456789abcdef".repeat(4);

const INFO: ServiceInfo = {
  name: "lab server",
  host: "box",
  port: 4433,
  path: "/pingpong",
  certHash: HASH,
  protocolVersion: 1,
  addresses: ["10.0.0.1", "fd00::1"],
};

function decode(bytes: Uint8Array): dnsPacket.DecodedPacket {
  return dnsPacket.decode(Buffer.from(bytes));
}

function learn(...packets: Uint8Array[]): InstanceTable {
  const table = new InstanceTable();
  for (const packet of packets) {
    const records = parseResponse(packet);
    if (records) table.add(records);
  }
  return table;
}

/** A response with the given answers, encoded by dns-packet (uncompressed). */
function response(answers: dnsPacket.Answer[], rcode = 0): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    type: "response",
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | rcode,
    answers,
  }));
}

/** DNS wire bytes written by hand, for compression pointers. */
class Wire {
  bytes: number[] = [];
  u16(value: number): this {
    this.bytes.push(value >> 8, value & 0xff);
    return this;
  }
  u32(value: number): this {
    return this.u16(value >>> 16).u16(value & 0xffff);
  }
  labels(...labels: string[]): number {
    const at = this.bytes.length;
    for (const label of labels) {
      const encoded = new TextEncoder().encode(label);
      this.bytes.push(encoded.length, ...encoded);
    }
    return at;
  }
  end(): this {
    this.bytes.push(0);
    return this;
  }
  pointer(offset: number): this {
    return this.u16(0xc000 | offset);
  }
  raw(...values: number[]): this {
    this.bytes.push(...values);
    return this;
  }
  get length(): number {
    return this.bytes.length;
  }
  toBytes(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

/**
 * A PTR + SRV + TXT + A response whose names are compressed, as Avahi and
 * Bonjour send them.
 */
function compressedResponse(): Uint8Array {
  const w = new Wire();
  w.u16(0).u16(0x8400).u16(0).u16(4).u16(0).u16(0);
  // PTR _pingpong._udp.local → lab._pingpong._udp.local
  const service = w.labels("_pingpong", "_udp", "local");
  w.end().u16(12).u16(1).u32(4500);
  const lenAt = w.length;
  w.u16(0);
  const instance = w.labels("lab");
  w.pointer(service);
  w.bytes[lenAt + 1] = w.length - lenAt - 2;
  // SRV lab._pingpong._udp.local → box.local:4433
  w.pointer(instance).u16(33).u16(0x8001).u32(120);
  const srvLen = w.length;
  w.u16(0).u16(0).u16(0).u16(4433);
  const host = w.labels("box");
  w.pointer(service + 15); // "local" inside the service name
  w.bytes[srvLen + 1] = w.length - srvLen - 2;
  // TXT
  w.pointer(instance).u16(16).u16(0x8001).u32(4500);
  const txt = ["path=/p", "proto=1", `cert-sha256=${HASH}`].map((item) =>
    new TextEncoder().encode(item)
  );
  w.u16(txt.reduce((sum, item) => sum + item.length + 1, 0));
  for (const item of txt) w.raw(item.length, ...item);
  // A box.local
  w.pointer(host).u16(1).u16(0x8001).u32(120).u16(4).raw(10, 0, 0, 7);
  return w.toBytes();
}

/** A tiny deterministic PRNG so the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff;
    return seed / 0x80000000;
  };
}

Deno.test("buildRecords() advertises PTR, SRV, TXT and one A or AAAA per address", () => {
  const records = buildRecords(INFO);
  assert.deepEqual(records.map((r) => [r.type, r.name]), [
    ["PTR", "_pingpong._udp.local"],
    ["SRV", "lab server._pingpong._udp.local"],
    ["TXT", "lab server._pingpong._udp.local"],
    ["A", "box.local"],
    ["AAAA", "box.local"],
  ]);
  const [ptr, srv, txt] = records as dnsPacket.StringAnswer[];
  assert.equal(ptr.data, "lab server._pingpong._udp.local");
  assert.equal(ptr.ttl, OTHER_TTL);
  assert.equal(ptr.flush, undefined, "PTR is a shared record: no cache-flush");
  assert.deepEqual((srv as unknown as dnsPacket.SrvAnswer).data, {
    priority: 0,
    weight: 0,
    port: 4433,
    target: "box.local",
  });
  assert.equal(srv.ttl, HOST_TTL);
  assert.equal(srv.flush, true);
  assert.deepEqual(txt.data, [
    "txtvers=1",
    "path=/pingpong",
    "proto=1",
    `cert-sha256=${HASH}`,
  ]);
});

Deno.test("buildRecords() gives PTR, SRV and TXT TTL 0 for a goodbye, and leaves the host's addresses out", () => {
  const records = buildRecords(INFO, true) as dnsPacket.StringAnswer[];
  assert.deepEqual(records.map((r) => [r.type, r.ttl]), [
    ["PTR", 0],
    ["SRV", 0],
    ["TXT", 0],
  ]);
});

Deno.test("a goodbye from one server leaves another server on the same host its addresses", () => {
  const second = { ...INFO, name: "second", port: 4434 };
  const table = learn(buildAnnouncement(INFO), buildAnnouncement(second));
  table.add(parseResponse(buildAnnouncement(INFO, true))!);
  assert.deepEqual(table.instances(), [{
    name: "second",
    host: "box.local",
    port: 4434,
    addresses: ["10.0.0.1", "fd00::1"],
    path: "/pingpong",
    certHash: HASH,
    protocolVersion: 1,
  }]);
});

Deno.test("an announcement parses back into the instance it advertises", () => {
  const [instance] = learn(buildAnnouncement(INFO)).instances();
  assert.deepEqual(instance, {
    name: "lab server",
    host: "box.local",
    port: 4433,
    addresses: ["10.0.0.1", "fd00::1"],
    path: "/pingpong",
    certHash: HASH,
    protocolVersion: 1,
  });
});

Deno.test("a goodbye removes the instance it names and no other", () => {
  const other = { ...INFO, name: "other", host: "box2", port: 5000 };
  const table = learn(buildAnnouncement(INFO), buildAnnouncement(other));
  assert.deepEqual(table.instances().map((i) => i.name), [
    "lab server",
    "other",
  ]);
  table.add(parseResponse(buildAnnouncement(INFO, true))!);
  assert.deepEqual(table.instances().map((i) => i.name), ["other"]);
});

Deno.test("InstanceTable drops an instance once its SRV TTL has run out", () => {
  let now = 1_000_000;
  const table = new InstanceTable({ now: () => now });
  table.add(parseResponse(buildAnnouncement(INFO))!);
  now += (HOST_TTL - 1) * 1000;
  assert.equal(table.instances().length, 1);
  now += 2000;
  assert.equal(table.instances().length, 0);
});

Deno.test("InstanceTable replaces addresses on a cache-flush record a second later", () => {
  let now = 0;
  const table = new InstanceTable({ now: () => now });
  table.add(parseResponse(buildAnnouncement(INFO))!);
  now += 5000;
  table.add(
    parseResponse(buildAnnouncement({ ...INFO, addresses: ["10.0.0.9"] }))!,
  );
  assert.deepEqual(table.instances()[0].addresses, ["10.0.0.9", "fd00::1"]);
});

Deno.test("InstanceTable leaves the hash and version out when TXT holds no valid ones", () => {
  const fqdn = "x._pingpong._udp.local";
  const table = learn(response([
    { type: "PTR", name: "_pingpong._udp.local", ttl: 60, data: fqdn },
    {
      type: "SRV",
      name: fqdn,
      ttl: 60,
      data: { port: 1, target: "h.local" },
    },
    { type: "TXT", name: fqdn, ttl: 60, data: ["cert-sha256=xyz", "proto=a"] },
  ]));
  const [instance] = table.instances();
  assert.equal(instance.certHash, undefined);
  assert.equal(instance.protocolVersion, undefined);
  assert.equal(instance.path, "/");
  assert.deepEqual(instance.addresses, []);
});

Deno.test("parseResponse() reads a response with compressed names", () => {
  const [instance] = learn(compressedResponse()).instances();
  assert.deepEqual(instance, {
    name: "lab",
    host: "box.local",
    port: 4433,
    addresses: ["10.0.0.7"],
    path: "/p",
    certHash: HASH,
    protocolVersion: 1,
  });
});

Deno.test("parseResponse() ignores a compression pointer loop or a forward pointer", () => {
  const loop = new Wire();
  loop.u16(0).u16(0x8400).u16(0).u16(1).u16(0).u16(0);
  loop.pointer(12).u16(12).u16(1).u32(60).u16(2).pointer(12);
  assert.equal(parseResponse(loop.toBytes()), undefined);
  const forward = new Wire();
  forward.u16(0).u16(0x8400).u16(0).u16(1).u16(0).u16(0);
  forward.pointer(40).u16(12).u16(1).u32(60).u16(2).pointer(12);
  assert.equal(parseResponse(forward.toBytes()), undefined);
});

Deno.test("parseResponse() ignores every truncation of a valid response without throwing", () => {
  for (const whole of [buildAnnouncement(INFO), compressedResponse()]) {
    for (let length = 0; length < whole.length; length++) {
      const records = parseResponse(whole.subarray(0, length));
      // A cut inside the last record loses the packet; dns-packet never
      // returns a partial one.
      assert.equal(records, undefined, `cut at ${length}`);
    }
  }
});

Deno.test("parseResponse() never throws on 2000 random and bit-flipped packets", () => {
  const random = prng(42);
  const valid = compressedResponse();
  for (let i = 0; i < 2000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = Uint8Array.from(
        { length: Math.floor(random() * 200) },
        () => Math.floor(random() * 256),
      );
    } else {
      bytes = valid.slice();
      for (let flips = 0; flips < 3; flips++) {
        bytes[Math.floor(random() * bytes.length)] ^= 1 <<
          Math.floor(random() * 8);
      }
    }
    const records = parseResponse(bytes);
    assert.ok(records === undefined || Array.isArray(records));
    if (records) new InstanceTable().add(records);
  }
});

Deno.test("parseResponse() ignores queries, foreign services and error responses", () => {
  assert.equal(parseResponse(buildQuery()), undefined);
  const foreign = response([
    {
      type: "PTR",
      name: "_http._tcp.local",
      ttl: 60,
      data: "w._http._tcp.local",
    },
    {
      type: "SRV",
      name: "w._http._tcp.local",
      ttl: 60,
      data: { port: 80, target: "h.local" },
    },
    { type: "A", name: "h.local", ttl: 60, data: "10.0.0.2" },
  ]);
  assert.equal(parseResponse(foreign), undefined);
  const failed = response(buildRecords(INFO), 3 /* NXDOMAIN */);
  assert.equal(parseResponse(failed), undefined);
});

Deno.test("answerQuery() answers a PTR query with PTR and the rest as additionals", () => {
  const answer = answerQuery(buildQuery(), MDNS_PORT, INFO);
  assert.ok(answer);
  assert.equal(answer.unicast, false);
  const packet = decode(answer.bytes);
  assert.equal(packet.id, 0);
  assert.deepEqual(packet.answers!.map((r) => r.type), ["PTR"]);
  assert.deepEqual(packet.additionals!.map((r) => r.type), [
    "SRV",
    "TXT",
    "A",
    "AAAA",
  ]);
  assert.equal(learn(answer.bytes).instances()[0].certHash, HASH);
});

Deno.test("answerQuery() answers an instance's SRV and TXT query, matching names without case", () => {
  const query = new Uint8Array(dnsPacket.encode({
    type: "query",
    questions: [
      { type: "SRV", name: "LAB SERVER._pingpong._udp.local" },
      { type: "A", name: "box.local" },
    ],
  }));
  const packet = decode(answerQuery(query, MDNS_PORT, INFO)!.bytes);
  assert.deepEqual(packet.answers!.map((r) => r.type), ["SRV", "A"]);
  assert.deepEqual(packet.additionals, []);
});

Deno.test("answerQuery() sends a legacy querier a unicast reply with its id and TTLs of at most 10 s", () => {
  const query = new Uint8Array(dnsPacket.encode({
    type: "query",
    id: 4242,
    questions: [{ type: "PTR", name: "_pingpong._udp.local" }],
  }));
  const answer = answerQuery(query, 40_000, INFO)!;
  assert.equal(answer.unicast, true);
  const packet = decode(answer.bytes);
  assert.equal(packet.id, 4242);
  assert.equal(packet.questions!.length, 1);
  for (const record of [...packet.answers!, ...packet.additionals!]) {
    assert.ok((record as dnsPacket.StringAnswer).ttl! <= LEGACY_TTL);
    assert.equal((record as dnsPacket.StringAnswer).flush, false);
  }
});

Deno.test("answerQuery() stays silent for a known answer, a foreign question, a response or junk", () => {
  const [ptr] = buildRecords(INFO);
  const knowing = new Uint8Array(dnsPacket.encode({
    type: "query",
    questions: [{ type: "PTR", name: "_pingpong._udp.local" }],
    answers: [ptr],
  }));
  assert.equal(answerQuery(knowing, MDNS_PORT, INFO), undefined);
  const foreign = new Uint8Array(dnsPacket.encode({
    type: "query",
    questions: [{ type: "PTR", name: "_http._tcp.local" }],
  }));
  assert.equal(answerQuery(foreign, MDNS_PORT, INFO), undefined);
  assert.equal(
    answerQuery(buildAnnouncement(INFO), MDNS_PORT, INFO),
    undefined,
  );
  assert.equal(
    answerQuery(new Uint8Array([0, 1, 2]), MDNS_PORT, INFO),
    undefined,
  );
});

Deno.test("answerQuery() lists the service type for DNS-SD service enumeration", () => {
  const query = new Uint8Array(dnsPacket.encode({
    type: "query",
    questions: [{ type: "PTR", name: "_services._dns-sd._udp.local" }],
  }));
  const packet = decode(answerQuery(query, MDNS_PORT, INFO)!.bytes);
  assert.equal(
    (packet.answers![0] as dnsPacket.StringAnswer).data,
    "_pingpong._udp.local",
  );
});

Deno.test("parseTxt() keeps the first of a repeated key and lowercases keys", () => {
  const txt = parseTxt(["Path=/a", "path=/b", "flag", "=x"]);
  assert.deepEqual([...txt], [["path", "/a"], ["flag", ""]]);
});

Deno.test("instanceNameProblem() accepts one label and rejects dots, empty and long names", () => {
  assert.equal(instanceNameProblem("lab server ü"), undefined);
  assert.match(instanceNameProblem("a.b")!, /dots/);
  assert.match(instanceNameProblem("")!, /empty/);
  assert.match(instanceNameProblem("x".repeat(64))!, /63 bytes/);
});

Deno.test("localHostLabel() makes one .local label of a host name", () => {
  assert.equal(localHostLabel("My_Box.example.com"), "my-box");
  assert.equal(localHostLabel("___"), "pingpong");
});

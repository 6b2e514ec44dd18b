import assert from "node:assert/strict";
import {
  formatInstance,
  instanceTargets,
  orderSrv,
  parseServerList,
  srvTargets,
  staticTargets,
} from "../lib/discovery.ts";
import type { ServiceInstance } from "../lib/dns_sd.ts";

const HASH = "ab".repeat(32);

const LAB: ServiceInstance = {
  name: "lab",
  host: "box.local",
  port: 4433,
  addresses: ["10.0.0.1", "fd00::1"],
  path: "/pingpong",
  certHash: HASH,
  protocolVersion: 1,
};

function srv(priority: number, weight: number, target: string) {
  return { priority, weight, port: 4433, target };
}

Deno.test("parseServerList() reads host:port entries, IPv6 in brackets", () => {
  assert.deepEqual(parseServerList("a.example:1, 10.0.0.1:2,[::1]:3"), [
    { host: "a.example", port: 1 },
    { host: "10.0.0.1", port: 2 },
    { host: "::1", port: 3 },
  ]);
});

Deno.test("parseServerList() rejects a missing port, port 0 and bare IPv6", () => {
  assert.throws(() => parseServerList("host"), /'host' is not host:port/);
  assert.throws(() => parseServerList("h:0"), /not host:port/);
  assert.throws(() => parseServerList("::1:4433"), /not host:port/);
  assert.throws(() => parseServerList(" , "), /no host:port/);
});

Deno.test("orderSrv() puts lower priorities first whatever the weights", () => {
  const ordered = orderSrv(
    [srv(20, 100, "c"), srv(10, 0, "a"), srv(30, 1, "d"), srv(10, 5, "b")],
    () => 0.5,
  );
  assert.deepEqual(ordered.map((r) => r.priority), [10, 10, 20, 30]);
});

Deno.test("orderSrv() picks by weight within a priority (RFC 2782)", () => {
  const records = [srv(0, 1, "light"), srv(0, 3, "heavy")];
  // A roll in the first quarter of the total lands on the weight-1 record.
  assert.deepEqual(orderSrv(records, () => 0.1).map((r) => r.target), [
    "light",
    "heavy",
  ]);
  assert.deepEqual(orderSrv(records, () => 0.9).map((r) => r.target), [
    "heavy",
    "light",
  ]);
});

Deno.test("orderSrv() places a zero-weight record after weighted ones", () => {
  const records = [srv(0, 0, "zero"), srv(0, 10, "ten")];
  for (const roll of [0, 0.3, 0.99]) {
    assert.deepEqual(orderSrv(records, () => roll).map((r) => r.target), [
      "ten",
      "zero",
    ]);
  }
});

Deno.test("srvTargets() builds URLs from SRV targets in order, without the trailing dot", async () => {
  const targets = await srvTargets("_pingpong._udp.pp.ns.svc.cluster.local", {
    path: "/pingpong",
    certHash: undefined,
    resolve: () =>
      Promise.resolve([
        srv(20, 0, "pp-1.pp.ns.svc.cluster.local."),
        srv(10, 0, "pp-0.pp.ns.svc.cluster.local."),
      ]),
  });
  assert.deepEqual(targets.map((t) => t.url), [
    "https://pp-0.pp.ns.svc.cluster.local:4433/pingpong",
    "https://pp-1.pp.ns.svc.cluster.local:4433/pingpong",
  ]);
});

Deno.test("srvTargets() fails with one line when the name does not resolve or has only '.'", async () => {
  await assert.rejects(
    srvTargets("x", {
      path: "/",
      certHash: undefined,
      resolve: () => Promise.reject(new Error("no record found")),
    }),
    {
      name: "DiscoveryError",
      message: "cannot resolve SRV x: no record found",
    },
  );
  await assert.rejects(
    srvTargets("x", {
      path: "/",
      certHash: undefined,
      resolve: () => Promise.resolve([srv(0, 0, ".")]),
    }),
    { name: "DiscoveryError", message: "no SRV records for x" },
  );
});

Deno.test("staticTargets() keeps the given order and brackets IPv6", () => {
  const hash = new Uint8Array(32);
  const targets = staticTargets(
    [{ host: "::1", port: 1 }, { host: "b", port: 2 }],
    "/pingpong",
    hash,
  );
  assert.deepEqual(targets.map((t) => [t.url, t.label]), [
    ["https://[::1]:1/pingpong", "[::1]:1"],
    ["https://b:2/pingpong", "b:2"],
  ]);
  assert.equal(targets[0].certHash, hash);
});

Deno.test("instanceTargets() pins the advertised hash and prefers IPv4", () => {
  const [target] = instanceTargets([LAB]);
  assert.equal(target.url, "https://10.0.0.1:4433/pingpong");
  assert.deepEqual([...target.certHash!], Array(32).fill(0xab));
});

Deno.test("instanceTargets() lets a hash the user pinned override the advertised one", () => {
  const mine = new Uint8Array(32).fill(1);
  const [target] = instanceTargets([LAB], { certHash: mine });
  assert.equal(target.certHash, mine);
});

Deno.test("instanceTargets() skips other protocol versions, address-less instances and other names", () => {
  const instances = [
    { ...LAB, name: "old", protocolVersion: 99 },
    { ...LAB, name: "nowhere", addresses: [] },
    { ...LAB, name: "Lab2" },
  ];
  assert.deepEqual(instanceTargets(instances).map((t) => t.label), ["Lab2"]);
  assert.deepEqual(
    instanceTargets([LAB, ...instances], { instance: "LAB" }).map((t) =>
      t.label
    ),
    ["lab"],
  );
});

Deno.test("formatInstance() names every field --list promises", () => {
  assert.equal(
    formatInstance(LAB),
    `lab address=10.0.0.1,fd00::1 port=4433 path=/pingpong host=box.local cert-hash=${HASH} version=1`,
  );
});

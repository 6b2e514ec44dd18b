import assert from "node:assert/strict";
import { interfaceFor, selectInterfaces } from "../lib/mdns.ts";

function v4(name: string, cidr: string): Deno.NetworkInterfaceInfo {
  return {
    family: "IPv4",
    name,
    address: cidr.split("/")[0],
    netmask: "",
    scopeid: null,
    cidr,
    mac: "00:00:00:00:00:00",
  };
}

const AVAILABLE: Deno.NetworkInterfaceInfo[] = [
  v4("lo", "127.0.0.1/8"),
  v4("eth0", "10.0.0.2/24"),
  v4("eth1", "192.168.7.5/16"),
  {
    family: "IPv6",
    name: "eth2",
    address: "fd00::2",
    netmask: "",
    scopeid: 0,
    cidr: "fd00::2/64",
    mac: "00:00:00:00:00:00",
  },
];

Deno.test("selectInterfaces() takes every IPv4 interface but loopback by default", () => {
  assert.deepEqual(selectInterfaces(AVAILABLE), [
    { name: "eth0", address: "10.0.0.2", prefix: 24 },
    { name: "eth1", address: "192.168.7.5", prefix: 16 },
  ]);
});

Deno.test("selectInterfaces() takes the interfaces asked for, by name or address", () => {
  assert.deepEqual(
    selectInterfaces(AVAILABLE, ["192.168.7.5", "lo"]).map((i) => i.name),
    ["eth1", "lo"],
  );
});

Deno.test("selectInterfaces() names the missing interface and those there are", () => {
  assert.throws(() => selectInterfaces(AVAILABLE, ["wlan0"]), {
    name: "MdnsError",
    message: "no IPv4 interface 'wlan0' (have: lo, eth0, eth1)",
  });
  assert.throws(() => selectInterfaces(AVAILABLE, ["eth2"]), /no IPv4/);
  assert.throws(
    () => selectInterfaces([AVAILABLE[0]]),
    /no IPv4 interface other than loopback/,
  );
});

Deno.test("interfaceFor() finds the interface whose subnet holds an address", () => {
  const chosen = selectInterfaces(AVAILABLE);
  assert.equal(interfaceFor("10.0.0.200", chosen)?.name, "eth0");
  assert.equal(interfaceFor("192.168.200.1", chosen)?.name, "eth1");
  assert.equal(interfaceFor("10.0.1.1", chosen), undefined);
  assert.equal(interfaceFor("fd00::9", chosen), undefined);
  assert.equal(interfaceFor("not an address", chosen), undefined);
});

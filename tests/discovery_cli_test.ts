import assert from "node:assert/strict";
import { parseClientArgs } from "../lib/client_cli.ts";
import {
  advertisePlan,
  checkAdvertising,
  discoverTargets,
  formatDiscovered,
  parseClientDiscovery,
  parseServerDiscovery,
} from "../lib/discovery_cli.ts";
import { parseServerArgs } from "../lib/server_cli.ts";

function iface(
  family: "IPv4" | "IPv6",
  name: string,
  cidr: string,
): Deno.NetworkInterfaceInfo {
  return {
    family,
    name,
    address: cidr.split("/")[0],
    netmask: "",
    scopeid: family === "IPv6" ? 0 : null,
    cidr,
    mac: "00:00:00:00:00:00",
  };
}

const AVAILABLE = [
  iface("IPv4", "lo", "127.0.0.1/8"),
  iface("IPv6", "lo", "::1/128"),
  iface("IPv4", "eth0", "10.0.0.2/24"),
  iface("IPv6", "eth0", "fe80::1/64"),
  iface("IPv6", "eth0", "fd00::2/64"),
  iface("IPv4", "eth1", "10.1.0.2/24"),
];

Deno.test("parseClientArgs() with --discover needs no URL and defaults to mDNS for 2 s", () => {
  const config = parseClientArgs(["--discover", "-c", "3"]);
  assert.equal(config.url, "");
  assert.equal(config.count, 3);
  assert.deepEqual(config.discovery, {
    source: "mdns",
    srvName: "",
    servers: [],
    instance: undefined,
    timeoutMs: 2000,
    interfaces: [],
    list: false,
  });
});

Deno.test("parseClientArgs() reads --discover dns:NAME as an SRV lookup", () => {
  const config = parseClientArgs([
    "--discover",
    "dns:_pingpong._udp.pp.default.svc.cluster.local",
  ]);
  assert.equal(config.discovery?.source, "dns");
  assert.equal(
    config.discovery?.srvName,
    "_pingpong._udp.pp.default.svc.cluster.local",
  );
});

Deno.test("parseClientArgs() without a URL or --discover still asks for the URL", () => {
  assert.throws(() => parseClientArgs(["-c", "1"]), /missing the server URL/);
});

Deno.test("parseClientDiscovery() reads --interface lists, --instance and --discover-timeout", () => {
  const config = parseClientDiscovery({
    list: true,
    interface: ["eth0,eth1", " veth0 "],
    instance: "lab",
    "discover-timeout": "0.5",
  }, []);
  assert.deepEqual(config?.interfaces, ["eth0", "eth1", "veth0"]);
  assert.equal(config?.instance, "lab");
  assert.equal(config?.timeoutMs, 500);
  assert.equal(config?.list, true);
});

Deno.test("parseClientDiscovery() reads --server as a static list", () => {
  const config = parseClientDiscovery({ server: "a:1,[::1]:2" }, []);
  assert.equal(config?.source, "static");
  assert.deepEqual(config?.servers, [
    { host: "a", port: 1 },
    { host: "::1", port: 2 },
  ]);
});

Deno.test("parseClientDiscovery() rejects contradictory or incomplete flags", () => {
  const cases: [Parameters<typeof parseClientDiscovery>, RegExp][] = [
    [[{ discover: true }, ["https://x"]], /only argument may be dns:NAME/],
    [[{ server: "a:1", discover: true }, []], /only one of them/],
    [[{ server: "a:1" }, ["https://x"]], /only one of them/],
    [[{ instance: "lab" }, []], /need --discover or --list/],
    [[{ server: "a" }, []], /--server: 'a' is not host:port/],
    [[{ discover: true, "discover-timeout": "0" }, []], /--discover-timeout/],
    [[{ discover: true }, ["dns:bad name"]], /not a DNS name/],
    [
      [{ discover: true, instance: "lab" }, ["dns:_pp._udp.x"]],
      /--instance, --discover-timeout and --interface are for mDNS: not with dns:NAME/,
    ],
    [[{ list: true, interface: ["eth0"] }, ["dns:_pp._udp.x"]], /for mDNS/],
    [[{ server: "a:1", instance: "lab" }, []], /not with --server/],
    [[{ server: "a:1", "discover-timeout": "1" }, []], /not with --server/],
  ];
  for (const [args, pattern] of cases) {
    assert.throws(() => parseClientDiscovery(...args), {
      name: "UsageError",
      message: pattern,
    });
  }
});

Deno.test("parseServerArgs() advertises by default and reads --no-advertise, --name, --interface", () => {
  assert.deepEqual(parseServerArgs([]).discovery, {
    advertise: true,
    name: undefined,
    interfaces: [],
  });
  assert.deepEqual(parseServerArgs(["--no-advertise"]).discovery, {
    advertise: false,
    name: undefined,
    interfaces: [],
  });
  assert.deepEqual(
    parseServerArgs(["--name", "lab", "--interface", "a,b"]).discovery,
    { advertise: true, name: "lab", interfaces: ["a", "b"] },
  );
});

Deno.test("parseServerArgs() refuses --name or --interface with --no-advertise", () => {
  assert.throws(() => parseServerArgs(["--no-advertise", "--name", "lab"]), {
    name: "UsageError",
    message:
      /^--name applies only when advertising: drop --no-advertise or it$/,
  });
  assert.throws(
    () =>
      parseServerArgs(["--no-advertise", "--name", "x", "--interface", "eth0"]),
    { message: /^--name and --interface apply only when advertising/ },
  );
});

Deno.test("parseServerDiscovery() rejects a --name with a dot", () => {
  assert.throws(() => parseServerDiscovery({ name: "a.b" }), {
    name: "UsageError",
    message: "--name must not contain dots",
  });
});

Deno.test("advertisePlan() does not advertise a loopback server", () => {
  assert.equal(advertisePlan("127.0.0.1", [], AVAILABLE), undefined);
  assert.equal(advertisePlan("::1", [], AVAILABLE), undefined);
});

Deno.test("advertisePlan() refuses interfaces for a loopback server rather than advertise 127.0.0.1 on them", () => {
  for (const host of ["127.0.0.1", "::1", "localhost"]) {
    assert.throws(() => advertisePlan(host, ["eth0"], AVAILABLE), {
      name: "MdnsError",
      message:
        `the server is bound to loopback ${host}, unreachable from eth0: give --host an address there, or ::`,
    });
  }
});

Deno.test("checkAdvertising() is a usage error for a bad --interface and quiet without one", () => {
  const config = { advertise: true, name: undefined, interfaces: ["nosuch0"] };
  assert.throws(() => checkAdvertising(config, "::"), {
    name: "ExitError",
    code: 2,
    message: /^--interface: no IPv4 interface 'nosuch0'/,
  });
  assert.throws(() => checkAdvertising(config, "127.0.0.1"), {
    name: "ExitError",
    code: 2,
    message: /^--interface: the server is bound to loopback 127\.0\.0\.1/,
  });
  checkAdvertising({ ...config, interfaces: [] }, "127.0.0.1");
  checkAdvertising({ ...config, advertise: false }, "::");
});

Deno.test("advertisePlan() advertises a wildcard server's IPv4 and global IPv6 addresses", () => {
  const plan = advertisePlan("::", [], AVAILABLE)!;
  assert.deepEqual(plan.interfaces.map((i) => i.name), ["eth0", "eth1"]);
  assert.deepEqual(plan.addresses, ["10.0.0.2", "fd00::2", "10.1.0.2"]);
  assert.deepEqual(advertisePlan("0.0.0.0", ["eth0"], AVAILABLE)!.addresses, [
    "10.0.0.2",
  ]);
});

Deno.test("advertisePlan() advertises a specific address on its own interface only", () => {
  const plan = advertisePlan("10.1.0.2", [], AVAILABLE)!;
  assert.deepEqual(plan.interfaces.map((i) => i.name), ["eth1"]);
  assert.deepEqual(plan.addresses, ["10.1.0.2"]);
});

Deno.test("formatDiscovered() names the server and its address, or one JSON object", () => {
  const target = {
    url: "https://[fd00::1]:4433/pingpong",
    certHash: undefined,
    label: "lab",
  };
  assert.equal(
    formatDiscovered(target, "mdns", false),
    "discovered lab at [fd00::1]:4433 (mdns)",
  );
  assert.deepEqual(JSON.parse(formatDiscovered(target, "dns", true)), {
    type: "discovered",
    source: "dns",
    name: "lab",
    url: "https://[fd00::1]:4433/pingpong",
  });
});

Deno.test("discoverTargets() pins the hash --cert-hash or PINGPONG_CERT_HASH resolved to", async () => {
  const run = (env: Record<string, string>, flags: string[] = []) => {
    const config = parseClientArgs(["--server", "a:1,b:2", ...flags], env);
    return discoverTargets(config.discovery!, {
      certHash: config.certHash,
      print: () => {},
      json: false,
      signal: new AbortController().signal,
    });
  };
  const env = { PINGPONG_CERT_HASH: "02".repeat(32) };
  const fromFlag = await run(env, ["--cert-hash", "01".repeat(32)]);
  assert.deepEqual(
    fromFlag.map((t) => [...t.certHash!]),
    [Array(32).fill(1), Array(32).fill(1)],
  );
  const fromEnv = await run(env);
  assert.deepEqual([...fromEnv[1].certHash!], Array(32).fill(2));
});

Deno.test("discoverTargets() refuses to send a token to a server pinned only by its mDNS advert", async () => {
  // Refused before any packet is sent: an mDNS answer is unauthenticated.
  const config = parseClientDiscovery({ discover: true }, [])!;
  const run = {
    certHash: undefined,
    print: () => {},
    json: false,
    signal: new AbortController().signal,
    sendsToken: true,
  };
  await assert.rejects(discoverTargets(config, run), {
    name: "UsageError",
    message:
      /^--token with mDNS discovery needs --cert-hash or \$PINGPONG_CERT_HASH: /,
  });
  // A pin from $PINGPONG_CERT_HASH, resolved by the flag parser, lets the
  // token go: the run gets past that check to choosing interfaces (an
  // interface that does not exist stops it there, before any packet).
  const env = { PINGPONG_CERT_HASH: "ab".repeat(32) };
  const pinned = parseClientArgs(
    ["--discover", "--token", "t", "--interface", "pp-no-such-if0"],
    env,
  );
  await assert.rejects(
    discoverTargets(pinned.discovery!, {
      ...run,
      certHash: pinned.certHash,
    }),
    { name: "UsageError", message: /^--interface: / },
  );
  // A static list is the operator's own: the token goes with the flag's pin
  // or CA validation, as for a URL.
  const list = parseClientDiscovery({ server: "127.0.0.1:4433" }, [])!;
  const targets = await discoverTargets(list, run);
  assert.equal(targets.length, 1);
});

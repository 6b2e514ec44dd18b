/**
 * Discovery across two test hosts: network namespaces joined by a veth pair,
 * the server in one with default flags, the client in the other. Multicast
 * never leaves the pair: no real interface is in either namespace.
 */
import assert from "node:assert/strict";
import { TextLineStream } from "../../lib/text_lines.ts";
import { storedCertificateSource } from "../../lib/cert_store.ts";
import { generateCertificate } from "../../lib/certificates.ts";
import type { ServiceInstance } from "../../lib/dns_sd.ts";
import {
  rootPath,
  RUN_FLAGS,
  runClient,
  runCommand,
  type ServerProcess,
  startServer,
} from "../support/processes.ts";
import { statsReader } from "../support/server_stats.ts";
import { openTcpOnlyPath } from "../support/tcp_only.ts";

const SERVER_ADDRESS = "10.200.0.1";
const CLIENT_ADDRESS = "10.200.0.2";

async function ip(...args: string[]): Promise<void> {
  const output = await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `ip ${args.join(" ")} failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** Two namespaces joined by a veth pair, each with a multicast route. */
class TestHosts implements AsyncDisposable {
  readonly server: string;
  readonly client: string;
  readonly serverLink: string;
  readonly clientLink: string;

  constructor() {
    const id = crypto.randomUUID().slice(0, 6);
    this.server = `ppd-srv-${id}`;
    this.client = `ppd-cli-${id}`;
    this.serverLink = `ppds${id}`;
    this.clientLink = `ppdc${id}`;
  }

  /** `ip netns exec NS` for the processes module's `prefix`. */
  prefix(ns: string): string[] {
    return ["ip", "netns", "exec", ns];
  }

  async create(): Promise<void> {
    if (Deno.uid() !== 0) {
      throw new Error(
        "the discovery test creates network namespaces: run it as root",
      );
    }
    try {
      await new Deno.Command("ip", { args: ["-V"], stdout: "null" }).output();
    } catch (cause) {
      throw new Error(
        "the discovery test needs iproute2's `ip` (apt-get install iproute2)",
        { cause },
      );
    }
    await ip("netns", "add", this.server);
    await ip("netns", "add", this.client);
    await ip(
      "link",
      "add",
      this.serverLink,
      "netns",
      this.server,
      "type",
      "veth",
      "peer",
      "name",
      this.clientLink,
      "netns",
      this.client,
    );
    for (
      const [ns, link, address] of [
        [this.server, this.serverLink, SERVER_ADDRESS],
        [this.client, this.clientLink, CLIENT_ADDRESS],
      ]
    ) {
      await ip("-n", ns, "addr", "add", `${address}/24`, "dev", link);
      await ip("-n", ns, "link", "set", link, "up");
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", link);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // Deleting a namespace deletes the veth end inside it, and its peer.
    for (const ns of [this.server, this.client]) {
      await ip("netns", "del", ns).catch(() => {});
    }
  }
}

/**
 * A client.ts process (under `prefix`, e.g. `ip netns exec NS`, if not
 * empty) whose stderr lines can be awaited while it runs.
 */
function spawnClient(prefix: string[], args: string[]) {
  const [cmd, ...prefixArgs] = [...prefix, Deno.execPath()];
  const child = new Deno.Command(cmd, {
    args: [
      ...prefixArgs,
      ...RUN_FLAGS,
      rootPath("client.ts"),
      ...args,
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr: string[] = [];
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const pump = (async () => {
    for await (
      const line of child.stderr.pipeThrough(new TextDecoderStream())
        .pipeThrough(new TextLineStream())
    ) {
      stderr.push(line);
      for (const waiter of waiters.filter((w) => w.pattern.test(line))) {
        waiter.resolve();
      }
    }
  })();
  const stdout = new Response(child.stdout).text();
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return {
    stderr,
    waitForStderr(pattern: RegExp, timeoutMs = 20_000): Promise<void> {
      if (stderr.some((line) => pattern.test(line))) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `no stderr line matching ${pattern}:\n${stderr.join("\n")}`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    async result() {
      const status = await child.status;
      clearTimeout(killer);
      await pump;
      return { code: status.code, stdout: await stdout };
    },
    /** Kills the process if still running and waits for it. */
    async kill(): Promise<void> {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await this.result();
    },
  };
}

Deno.test("client.ts --discover finds server.ts in another network namespace by mDNS", async (t) => {
  await using hosts = new TestHosts();
  await hosts.create();
  const server = await startServer({
    prefix: hosts.prefix(hosts.server),
    host: "::",
  });
  try {
    const advertised = await server.waitForLine(/^advertising /);
    assert.match(advertised, new RegExp(`${SERVER_ADDRESS}:${server.port}`));
    const name = advertised.split(" ")[1];

    await t.step(
      "--discover --count 3 gets 3 of 3 pongs from the server's address",
      async () => {
        const result = await runClient(
          ["--discover", "--count", "3", "--interval", "0.2"],
          { prefix: hosts.prefix(hosts.client) },
        );
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(
            `^discovered ${name} at ${SERVER_ADDRESS}:${server.port} `,
            "m",
          ),
        );
        assert.match(
          result.stdout,
          new RegExp(
            `^PING https://${SERVER_ADDRESS}:${server.port}/pingpong `,
            "m",
          ),
        );
        assert.match(result.stdout, /^3 transmitted, 3 received, 0% loss$/m);
      },
    );

    await t.step(
      "--list prints the instance with its address, port, path and hash",
      async () => {
        const result = await runClient(["--list", "--discover-timeout", "1"], {
          prefix: hosts.prefix(hosts.client),
        });
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stdout.trim(),
          `${name} address=${SERVER_ADDRESS} port=${server.port} path=/pingpong` +
            ` host=${result.stdout.match(/host=(\S+)/)?.[1]}` +
            ` cert-hash=${server.certHash} version=1`,
        );
      },
    );

    await t.step(
      "--instance with a name nobody advertises fails with exit 2",
      async () => {
        const result = await runClient(
          [
            "--discover",
            "--instance",
            "nobody",
            "--discover-timeout",
            "0.5",
            "-c",
            "1",
          ],
          { prefix: hosts.prefix(hosts.client) },
        );
        assert.equal(result.code, 2);
        assert.match(result.stderr, /no pingpong server named 'nobody'/);
      },
    );

    await t.step(
      "--discover on the server's own host finds it (multicast looped back)",
      async () => {
        const result = await runClient(
          ["--discover", "--count", "2", "--interval", "0"],
          { prefix: hosts.prefix(hosts.server) },
        );
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(
            `^discovered ${name} at ${SERVER_ADDRESS}:${server.port} `,
            "m",
          ),
        );
        assert.match(result.stdout, /^2 transmitted, 2 received, 0% loss$/m);
      },
    );

    await t.step(
      "--list --instance with a name nobody advertises names it in the error",
      async () => {
        const result = await runClient(
          ["--list", "--instance", "nobody", "--discover-timeout", "0.5"],
          { prefix: hosts.prefix(hosts.client) },
        );
        assert.equal(result.code, 2);
        assert.equal(result.stdout, "");
        assert.equal(
          result.stderr.trim(),
          "pingpong-client: no pingpong server named 'nobody' answered mDNS within 0.5 s",
        );
      },
    );

    await t.step(
      "a PINGPONG_CERT_HASH that is not the server's overrides the advertised hash: exit 2",
      async () => {
        const result = await runClient(
          ["--discover", "-c", "1", "--timeout", "2"],
          {
            prefix: hosts.prefix(hosts.client),
            env: { PINGPONG_CERT_HASH: "00".repeat(32) },
          },
        );
        assert.equal(result.code, 2, result.stdout);
        assert.match(
          result.stderr,
          new RegExp(
            `certificate of ${SERVER_ADDRESS}:${server.port} rejected`,
          ),
        );
        // And the right one is accepted.
        const pinned = await runClient(
          ["--discover", "-c", "1", "--timeout", "2"],
          {
            prefix: hosts.prefix(hosts.client),
            env: { PINGPONG_CERT_HASH: server.certHash },
          },
        );
        assert.equal(pinned.code, 0, pinned.stderr);
      },
    );

    await t.step(
      "the server's goodbye removes it from a --list that saw it",
      async () => {
        const list = spawnClient(hosts.prefix(hosts.client), [
          "--list",
          "--discover-timeout",
          "6",
          "--log-level",
          "info",
        ]);
        await list.waitForStderr(new RegExp(`found "?${name}`));
        const status = await server.stop("SIGTERM");
        assert.equal(status.code, 0);
        await list.waitForStderr(new RegExp(`gone "?${name}`));
        const { code, stdout } = await list.result();
        assert.equal(code, 2);
        assert.doesNotMatch(stdout, new RegExp(name));
      },
    );

    await t.step(
      "after the server stopped, a new --list does not show it",
      async () => {
        const result = await runClient(["--list", "--discover-timeout", "1"], {
          prefix: hosts.prefix(hosts.client),
        });
        assert.equal(result.code, 2);
        assert.equal(result.stdout, "");
        assert.match(
          result.stderr,
          /no pingpong server answered mDNS within 1 s/,
        );
      },
    );
  } finally {
    await server.stop("SIGKILL");
  }
});

Deno.test("client.ts --server tries the next server when the first does not answer", async () => {
  await using server = await startServer();
  const result = await runClient([
    "--server",
    `127.0.0.1:1,127.0.0.1:${server.port}`,
    "--cert-hash",
    server.certHash,
    "--timeout",
    "1",
    "--count",
    "2",
    "--interval",
    "0",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(
    result.stdout,
    new RegExp(`^discovered 127.0.0.1:${server.port} `, "m"),
  );
  assert.match(result.stdout, /^2 transmitted, 2 received, 0% loss$/m);
});

Deno.test("client.ts --server pins the hash from PINGPONG_CERT_HASH", async () => {
  await using server = await startServer();
  const args = [
    "--server",
    `127.0.0.1:${server.port}`,
    "-c",
    "1",
    "--timeout",
    "2",
  ];
  const pinned = await runClient(args, {
    env: { PINGPONG_CERT_HASH: server.certHash },
  });
  assert.equal(pinned.code, 0, pinned.stderr);
  const wrong = await runClient(args, {
    env: { PINGPONG_CERT_HASH: "00".repeat(32) },
  });
  assert.equal(wrong.code, 2);
  assert.match(wrong.stderr, /certificate/);
});

Deno.test("client.ts --server sends --token and uses --transport on its first session", async (t) => {
  await using server = await startServer({ args: ["--token", "s3cret"] });
  // UDP to this port is black-holed: only HTTP/2 gets through.
  await using path = openTcpOnlyPath({
    hostname: "127.0.0.1",
    port: server.port,
  });
  const base = ["--cert-hash", server.certHash, "-c", "2", "-i", "0"];

  await t.step("the token reaches the server", async () => {
    const result = await runClient([
      "--server",
      `127.0.0.1:${server.port}`,
      "--token",
      "s3cret",
      ...base,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^2 transmitted, 2 received, 0% loss$/m);
    assert.doesNotMatch(result.stdout + result.stderr, /s3cret/);
    // No session came without the token (a trial connection did, and lost
    // the race with the refusal now and then).
    assert.deepEqual((await statsReader(server)()).refused, {});
  });

  for (const transport of ["h2", "auto"]) {
    await t.step(
      `--transport ${transport} pings over HTTP/2 where UDP is blocked`,
      async () => {
        const result = await runClient([
          "--server",
          `127.0.0.1:${path.port}`,
          "--token",
          "s3cret",
          "--transport",
          transport,
          "--timeout",
          "2",
          ...base,
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(`^discovered 127\\.0\\.0\\.1:${path.port} at `, "m"),
        );
        assert.match(result.stdout, /connected over HTTP\/2 in /);
        assert.match(result.stdout, /^2 transmitted, 2 received, 0% loss$/m);
      },
    );
  }
});

Deno.test("client.ts --server retries the first connection until a restarting server is back", async () => {
  // A certificate on disk, so the restarted server keeps its hash.
  const dir = await Deno.makeTempDir();
  let server: ServerProcess | undefined;
  try {
    const certificate = await generateCertificate();
    await Deno.writeTextFile(`${dir}/cert.pem`, certificate.certPem);
    await Deno.writeTextFile(`${dir}/key.pem`, certificate.keyPem, {
      mode: 0o600,
    });
    const tls = ["--cert", `${dir}/cert.pem`, "--key", `${dir}/key.pem`];
    // Learn a free port, then stop the server: every target is down.
    const before = await startServer({ args: tls });
    const port = before.port;
    await before.stop("SIGKILL");
    const client = spawnClient([], [
      "--server",
      `127.0.0.1:${port}`,
      "--cert-hash",
      certificate.hash,
      "--transport",
      "h3",
      "--timeout",
      "0.5",
      "-c",
      "2",
      "-i",
      "0",
    ]);
    try {
      await client.waitForStderr(
        new RegExp(`127\\.0\\.0\\.1:${port}"?: .*; trying again in `),
      );
      server = await startServer({ args: [...tls, "--port", String(port)] });
      const { code, stdout } = await client.result();
      assert.equal(code, 0, client.stderr.join("\n"));
      assert.match(stdout, /^2 transmitted, 2 received, 0% loss$/m);
    } finally {
      await client.kill();
    }
  } finally {
    await server?.stop("SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("client.ts --discover dns:NAME pings the SRV targets in priority order", async (t) => {
  await using hosts = new TestHosts();
  await hosts.create();
  // `ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf:
  // the client namespace's resolver is the test's DNS server.
  const etc = `/etc/netns/${hosts.client}`;
  const zone = "pingpong.default.svc.cluster.local";
  const name = `_pingpong._udp.${zone}`;
  let dns: ReturnType<typeof spawnHelper> | undefined;
  let server: ServerProcess | undefined;
  try {
    await Deno.mkdir(etc, { recursive: true });
    await Deno.writeTextFile(
      `${etc}/resolv.conf`,
      `nameserver ${SERVER_ADDRESS}\noptions attempts:1 timeout:2\n`,
    );
    server = await startServer({
      prefix: hosts.prefix(hosts.server),
      host: "::",
      args: ["--no-advertise"],
    });
    const port = server.port;
    const certHash = server.certHash;
    dns = spawnHelper(
      hosts.prefix(hosts.server),
      "tests/support/dns_server.ts",
      [
        SERVER_ADDRESS,
        name,
        `20:0:${port}:pp-0.${zone}`,
        `10:0:1:pp-dead.${zone}`,
        "--",
        `pp-0.${zone}=${SERVER_ADDRESS}`,
        `pp-dead.${zone}=${SERVER_ADDRESS}`,
      ],
    );
    assert.equal(await dns.next(), "ready");

    await t.step(
      "--list prints the targets, lowest priority first",
      async () => {
        const result = await runClient(
          ["--list", "--discover", `dns:${name}`],
          {
            prefix: hosts.prefix(hosts.client),
          },
        );
        assert.equal(result.code, 0, result.stderr);
        assert.deepEqual(result.stdout.trim().split("\n"), [
          `https://pp-dead.${zone}:1/pingpong`,
          `https://pp-0.${zone}:${port}/pingpong`,
        ]);
      },
    );

    await t.step(
      "--discover skips the dead first target and pings the next",
      async () => {
        const result = await runClient([
          "--discover",
          `dns:${name}`,
          "--cert-hash",
          certHash,
          "--timeout",
          "1",
          "--count",
          "2",
          "--interval",
          "0",
        ], { prefix: hosts.prefix(hosts.client) });
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stdout,
          new RegExp(
            `^discovered pp-0\\.${zone.replaceAll(".", "\\.")}:${port} at `,
            "m",
          ),
        );
        assert.match(result.stdout, /^2 transmitted, 2 received, 0% loss$/m);
        assert.match(result.stderr, /pp-dead.*trying the next server/);
      },
    );

    await t.step(
      "a name without SRV records fails with exit 2 and one line",
      async () => {
        const result = await runClient(
          ["--discover", `dns:_pingpong._udp.nothing.${zone}`, "-c", "1"],
          { prefix: hosts.prefix(hosts.client) },
        );
        assert.equal(result.code, 2);
        assert.match(
          result.stderr,
          /^pingpong-client: cannot resolve SRV _pingpong\._udp\.nothing\./,
        );
        assert.equal(result.stderr.trim().split("\n").length, 1);
      },
    );
  } finally {
    await server?.stop("SIGKILL");
    await dns?.kill();
    await Deno.remove(etc, { recursive: true }).catch(() => {});
  }
});

/** A test helper script run in a namespace, fed on stdin, read by lines. */
function spawnHelper(prefix: string[], script: string, args: string[]) {
  const [cmd, ...prefixArgs] = prefix;
  const child = new Deno.Command(cmd, {
    args: [
      ...prefixArgs,
      Deno.execPath(),
      ...RUN_FLAGS,
      rootPath(script),
      ...args,
    ],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream())
    .pipeThrough(new TextLineStream())[Symbol.asyncIterator]();
  const stdin = child.stdin.getWriter();
  const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  return {
    /** The next stdout line, or a failure after 20 s without one. */
    async next(): Promise<string | undefined> {
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        return await Promise.race([
          lines.next().then((result) => result.value),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`${script}: no output line within 20 s`)),
              20_000,
            );
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
    send: (line: string) => stdin.write(new TextEncoder().encode(`${line}\n`)),
    async kill(): Promise<void> {
      try {
        child.kill("SIGKILL");
      } catch {
        // Already exited.
      }
      await stdin.close().catch(() => {});
      await child.status;
      clearTimeout(killer);
    },
    async end(): Promise<string[]> {
      await stdin.close().catch(() => {});
      const rest: string[] = [];
      for (
        let line = await this.next();
        line !== undefined;
        line = await this.next()
      ) {
        rest.push(line);
      }
      await child.status;
      clearTimeout(killer);
      return rest;
    },
  };
}

Deno.test("an advertiser's update() announces the new hash to a listening browser", async () => {
  await using hosts = new TestHosts();
  await hosts.create();
  const [first, second] = ["aa".repeat(32), "bb".repeat(32)];
  const advertiser = spawnHelper(
    hosts.prefix(hosts.server),
    "tests/support/advertiser.ts",
    [hosts.serverLink, "renewing", SERVER_ADDRESS, first],
  );
  let browser: ReturnType<typeof spawnHelper> | undefined;
  try {
    assert.equal(await advertiser.next(), "ready");
    browser = spawnHelper(
      hosts.prefix(hosts.client),
      "tests/support/browser.ts",
      [hosts.clientLink],
    );
    const hashes = async () =>
      (JSON.parse((await browser!.next())!) as { certHash: string }[])
        .map((instance) => instance.certHash);
    assert.deepEqual(await hashes(), [first]);
    // The browser will not ask again for a minute: only an announcement
    // can bring the new hash.
    await advertiser.send(`update ${second}`);
    assert.equal(await advertiser.next(), "updated");
    assert.deepEqual(await hashes(), [second]);
    assert.deepEqual(await advertiser.end(), ["closed"]);
    // And the goodbye empties the browser's list.
    assert.deepEqual(await hashes(), []);
  } finally {
    await advertiser.end();
    await browser?.end();
  }
});

/** Reads the passive browser's lists until one satisfies `want` (at most 10). */
async function listUntil(
  browser: ReturnType<typeof spawnHelper>,
  want: (instances: ServiceInstance[]) => boolean,
): Promise<ServiceInstance[]> {
  const seen: string[] = [];
  for (let i = 0; i < 10; i++) {
    const line = await browser.next();
    if (line === undefined) break;
    seen.push(line);
    const instances = JSON.parse(line) as ServiceInstance[];
    if (want(instances)) return instances;
  }
  throw new Error(
    `the browser never listed what was wanted:\n${seen.join("\n")}`,
  );
}

Deno.test("two servers on one host: the goodbye of one, sent as its drain starts, leaves the other its address", async () => {
  await using hosts = new TestHosts();
  await hosts.create();
  const prefix = hosts.prefix(hosts.server);
  const leaving = await startServer({
    prefix,
    host: "::",
    args: ["--name", "leaving", "--drain-delay", "30"],
  });
  let staying: ServerProcess | undefined;
  let browser: ReturnType<typeof spawnHelper> | undefined;
  try {
    staying = await startServer({
      prefix,
      host: "::",
      args: ["--name", "staying"],
    });
    await leaving.waitForLine(/^advertising /);
    await staying.waitForLine(/^advertising /);
    browser = spawnHelper(
      hosts.prefix(hosts.client),
      "tests/support/browser.ts",
      [hosts.clientLink],
    );
    await listUntil(browser, (instances) =>
      instances.length === 2 &&
      instances.every((i) => i.addresses.includes(SERVER_ADDRESS)));
    leaving.child.kill("SIGTERM");
    await leaving.waitForLine(/^SIGTERM: draining for 30 s$/);
    // The browser asks no more: only the goodbye can change its list.
    const after = await listUntil(
      browser,
      (instances) => instances.length === 1,
    );
    assert.equal(after[0].name, "staying");
    assert.deepEqual(after[0].addresses, [SERVER_ADDRESS]);
    // The goodbye came while the server still drains.
    assert.ok(
      !leaving.stdout.some((line) => /closing \d+ session/.test(line)),
      leaving.stdout.join("\n"),
    );
    // A second signal ends the drain delay.
    assert.equal((await leaving.stop("SIGTERM")).code, 0);
  } finally {
    await browser?.end();
    await staying?.stop("SIGKILL");
    await leaving.stop("SIGKILL");
  }
});

Deno.test("server.ts re-announces its renewed certificate, so a browser that no longer asks learns the new hash", async () => {
  await using hosts = new TestHosts();
  await hosts.create();
  // A stored certificate with 12 s to live: the server reuses it and renews
  // it 80% of the way (about 9.6 s), through its real renewal path.
  const stateDir = await Deno.makeTempDir();
  let server: ServerProcess | undefined;
  let browser: ReturnType<typeof spawnHelper> | undefined;
  try {
    const stored = await storedCertificateSource(stateDir, {
      generate: () =>
        generateCertificate({ validityMs: 12_000, backdateMs: 0 }),
    })();
    server = await startServer({
      prefix: hosts.prefix(hosts.server),
      host: "::",
      args: ["--state-dir", stateDir],
    });
    assert.equal(server.certHash, stored.hash);
    await server.waitForLine(/^advertising /);
    browser = spawnHelper(
      hosts.prefix(hosts.client),
      "tests/support/browser.ts",
      [hosts.clientLink],
    );
    const [first] = await listUntil(browser, (i) => i.length === 1);
    assert.equal(
      first.certHash,
      stored.hash,
      "the browser's only query came after the renewal: the test host is too slow",
    );
    const renewed = await server.waitForLine(
      new RegExp(`^cert-hash sha-256 (?!${stored.hash})[0-9a-f]{64}$`),
      30_000,
    );
    const [next] = await listUntil(
      browser,
      (i) => i.length === 1 && i[0].certHash !== stored.hash,
    );
    assert.equal(next.certHash, renewed.split(" ")[2]);
  } finally {
    await browser?.end();
    await server?.stop("SIGKILL");
    await Deno.remove(stateDir, { recursive: true });
  }
});

/** Runs server.ts under `prefix` to its exit (it is not expected to serve). */
function runServer(prefix: string[], args: string[]) {
  const [cmd, ...prefixArgs] = [...prefix, Deno.execPath()];
  return runCommand(cmd, [
    ...prefixArgs,
    ...RUN_FLAGS,
    rootPath("server.ts"),
    "--port",
    "0",
    ...args,
  ], { timeoutMs: 30_000 });
}

Deno.test("server.ts refuses a bad --interface before it listens: exit 2, one line", async (t) => {
  await using hosts = new TestHosts();
  await hosts.create();
  const prefix = hosts.prefix(hosts.server);

  await t.step("an interface that does not exist", async () => {
    const result = await runServer(prefix, ["--interface", "nosuch0"]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stdout, "");
    assert.equal(
      result.stderr.trim(),
      `pingpong-server: --interface: no IPv4 interface 'nosuch0' (have: lo, ${hosts.serverLink})`,
    );
  });

  await t.step(
    "a LAN interface for a server bound to loopback, which nobody there could reach",
    async () => {
      const result = await runServer(prefix, [
        "--host",
        "127.0.0.1",
        "--interface",
        hosts.serverLink,
      ]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "");
      assert.equal(
        result.stderr.trim(),
        `pingpong-server: --interface: the server is bound to loopback 127.0.0.1, unreachable from ${hosts.serverLink}: give --host an address there, or ::`,
      );
    },
  );
});

Deno.test("client.ts --discover on a host with only loopback says so, without blaming --interface", async () => {
  await using hosts = new TestHosts();
  await hosts.create();
  // The namespaces have a LAN; a third one has nothing but lo.
  const bare = `${hosts.server}-lo`;
  await ip("netns", "add", bare);
  try {
    const result = await runClient(["--discover", "-c", "1"], {
      prefix: hosts.prefix(bare),
    });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.trim(),
      "pingpong-client: no IPv4 interface other than loopback for mDNS (choose one with --interface)",
    );
  } finally {
    await ip("netns", "del", bare).catch(() => {});
  }
});

import assert from "node:assert/strict";
import { runClient, startServer } from "../support/processes.ts";
import { statsReader } from "../support/server_stats.ts";
import {
  makeTestCa,
  makeTestLeaf,
  writeCertFiles,
} from "../support/test_certs.ts";

const WRONG_PIN = "ab".repeat(32);

Deno.test("a pinned hash holds over HTTP/2 even for a certificate from a trusted CA, and without a pin the CA in DENO_CERT vouches over HTTP/2 and HTTP/3", async (t) => {
  const ca = await makeTestCa();
  const leaf = await makeTestLeaf({ ca, validityDays: 10 });
  const files = await writeCertFiles(leaf, ca);
  try {
    await using server = await startServer({
      args: ["--cert", files.cert, "--key", files.key, "--token", "secret"],
    });
    // The client trusts the CA, as a system store would.
    const trustCa = { env: { DENO_CERT: files.ca } };
    const stats = statsReader(server);

    await t.step(
      "a wrong pin: exit 2 before the CONNECT (and its token) is sent",
      async () => {
        const result = await runClient([
          `${server.url}?token=wrong`,
          "--cert-hash",
          WRONG_PIN,
          "--transport",
          "h2",
          "-c",
          "1",
        ], trustCa);
        assert.equal(result.code, 2, result.stdout + result.stderr);
        assert.equal(
          result.stderr.trim(),
          `pingpong-client: certificate of 127.0.0.1:${server.port} rejected: it does not match the pinned hash (check --cert-hash)`,
        );
        // A CONNECT with the wrong token would have been refused with 401.
        assert.deepEqual((await stats()).refused, {});
      },
    );

    await t.step("the right pin connects", async () => {
      const result = await runClient([
        `${server.url}?token=secret`,
        "--cert-hash",
        leaf.hash,
        "--transport",
        "h2",
        "-c",
        "2",
        "-i",
        "0",
      ], trustCa);
      assert.equal(result.code, 0, result.stderr);
    });

    for (const transport of ["h2", "h3"]) {
      const noPin = [
        `${server.url}?token=secret`,
        "--transport",
        transport,
        "-c",
        "2",
        "-i",
        "0",
      ];
      await t.step(
        `no pin, --transport ${transport}: the CA vouches`,
        async () => {
          const result = await runClient(noPin, trustCa);
          assert.equal(result.code, 0, result.stderr);
          assert.match(
            result.stdout,
            new RegExp(`connected over HTTP/${transport[1]} in `),
          );
          assert.match(result.stdout, /2 transmitted, 2 received, 0% loss/);
        },
      );

      await t.step(
        `no pin, --transport ${transport}, CA not trusted: rejected (DENO_CERT is what vouched)`,
        async () => {
          const result = await runClient(noPin);
          assert.equal(result.code, 2, result.stdout + result.stderr);
          assert.ok(
            result.stderr.startsWith(
              `pingpong-client: certificate of 127.0.0.1:${server.port} rejected: `,
            ),
            result.stderr,
          );
        },
      );
    }
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});

Deno.test("a pinned certificate valid over 14 days: the server warns, both transports connect", async (t) => {
  const leaf = await makeTestLeaf({ validityDays: 30 });
  const files = await writeCertFiles(leaf);
  try {
    await using server = await startServer({
      args: ["--cert", files.cert, "--key", files.key],
    });
    for (const transport of ["h3", "h2"]) {
      await t.step(`--transport ${transport}`, async () => {
        const result = await runClient([
          server.url,
          "--cert-hash",
          leaf.hash,
          "--transport",
          transport,
          "-c",
          "2",
          "-i",
          "0",
        ]);
        assert.equal(result.code, 0, result.stderr);
      });
    }
    // Logged at start (read here, once the output has surely arrived).
    assert.ok(
      server.stderr.some((line) =>
        line.includes("over the 14 that browsers accept for a pinned hash")
      ),
      server.stderr.join("\n"),
    );
  } finally {
    await Deno.remove(files.dir, { recursive: true });
  }
});

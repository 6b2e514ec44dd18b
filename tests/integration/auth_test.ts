import assert from "node:assert/strict";
import { generateCertificate } from "../../lib/certificates.ts";
import {
  jsonLines,
  runClient,
  runServer,
  startServer,
} from "../support/processes.ts";

const TOKEN = "tok-7f3a9c-secret";

Deno.test("server.ts with a token serves the right token and refuses others without logging it", async (t) => {
  await using server = await startServer({
    args: ["--log-level", "debug"],
    env: { PINGPONG_TOKEN: TOKEN },
  });
  const base = [
    server.url,
    "--cert-hash",
    server.certHash,
    "-c",
    "3",
    "-i",
    "0",
  ];
  const outputs: string[] = [];

  await t.step("--token with the right token gets every pong", async () => {
    const result = await runClient([...base, "--token", TOKEN, "--json"]);
    outputs.push(result.stdout, result.stderr);
    assert.equal(result.code, 0, result.stderr);
    const summary = jsonLines(result.stdout).at(-1)!;
    assert.equal(summary.received, 3);
  });

  await t.step("PINGPONG_TOKEN works for the client too", async () => {
    const result = await runClient([...base, "--log-level", "debug"], {
      env: { PINGPONG_TOKEN: TOKEN },
    });
    outputs.push(result.stdout, result.stderr);
    assert.equal(result.code, 0, result.stderr);
  });

  for (
    const [name, extra] of [
      ["a wrong token", ["--token", "tok-7f3a9c-secreX"]],
      ["no token", []],
    ] as const
  ) {
    for (const mode of ["stream", "datagram", "stream-per-ping"]) {
      await t.step(
        `${name} (${mode}) is refused: one line, exit 2`,
        async () => {
          const result = await runClient([...base, ...extra, "-m", mode]);
          outputs.push(result.stdout, result.stderr);
          assert.equal(result.code, 2, result.stdout + result.stderr);
          const lines = result.stderr.trim().split("\n");
          assert.equal(lines.length, 1, result.stderr);
          assert.match(
            lines[0],
            /^pingpong-client: server refused the session: (wrong token|token required) \(check --token/,
          );
          // Refused, not lost: no "connected", no timeout, no summary.
          assert.equal(result.stdout, "");
        },
      );
    }
  }

  await t.step("the token appears in no output and no log line", async () => {
    await server.stop("SIGTERM");
    const all = [...outputs, ...server.stdout, ...server.stderr].join("\n");
    assert.ok(
      server.stderr.some((line) => line.includes("with 401")),
      "server logs each refusal",
    );
    assert.ok(!all.includes(TOKEN), "token leaked into output");
  });
});

Deno.test("client.ts masks a token typed into the URL", async () => {
  await using server = await startServer({ args: ["--token", TOKEN] });
  const result = await runClient([
    `${server.url}?token=${TOKEN}`,
    "--cert-hash",
    server.certHash,
    "-c",
    "1",
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /\?token=\*\*\* /);
  assert.ok(!result.stdout.includes(TOKEN));
});

/**
 * Runs server.ts with `--cert` and `--key` files holding `certPem` and
 * `keyPem` (the key at `keyMode`) in a fresh directory, until it exits.
 */
async function serveFiles(certPem: string, keyPem: string, keyMode = 0o600) {
  const dir = await Deno.makeTempDir();
  try {
    const cert = `${dir}/cert.pem`;
    const key = `${dir}/key.pem`;
    await Deno.writeTextFile(cert, certPem);
    await Deno.writeTextFile(key, keyPem, { mode: keyMode });
    await Deno.chmod(key, keyMode);
    const result = await runServer(["--cert", cert, "--key", key]);
    return { ...result, cert, key };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("server.ts refuses a --key file readable by others with one line and exit 2", async () => {
  const bundle = await generateCertificate();
  const { code, stderr, key } = await serveFiles(
    bundle.certPem,
    bundle.keyPem,
    0o644,
  );
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr,
    `pingpong-server: ${key}: private key is open to other users (mode 0644); run: chmod 600 ${key}\n`,
  );
});

Deno.test("server.ts refuses a --cert and --key that are not a pair with one line naming both, exit 2", async () => {
  const [a, b] = [await generateCertificate(), await generateCertificate()];
  const { code, stderr, cert, key } = await serveFiles(a.certPem, b.keyPem);
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr,
    `pingpong-server: certificate ${cert} does not match key ${key}: the private key is not the certificate's (their public keys differ)\n`,
  );
});

Deno.test("server.ts names the --key file, not the --cert file, when the key is no key, exit 2", async () => {
  const made = await generateCertificate();
  const { code, stderr, key } = await serveFiles(
    made.certPem,
    "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n",
  );
  assert.equal(code, 2, stderr);
  assert.equal(
    stderr,
    `pingpong-server: ${key}: not a readable private key: its PEM body is not DER\n`,
  );
});

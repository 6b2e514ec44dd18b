import assert from "node:assert/strict";
import { generateCertificate } from "../../lib/certificates.ts";
import {
  jsonLines,
  rootPath,
  RUN_FLAGS,
  runClient,
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

Deno.test("server.ts refuses a --key file readable by others with one line and exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bundle = await generateCertificate();
    const cert = `${dir}/cert.pem`;
    const key = `${dir}/key.pem`;
    await Deno.writeTextFile(cert, bundle.certPem);
    await Deno.writeTextFile(key, bundle.keyPem, { mode: 0o644 });
    await Deno.chmod(key, 0o644);
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...RUN_FLAGS,
        rootPath("server.ts"),
        "--port",
        "0",
        "--cert",
        cert,
        "--key",
        key,
      ],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.equal(
      stderr.trim(),
      `pingpong-server: ${key}: private key is open to other users (mode 0644); run: chmod 600 ${key}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts refuses a --cert and --key that are not a pair with one line naming both, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [a, b] = [await generateCertificate(), await generateCertificate()];
    const cert = `${dir}/a-cert.pem`;
    const key = `${dir}/b-key.pem`;
    await Deno.writeTextFile(cert, a.certPem);
    await Deno.writeTextFile(key, b.keyPem, { mode: 0o600 });
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...RUN_FLAGS,
        rootPath("server.ts"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-advertise",
        "--cert",
        cert,
        "--key",
        key,
      ],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.equal(
      stderr,
      `pingpong-server: certificate ${cert} does not match key ${key}: the private key is not the certificate's (their public keys differ)\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts names the --key file, not the --cert file, when the key is no key, exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made = await generateCertificate();
    const cert = `${dir}/cert.pem`;
    const key = `${dir}/key.pem`;
    await Deno.writeTextFile(cert, made.certPem);
    await Deno.writeTextFile(
      key,
      "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n",
      { mode: 0o600 },
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...RUN_FLAGS,
        rootPath("server.ts"),
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--no-advertise",
        "--cert",
        cert,
        "--key",
        key,
      ],
      stdin: "null",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    assert.equal(
      stderr,
      `pingpong-server: ${key}: not a readable private key: its PEM body is not DER\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

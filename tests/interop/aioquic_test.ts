import assert from "node:assert/strict";
import {
  expectAllPongs,
  rootPath,
  runClient,
  startServer,
} from "../support/processes.ts";
import {
  ensureAioquic,
  run,
  startPeerServer,
  writeCertificate,
} from "./_peers.ts";

Deno.test("client.ts --echo gets 20 of 20 echoes from an aioquic echo server in every mode", async (t) => {
  const python = await ensureAioquic();
  await using cert = await writeCertificate();
  await using peer = await startPeerServer(python, [
    rootPath("tests/interop/aioquic_echo_server.py"),
    cert.certFile,
    cert.keyFile,
  ]);
  for (const mode of ["stream", "datagram", "stream-per-ping"]) {
    await t.step(`--mode ${mode}`, async () => {
      await expectAllPongs(`https://127.0.0.1:${peer.port}/echo`, cert.hash, {
        mode,
        args: ["--echo"],
        context: () => peer.stderr.join("\n"),
      });
    });
  }
});

Deno.test("an aioquic echo server refuses a path other than /echo, and client.ts reports it as a connection error", async () => {
  const python = await ensureAioquic();
  await using cert = await writeCertificate();
  await using peer = await startPeerServer(python, [
    rootPath("tests/interop/aioquic_echo_server.py"),
    cert.certFile,
    cert.keyFile,
  ]);
  const result = await runClient([
    `https://127.0.0.1:${peer.port}/nowhere`,
    "--echo",
    "--cert-hash",
    cert.hash,
    "-c",
    "1",
  ]);
  assert.equal(result.code, 2, result.stdout);
});

Deno.test("an aioquic client's datagram is echoed by server.ts /echo, but its unidirectional stream never reaches Deno (aioquic's own server echoes both)", async (t) => {
  const python = await ensureAioquic();
  const client = (port: number) =>
    run(python, [
      rootPath("tests/interop/aioquic_echo_client.py"),
      String(port),
      "/echo",
    ], { timeoutMs: 30_000 });
  await t.step("server.ts /echo", async () => {
    await using server = await startServer();
    const result = await client(server.port);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "status 200",
      "datagram echoed",
      "uni missing",
    ]);
  });
  await t.step("control: aioquic echo server", async () => {
    await using cert = await writeCertificate();
    await using peer = await startPeerServer(python, [
      rootPath("tests/interop/aioquic_echo_server.py"),
      cert.certFile,
      cert.keyFile,
    ]);
    const result = await client(peer.port);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split("\n"), [
      "status 200",
      "datagram echoed",
      "uni echoed",
    ]);
  });
});

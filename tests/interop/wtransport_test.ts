import assert from "node:assert/strict";
import { expectAllPongs, rootPath, startServer } from "../support/processes.ts";
import {
  ensureAioquic,
  ensureWtransportPeer,
  run,
  startPeerServer,
  writeCertificate,
} from "./_peers.ts";

/** Runs the wtransport client; its stdout has one `CHECK MATCHED/COUNT[ ended E/COUNT]` line per check. */
async function wtransportClient(
  url: string,
  hash: string,
  protocol: "echo" | "pingpong",
  count: number,
) {
  const binary = await ensureWtransportPeer();
  const result = await run(binary, [
    "client",
    url,
    hash,
    protocol,
    String(count),
  ]);
  const lines = result.stdout.split("\n").filter((line) =>
    line && !line.startsWith("connected ")
  );
  return { ...result, lines };
}

Deno.test("a wtransport client, speaking pingpong's codec, gets 20 of 20 PONGs from server.ts on streams and datagrams", async () => {
  await using server = await startServer();
  const result = await wtransportClient(
    server.url,
    server.certHash,
    "pingpong",
    20,
  );
  assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
  assert.deepEqual(result.lines, [
    "stream 20/20",
    "stream-per-ping 20/20",
    "datagram 20/20",
  ]);
});

Deno.test("a wtransport client gets every byte back from server.ts /echo, but Deno ends no stream (denoland/deno#36822)", async (t) => {
  await t.step(
    "server.ts /echo: bytes and datagrams echoed, no FIN",
    async () => {
      await using server = await startServer();
      const url = server.url.replace(/\/pingpong$/, "/echo");
      const result = await wtransportClient(url, server.certHash, "echo", 10);
      assert.deepEqual(result.lines, [
        "bidi 10/10 ended 0/10 FAILED",
        "bidi-per-message 10/10 ended 0/10 FAILED",
        "uni 10/10 ended 0/10 FAILED",
        "datagram 10/10",
      ], result.stderr);
      // The peer fails for those three checks and nothing else.
      assert.equal(result.code, 1, result.stderr);
      assert.equal(result.stderr.trim(), "error: 3 check(s) failed");
    },
  );
  await t.step(
    "control: the same client sees every end from aioquic's echo server",
    async () => {
      const python = await ensureAioquic();
      await using cert = await writeCertificate();
      await using peer = await startPeerServer(python, [
        rootPath("tests/interop/aioquic_echo_server.py"),
        cert.certFile,
        cert.keyFile,
      ]);
      const result = await wtransportClient(
        `https://127.0.0.1:${peer.port}/echo`,
        cert.hash,
        "echo",
        10,
      );
      assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
      assert.deepEqual(result.lines, [
        "bidi 10/10 ended 10/10",
        "bidi-per-message 10/10 ended 10/10",
        "uni 10/10 ended 10/10",
        "datagram 10/10",
      ]);
    },
  );
});

Deno.test("client.ts --echo gets 20 of 20 echoes from a wtransport echo server in every mode", async (t) => {
  const binary = await ensureWtransportPeer();
  await using cert = await writeCertificate();
  await using peer = await startPeerServer(binary, [
    "server",
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

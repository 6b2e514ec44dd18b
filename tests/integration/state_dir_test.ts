import assert from "node:assert/strict";
import { storedCertificateSource } from "../../lib/cert_store.ts";
import { rootPath, runServer, startServer } from "../support/processes.ts";

Deno.test("server.ts --state-dir refuses a stored key that others may read: exit 2, one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await storedCertificateSource(dir)();
    const keyPath = `${dir}/ephemeral-key.pem`;
    await Deno.chmod(keyPath, 0o644);
    const result = await runServer(["--state-dir", dir]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    assert.equal(
      result.stderr,
      `pingpong-server: ${keyPath}: private key is open to other users (mode 0644); run: chmod 600 ${keyPath}\n`,
    );
    assert.equal(result.stdout, "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** The `deno` flags of a deno.json task that runs `script`. */
async function taskRunFlags(task: string, script: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(rootPath("deno.json")));
  const words = (config.tasks[task] as string).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.equal(words.at(-1), script, `task ${task} ends with ${script}`);
  return ["run", "--quiet", ...words.slice(2, -1)];
}

Deno.test("deno task server's permissions let --state-dir keep the certificate", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using server = await startServer({
      runFlags: await taskRunFlags("server", "server.ts"),
      args: ["--state-dir", `${dir}/state`],
    });
    const stored = await storedCertificateSource(`${dir}/state`)();
    assert.equal(stored.hash, server.certHash);
    assert.equal((await server.stop("SIGTERM")).code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("server.ts --state-dir that is a file or cannot be written: exit 2, one line naming the directory", async (t) => {
  const dir = await Deno.makeTempDir();
  const serve = (stateDir: string) => runServer(["--state-dir", stateDir]);
  try {
    await t.step("a file", async () => {
      const file = `${dir}/file`;
      await Deno.writeTextFile(file, "");
      const result = await serve(file);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `^pingpong-server: cannot read --state-dir ${file}: [^\\n]+\\n$`,
        ),
      );
      assert.equal(result.stdout, "");
    });
    await t.step(
      "a directory that cannot be created (under a file)",
      async () => {
        const stateDir = `${dir}/file/state`;
        const result = await serve(stateDir);
        assert.equal(result.code, 2, result.stdout + result.stderr);
        assert.equal(result.stderr.split("\n").filter(Boolean).length, 1);
        assert.match(result.stderr, new RegExp(`--state-dir ${stateDir}: `));
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

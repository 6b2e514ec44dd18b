import assert from "node:assert/strict";
import denoConfig from "../deno.json" with { type: "json" };
import { rootPath, RUN_FLAGS } from "./support/processes.ts";

async function run(script: string, flag: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [...RUN_FLAGS, rootPath(script), flag],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("both CLIs print the version in deno.json for --version and -V", async (t) => {
  assert.match(denoConfig.version, /^\d+\.\d+\.\d+/);
  for (const name of ["server", "client"]) {
    for (const flag of ["--version", "-V"]) {
      await t.step(`pingpong-${name} ${flag}`, async () => {
        const result = await run(`${name}.ts`, flag);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, `pingpong-${name} ${denoConfig.version}\n`);
        assert.equal(result.stderr, "");
      });
    }
  }
});

/**
 * .ci/install: what it would install (`--dry-run`) on machines that lack
 * things, built as a PATH of this machine's real tools minus the missing
 * ones, plus `rustc`/`cargo`/`rustup` scripts that answer like the versions
 * a machine may have.
 */
import assert from "node:assert/strict";
import { rootPath, runCommand } from "./support/processes.ts";

/** What the script itself runs: enough for its checks, nothing they look for. */
const BASE_TOOLS = [
  "bash",
  "sed",
  "grep",
  "sort",
  "printf",
  "id",
  "uname",
  "mktemp",
];

function which(name: string): string {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      const path = `${dir}/${name}`;
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // Not in this directory.
    }
  }
  throw new Error(`${name} is not on PATH`);
}

/**
 * Runs `.ci/install --dry-run` with a PATH of BASE_TOOLS, `real` (names of
 * this machine's tools) and `fake` (name -> what the script prints, exit 0),
 * and an empty HOME; `real` "all": this machine's PATH and HOME as they are.
 * Returns its lines.
 */
async function plan(
  real: string[] | "all",
  fake: Record<string, string> = {},
): Promise<string[]> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.mkdir(`${dir}/home`);
    for (const name of real === "all" ? [] : [...BASE_TOOLS, ...real]) {
      await Deno.symlink(which(name), `${dir}/bin/${name}`);
    }
    for (const [name, version] of Object.entries(fake)) {
      await Deno.writeTextFile(
        `${dir}/bin/${name}`,
        `#!${which("bash")}\necho '${version}'\n`,
        { mode: 0o755 },
      );
    }
    const run = await runCommand(which("bash"), [
      rootPath(".ci/install"),
      "--dry-run",
    ], {
      env: real === "all" ? {} : { PATH: `${dir}/bin`, HOME: `${dir}/home` },
    });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    return run.stdout.trim().split("\n").filter((line) => line !== "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Chromium is looked for at its Debian path, which a PATH cannot hide. */
const CHROMIUM = (() => {
  try {
    return Deno.statSync("/usr/bin/chromium").isFile ? [] : ["chromium"];
  } catch {
    return ["chromium"];
  }
})();

Deno.test(".ci/install on a bare machine installs Debian's packages, Deno from npm and Rust by rustup-init", async () => {
  assert.deepEqual(await plan([]), [
    `apt-get install ${
      [
        ...CHROMIUM,
        "iproute2",
        "util-linux",
        "python3",
        "python3-venv",
        "python3-pip",
        "gcc",
        "libc6-dev",
        "curl",
        "ca-certificates",
        "npm",
      ].join(" ")
    }`,
    "npm i -g deno@2.9.6",
    "rust: rustup-init",
  ]);
});

Deno.test(".ci/install replaces Debian's Rust 1.65 (wtransport needs 1.88), by rustup when there is one", async () => {
  const tools = ["ip", "setpriv", "cc", "curl", "deno"];
  // A python3 whose venv and ensurepip import (it exits 0).
  const old = { python3: "", rustc: "rustc 1.65.0", cargo: "cargo 1.65.0" };
  assert.deepEqual(await plan(tools, old), [
    ...CHROMIUM.map((name) => `apt-get install ${name}`),
    "rust: rustup-init",
  ]);
  assert.deepEqual(await plan(tools, { ...old, rustup: "rustup 1.29.0" }), [
    ...CHROMIUM.map((name) => `apt-get install ${name}`),
    "rust: rustup",
  ]);
  assert.deepEqual(
    await plan(tools, {
      python3: "",
      rustc: "rustc 1.88.0",
      cargo: "cargo 1.88.0",
    }),
    CHROMIUM.map((name) => `apt-get install ${name}`),
  );
});

Deno.test(".ci/install leaves a machine that has everything alone", async () => {
  // In CI, .ci/run installed everything before the tests: nothing is left.
  // A machine that lacks a tool gets a plan naming it.
  const tools = ["ip", "setpriv", "python3", "cc", "deno", "rustc", "cargo"];
  const lacking = tools.filter((name) => {
    try {
      which(name);
      return false;
    } catch {
      return true;
    }
  });
  const lines = await plan("all");
  if (lacking.length === 0 && CHROMIUM.length === 0) {
    assert.deepEqual(lines, []);
  } else {
    assert.ok(lines.length > 0, `nothing planned though ${lacking} lack`);
  }
});

import assert from "node:assert/strict";
import {
  assertPrivateKeyFile,
  checkKeyFile,
  KeyFileError,
  processGroups,
} from "../lib/key_file.ts";

const FILE = 0o100000;

function refused(
  info: { mode: number | null; uid: number | null; gid: number | null },
  groups: number[],
  message: RegExp,
): void {
  assert.throws(
    () => checkKeyFile("certs/key.pem", info, groups),
    (error) =>
      error instanceof KeyFileError &&
      error.mode === ((info.mode ?? 0) & 0o777) &&
      message.test(error.message) &&
      error.message.startsWith("certs/key.pem: ") &&
      error.message.endsWith("; run: chmod 600 certs/key.pem"),
    `${info.mode?.toString(8)} uid ${info.uid} gid ${info.gid}`,
  );
}

function accepted(
  info: { mode: number | null; uid: number | null; gid: number | null },
  groups: number[],
): void {
  assert.doesNotThrow(
    () => checkKeyFile("certs/key.pem", info, groups),
    `${info.mode?.toString(8)} uid ${info.uid} gid ${info.gid}`,
  );
}

Deno.test("checkKeyFile() accepts owner-only modes, whoever owns the file, and nothing more", () => {
  for (const uid of [0, 1000]) {
    for (const owner of [0o600, 0o400]) {
      accepted({ mode: FILE | owner, uid, gid: 1000 }, []);
      // One bit more for others, or group read outside the rule: refused.
      refused(
        { mode: FILE | owner | 0o004, uid, gid: 1000 },
        [],
        /open to other users/,
      );
      refused(
        { mode: FILE | owner | 0o040, uid, gid: 1000 },
        [],
        /readable by group 1000/,
      );
    }
  }
});

Deno.test("checkKeyFile() leaves a file alone on a platform without modes (null), where it would refuse the same owner and group with a mode", () => {
  accepted({ mode: null, uid: 1000, gid: 1000 }, []);
  refused({ mode: FILE | 0o644, uid: 1000, gid: 1000 }, [], /open to other/);
});

Deno.test("checkKeyFile() refuses any access for others, and group write or execute, whoever owns the file", () => {
  for (const mode of [0o644, 0o604, 0o444, 0o602, 0o660, 0o610, 0o460]) {
    for (const uid of [0, 1000]) {
      refused(
        { mode: FILE | mode, uid, gid: 2000 },
        [2000],
        /private key is open to other users \(mode 0\d{3}\)/,
      );
    }
  }
});

Deno.test("checkKeyFile() accepts group read of a root-owned key when the process is in that group (a Secret with fsGroup), and only then", () => {
  for (const mode of [0o440, 0o640]) {
    accepted({ mode: FILE | mode, uid: 0, gid: 2000 }, [65532, 2000]);
    // The same file, read by a process outside the group, or owned by
    // someone else than root: refused.
    refused(
      { mode: FILE | mode, uid: 0, gid: 2000 },
      [65532],
      /group 2000 is not one this server runs in/,
    );
    refused(
      { mode: FILE | mode, uid: 1000, gid: 2000 },
      [65532, 2000],
      /group-readable keys must be owned by root/,
    );
  }
});

Deno.test("checkKeyFile() refuses group read when the group is not the process's, or the owner is not root", () => {
  refused(
    { mode: FILE | 0o440, uid: 0, gid: 2000 },
    [65532],
    /readable by group 2000 \(mode 0440, group 2000 is not one this server runs in\)/,
  );
  refused(
    { mode: FILE | 0o640, uid: 0, gid: 2000 },
    [],
    /readable by group 2000 /,
  );
  refused(
    { mode: FILE | 0o640, uid: 1000, gid: 2000 },
    [2000],
    /readable by group 2000 \(mode 0640, group-readable keys must be owned by root\)/,
  );
});

Deno.test("processGroups() holds this process's group", () => {
  const groups = processGroups();
  const gid = Deno.gid();
  if (gid !== null) assert.ok(groups.includes(gid), `${gid} in ${groups}`);
});

Deno.test("assertPrivateKeyFile() reads the mode of a real file", async () => {
  const path = await Deno.makeTempFile();
  try {
    await Deno.chmod(path, 0o600);
    await assertPrivateKeyFile(path);
    await Deno.chmod(path, 0o644);
    await assert.rejects(assertPrivateKeyFile(path), KeyFileError);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test({
  name:
    "assertPrivateKeyFile() follows a symbolic link and reads owner and group of a real file",
  // Giving a file to root and another group takes root.
  ignore: Deno.uid() !== 0,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const key = `${dir}/real.key`;
      await Deno.writeTextFile(key, "key");
      await Deno.chown(key, 0, 2000);
      await Deno.chmod(key, 0o440);
      await Deno.symlink("real.key", `${dir}/tls.key`);
      await assertPrivateKeyFile(`${dir}/tls.key`, { groups: [2000] });
      await assert.rejects(
        assertPrivateKeyFile(`${dir}/tls.key`, { groups: [0] }),
        /tls\.key: private key is readable by group 2000/,
      );
      await Deno.chmod(key, 0o444);
      await assert.rejects(
        assertPrivateKeyFile(`${dir}/tls.key`, { groups: [2000] }),
        /open to other users \(mode 0444\)/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

import assert from "node:assert/strict";
import {
  assertPrivateKeyFile,
  checkKeyFileMode,
  KeyFileError,
} from "../lib/key_file.ts";

Deno.test("checkKeyFileMode() accepts owner-only modes and platforms without modes", () => {
  checkKeyFileMode("k", 0o100600);
  checkKeyFileMode("k", 0o100400);
  checkKeyFileMode("k", null);
});

Deno.test("checkKeyFileMode() refuses any group or other access, naming the file and the fix", () => {
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o610]) {
    assert.throws(
      () => checkKeyFileMode("certs/key.pem", 0o100000 | mode),
      (error) =>
        error instanceof KeyFileError && error.mode === mode &&
        error.message.includes("certs/key.pem") &&
        error.message.includes("chmod 600"),
      mode.toString(8),
    );
  }
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

import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { StateDirError, storedCertificateSource } from "../lib/cert_store.ts";
import { KeyFileError } from "../lib/key_file.ts";

Deno.test("storedCertificateSource() reuses the stored certificate across sources while it is valid", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await storedCertificateSource(`${dir}/state`)();
    // A new source is what a restarted server makes.
    const again = await storedCertificateSource(`${dir}/state`)();
    assert.equal(again.hash, first.hash);
    assert.equal(again.keyPem, first.keyPem);
    const mode = (await Deno.stat(`${dir}/state/ephemeral-key.pem`)).mode!;
    assert.equal(mode & 0o077, 0, "the key is readable by its owner only");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storedCertificateSource() replaces a stored certificate that is due for renewal", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const made: string[] = [];
    const generate = async () => {
      const bundle = await generateCertificate();
      made.push(bundle.hash);
      return bundle;
    };
    const first = await storedCertificateSource(dir, { generate })();
    // 13 days later the certificate is past its renewal point.
    const later = new Date(Date.now() + 13 * 24 * 3600 * 1000);
    const next = await storedCertificateSource(dir, {
      generate,
      now: () => later,
    })();
    assert.notEqual(next.hash, first.hash);
    assert.equal(made.length, 2);
    assert.equal((await storedCertificateSource(dir)()).hash, next.hash);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storedCertificateSource() makes a new certificate when the stored one is unreadable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/ephemeral-cert.pem`, "garbage");
    await Deno.writeTextFile(`${dir}/ephemeral-key.pem`, "garbage");
    const bundle = await storedCertificateSource(dir)();
    assert.equal(
      await Deno.readTextFile(`${dir}/ephemeral-cert.pem`),
      bundle.certPem,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storedCertificateSource() refuses a stored key that other users may read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = await storedCertificateSource(dir)();
    const keyPath = `${dir}/ephemeral-key.pem`;
    await Deno.chmod(keyPath, 0o644);
    const made: string[] = [];
    const source = storedCertificateSource(dir, {
      generate: async () => {
        const bundle = await generateCertificate();
        made.push(bundle.hash);
        return bundle;
      },
    });
    const error = await source().then(() => undefined, (error) => error);
    assert.ok(error instanceof StateDirError, String(error));
    assert.ok(error.cause instanceof KeyFileError);
    assert.equal(
      error.message,
      `${keyPath}: private key is open to other users (mode 0644); run: chmod 600 ${keyPath}`,
    );
    // Neither reused nor silently replaced (which would change the hash).
    assert.deepEqual(made, []);
    assert.equal(
      await Deno.readTextFile(`${dir}/ephemeral-key.pem`),
      first.keyPem,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storedCertificateSource() writes the key at mode 0600 even over a leftover temporary file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // A crash between write and rename leaves this; its mode must not survive.
    await Deno.writeTextFile(`${dir}/ephemeral-key.pem.tmp`, "old", {
      mode: 0o644,
    });
    await Deno.chmod(`${dir}/ephemeral-key.pem.tmp`, 0o644);
    const made = await storedCertificateSource(dir)();
    const mode = (await Deno.stat(`${dir}/ephemeral-key.pem`)).mode! & 0o777;
    assert.equal(mode, 0o600);
    assert.equal((await storedCertificateSource(dir)()).hash, made.hash);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("storedCertificateSource() fails with a StateDirError when the state dir is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/not-a-dir`;
    await Deno.writeTextFile(file, "");
    const error = await storedCertificateSource(file)().catch((e) => e);
    assert.ok(error instanceof StateDirError, String(error));
    assert.match(
      error.message,
      new RegExp(`^cannot read --state-dir ${file}: `),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

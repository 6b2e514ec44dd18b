import assert from "node:assert/strict";
import { generateCertificate } from "../lib/certificates.ts";
import { storedCertificateSource } from "../lib/cert_store.ts";

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

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import assert from "node:assert/strict";
import {
  CertificateError,
  generateCertificate,
  KeyMismatchError,
  loadCertificate,
  MAX_PINNABLE_VALIDITY_MS,
  parseCertHash,
  pinningProblem,
  renewalDelay,
  sha256Hex,
} from "../lib/certificates.ts";

Deno.test("generateCertificate() makes an ECDSA P-256 certificate valid at most 14 days", async () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const bundle = await generateCertificate({ now });
  const cert = new x509.X509Certificate(bundle.certPem);
  const algorithm = cert.publicKey.algorithm as EcKeyAlgorithm;
  assert.equal(algorithm.name, "ECDSA");
  assert.equal(algorithm.namedCurve, "P-256");
  const span = cert.notAfter.getTime() - cert.notBefore.getTime();
  assert.ok(span <= MAX_PINNABLE_VALIDITY_MS, `validity ${span} ms`);
  assert.ok(cert.notBefore <= now && cert.notAfter > now);
  assert.match(bundle.keyPem, /-----BEGIN PRIVATE KEY-----/);
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  assert.ok(san);
  assert.deepEqual(san.names.items.map((name) => name.value), [
    "localhost",
    "127.0.0.1",
    "::1",
  ]);
});

Deno.test("generateCertificate()'s hash is the SHA-256 of the certificate's DER", async () => {
  const bundle = await generateCertificate();
  const der = new x509.X509Certificate(bundle.certPem).rawData;
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", der));
  assert.equal(
    bundle.hash,
    Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""),
  );
  assert.match(bundle.hash, /^[0-9a-f]{64}$/);
});

Deno.test("generateCertificate() refuses a validity over 14 days", async () => {
  await assert.rejects(
    generateCertificate({ validityMs: MAX_PINNABLE_VALIDITY_MS }),
    RangeError,
  );
  await assert.rejects(generateCertificate({ validityMs: 0 }), RangeError);
});

Deno.test("loadCertificate() reads back what generateCertificate() wrote", async () => {
  const made = await generateCertificate();
  const loaded = await loadCertificate(made.certPem, made.keyPem);
  assert.equal(loaded.hash, made.hash);
  assert.equal(loaded.notAfter.getTime(), made.notAfter.getTime());
});

Deno.test("loadCertificate() names what is wrong with bad PEM", async () => {
  const made = await generateCertificate();
  await assert.rejects(loadCertificate("hello", made.keyPem), CertificateError);
  await assert.rejects(
    loadCertificate(made.certPem, "not a key"),
    /no PRIVATE KEY block/,
  );
});

Deno.test("loadCertificate() blames the key, not the certificate, for a key that is no key", async () => {
  const made = await generateCertificate();
  const garbage =
    "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5IGF0IGFsbA==\n-----END PRIVATE KEY-----\n";
  for (const keyPem of ["not a key", garbage]) {
    const error = await loadCertificate(made.certPem, keyPem).catch((e) => e);
    assert.ok(error instanceof CertificateError, String(error));
    assert.equal(error.part, "key", error.message);
    // Garbage is unreadable, not "of another kind" (a KeyMismatchError).
    assert.ok(!(error instanceof KeyMismatchError), error.message);
  }
  const badCert = await loadCertificate("hello", made.keyPem).catch((e) => e);
  assert.equal(badCert.part, "certificate");
});

/** The key inside a PKCS #8 DER (SEQUENCE { version, algorithm, OCTET STRING }). */
function unwrapPkcs8(der: Uint8Array): Uint8Array {
  let at = 0;
  const header = () => {
    const tag = der[at++];
    let length = der[at++];
    if (length & 0x80) {
      const bytes = length & 0x7f;
      length = 0;
      for (let i = 0; i < bytes; i++) length = length * 256 + der[at++];
    }
    return { tag, length };
  };
  header(); // the outer SEQUENCE: step into it
  for (const expected of [0x02, 0x30]) {
    const { tag, length } = header();
    assert.equal(tag, expected);
    at += length;
  }
  const { tag, length } = header();
  assert.equal(tag, 0x04);
  return der.subarray(at, at + length);
}

/** A self-signed certificate and its key in the given PEM key form. */
async function pairIn(
  form: "PRIVATE KEY" | "EC PRIVATE KEY" | "RSA PRIVATE KEY",
) {
  const algorithm = form === "RSA PRIVATE KEY"
    ? {
      name: "RSASSA-PKCS1-v1_5",
      hash: "SHA-256",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
    }
    : { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const keys = await crypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ]) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=localhost",
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm: algorithm,
    keys,
  });
  const pkcs8 = new Uint8Array(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
  );
  const der = form === "PRIVATE KEY" ? pkcs8 : unwrapPkcs8(pkcs8);
  return {
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(der.slice().buffer, form),
  };
}

Deno.test("loadCertificate() accepts a matching key in PKCS #8, SEC 1 and PKCS #1 form", async () => {
  for (
    const form of ["PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY"] as const
  ) {
    const { certPem, keyPem } = await pairIn(form);
    assert.match(keyPem, new RegExp(`^-----BEGIN ${form}-----`));
    const loaded = await loadCertificate(certPem, keyPem);
    assert.match(loaded.hash, /^[0-9a-f]{64}$/, form);
  }
});

Deno.test("loadCertificate() refuses a key that is not the certificate's, in any form", async () => {
  const a = await generateCertificate();
  const b = await generateCertificate();
  await assert.rejects(
    loadCertificate(a.certPem, b.keyPem),
    KeyMismatchError,
    "another P-256 key",
  );
  for (const form of ["EC PRIVATE KEY", "RSA PRIVATE KEY"] as const) {
    const other = await pairIn(form);
    await assert.rejects(
      loadCertificate(a.certPem, other.keyPem),
      (error) => error instanceof KeyMismatchError,
      form,
    );
  }
  const rsa = await pairIn("RSA PRIVATE KEY");
  const error = await loadCertificate(rsa.certPem, a.keyPem).catch((e) => e);
  assert.ok(error instanceof KeyMismatchError);
  assert.ok(error instanceof CertificateError, "a kind of CertificateError");
  assert.match(error.message, /another kind than the certificate's RSASSA/);
});

Deno.test("renewalDelay() renews a day early, or at 80% of a short life", () => {
  const day = 24 * 60 * 60 * 1000;
  const start = new Date(0);
  assert.equal(
    renewalDelay({ notBefore: start, notAfter: new Date(13 * day) }, start),
    12 * day,
  );
  assert.equal(
    renewalDelay({ notBefore: start, notAfter: new Date(10_000) }, start),
    8000,
  );
  assert.equal(
    renewalDelay(
      { notBefore: start, notAfter: new Date(10_000) },
      new Date(20_000),
    ),
    0,
  );
});

Deno.test("parseCertHash() accepts plain and colon-separated hex, and nothing else", () => {
  const hex = "0123456789abcdef".repeat(4);
  const bytes = parseCertHash(hex);
  assert.equal(bytes.length, 32);
  assert.equal(bytes[1], 0x23);
  assert.deepEqual(
    parseCertHash(hex.toUpperCase().match(/../g)!.join(":")),
    bytes,
  );
  assert.throws(() => parseCertHash(hex.slice(2)), RangeError);
  assert.throws(() => parseCertHash(hex.slice(2) + "zz"), RangeError);
});

Deno.test("sha256Hex() hashes the empty input to the known value", async () => {
  assert.equal(
    await sha256Hex(new Uint8Array()),
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});

Deno.test("pinningProblem() names a validity over 14 days and passes 14 or less", async () => {
  const day = 86_400_000;
  const notBefore = new Date(0);
  assert.equal(
    pinningProblem({ notBefore, notAfter: new Date(14 * day) }),
    undefined,
  );
  assert.equal(pinningProblem(await generateCertificate()), undefined);
  assert.equal(
    pinningProblem({ notBefore, notAfter: new Date(30 * day) }),
    "valid 30 days, over the 14 that browsers accept for a pinned hash",
  );
  assert.match(
    pinningProblem({ notBefore, notAfter: new Date(14 * day + 1000) })!,
    /^valid 14\.1 days, over the 14/,
  );
});

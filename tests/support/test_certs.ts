/**
 * Certificates that `generateCertificate()` will not make, for tests: a CA
 * and leaves it signs, and self-signed certificates valid longer than the
 * 14 days `serverCertificateHashes` allows.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type CertificateBundle, sha256Hex } from "../../lib/certificates.ts";

const ALGORITHM = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
} as const;

const DAY_MS = 24 * 60 * 60 * 1000;

/** A CA that signs test leaves. */
export interface TestCa {
  /** The CA certificate, PEM (what `DENO_CERT` or `caCerts` trusts). */
  certPem: string;
  /** Its certificate. */
  cert: x509.X509Certificate;
  /** Its keys. */
  keys: CryptoKeyPair;
}

function serial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f;
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function newKeys(): Promise<CryptoKeyPair> {
  return await crypto.subtle.generateKey(ALGORITHM, true, ["sign", "verify"]);
}

/**
 * Makes a CA valid for a year.
 *
 * @example
 * ```ts ignore
 * const ca = await makeTestCa();
 * ```
 */
export async function makeTestCa(): Promise<TestCa> {
  const keys = await newKeys();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=pingpong test CA",
    notBefore: new Date(now - DAY_MS),
    notAfter: new Date(now + 365 * DAY_MS),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  return { certPem: cert.toString("pem"), cert, keys };
}

/** Options of {@linkcode makeTestLeaf}. */
export interface TestLeafOptions {
  /**
   * Signer; without one the leaf signs itself.
   *
   * @default {undefined}
   */
  ca?: TestCa;
  /**
   * Days of validity from now (a minute back-dated).
   *
   * @default {30}
   */
  validityDays?: number;
  /**
   * DNS names and IP addresses it names.
   *
   * @default {["localhost", "127.0.0.1", "::1"]}
   */
  names?: string[];
}

/**
 * Makes a server certificate and key, signed by `options.ca` or by itself.
 *
 * @example
 * ```ts ignore
 * const leaf = await makeTestLeaf({ ca: await makeTestCa() });
 * ```
 */
export async function makeTestLeaf(
  options: TestLeafOptions = {},
): Promise<CertificateBundle> {
  const names = options.names ?? ["localhost", "127.0.0.1", "::1"];
  const keys = await newKeys();
  const now = Date.now();
  const notBefore = new Date(Math.floor((now - 60_000) / 1000) * 1000);
  const notAfter = new Date(
    Math.floor((now + (options.validityDays ?? 30) * DAY_MS) / 1000) * 1000,
  );
  const extensions = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(
      names.map((value) => ({
        type: /^[\d.]+$|:/.test(value) ? "ip" as const : "dns" as const,
        value,
      })),
    ),
  ];
  const cert = options.ca
    ? await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${names[0]}`,
      issuer: options.ca.cert.subject,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      publicKey: keys.publicKey,
      signingKey: options.ca.keys.privateKey,
      extensions,
    })
    : await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=${names[0]}`,
      notBefore,
      notAfter,
      signingAlgorithm: ALGORITHM,
      keys,
      extensions,
    });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return {
    certPem: cert.toString("pem"),
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    hash: await sha256Hex(new Uint8Array(cert.rawData)),
    notBefore,
    notAfter,
  };
}

/**
 * Writes `bundle` (and `ca`, if given) as PEM files into a new temporary
 * directory, the key readable by its owner only.
 *
 * @example
 * ```ts ignore
 * const files = await writeCertFiles(leaf, ca);
 * ```
 */
export async function writeCertFiles(
  bundle: CertificateBundle,
  ca?: TestCa,
): Promise<{ dir: string; cert: string; key: string; ca: string }> {
  const dir = await Deno.makeTempDir({ prefix: "pingpong-certs-" });
  const files = {
    dir,
    cert: `${dir}/cert.pem`,
    key: `${dir}/key.pem`,
    ca: `${dir}/ca.pem`,
  };
  await Deno.writeTextFile(files.cert, bundle.certPem);
  await Deno.writeTextFile(files.key, bundle.keyPem, { mode: 0o600 });
  await Deno.chmod(files.key, 0o600);
  if (ca) await Deno.writeTextFile(files.ca, ca.certPem);
  return files;
}

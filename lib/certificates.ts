/**
 * TLS certificates: ephemeral self-signed ones that browsers accept through
 * `serverCertificateHashes`, files given by the operator, and the SHA-256
 * hash that clients pin.
 *
 * @module
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** Longest validity `serverCertificateHashes` accepts (W3C WebTransport). */
export const MAX_PINNABLE_VALIDITY_MS = 14 * 24 * 60 * 60 * 1000;

/** Validity of an ephemeral certificate: under the 14-day rule with margin. */
export const DEFAULT_VALIDITY_MS = 13 * 24 * 60 * 60 * 1000;

/** How far before `notBefore` an ephemeral certificate starts, for clock skew. */
export const BACKDATE_MS = 60 * 1000;

const ALGORITHM = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
} as const;

/** A certificate and its key, ready for `Deno.QuicEndpoint.listen`. */
export interface CertificateBundle {
  /** Certificate chain, PEM. The first certificate is the server's. */
  certPem: string;
  /** Private key, PEM (PKCS #8). */
  keyPem: string;
  /** SHA-256 of the server certificate's DER, 64 lowercase hex digits. */
  hash: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
}

/**
 * Thrown when a certificate or key cannot be read or used.
 *
 * @example
 * ```ts
 * import { CertificateError, loadCertificate } from "./certificates.ts";
 * const error = await loadCertificate("not a PEM", "").catch((error) => error);
 * console.log(error instanceof CertificateError); // true
 * console.log(error.message); // "not a PEM certificate: no CERTIFICATE block"
 * ```
 */
export class CertificateError extends Error {
  /** Which input is at fault, so a CLI can name the right file. */
  readonly part: "certificate" | "key";

  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`), and `part`, the input
   * at fault (default `"certificate"`).
   */
  constructor(
    message: string,
    options?: ErrorOptions & { part?: "certificate" | "key" },
  ) {
    super(message, options);
    this.name = "CertificateError";
    this.part = options?.part ?? "certificate";
  }
}

/**
 * Thrown when a certificate and the private key given with it are not a pair
 * (e.g. `--cert` of one server with `--key` of another).
 *
 * @example A subclass: one `catch` for `CertificateError` handles both
 * ```ts
 * import {
 *   CertificateError,
 *   generateCertificate,
 *   KeyMismatchError,
 *   loadCertificate,
 * } from "./certificates.ts";
 * const one = await generateCertificate();
 * const other = await generateCertificate();
 * const error = await loadCertificate(one.certPem, other.keyPem)
 *   .catch((error) => error);
 * console.log(error instanceof KeyMismatchError); // true
 * console.log(error instanceof CertificateError); // true
 * ```
 */
export class KeyMismatchError extends CertificateError {
  /**
   * @param message One line naming the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyMismatchError";
  }
}

/** Options of {@linkcode generateCertificate}. */
export interface GenerateCertificateOptions {
  /**
   * DNS names and IP addresses the certificate names.
   *
   * @default {["localhost", "127.0.0.1", "::1"]}
   */
  names?: string[];
  /**
   * Lifetime from `now`; with the backdate at most 14 days so browsers may pin it.
   *
   * @default {DEFAULT_VALIDITY_MS}
   */
  validityMs?: number;
  /**
   * The current time.
   *
   * @default {new Date()}
   */
  now?: Date;
  /**
   * How far before `now` validity starts, for clients whose clocks lag.
   *
   * @default {BACKDATE_MS}
   */
  backdateMs?: number;
}

const IP_PATTERN = /^(\d{1,3}(\.\d{1,3}){3}|[0-9a-f:]*:[0-9a-f:.]*)$/i;

/**
 * Makes a self-signed ECDSA P-256 certificate valid for at most 14 days.
 *
 * @example
 * ```ts
 * import { generateCertificate } from "./certificates.ts";
 * const bundle = await generateCertificate();
 * console.log(bundle.hash.length); // 64
 * ```
 */
export async function generateCertificate(
  options: GenerateCertificateOptions = {},
): Promise<CertificateBundle> {
  const validityMs = options.validityMs ?? DEFAULT_VALIDITY_MS;
  const backdateMs = options.backdateMs ?? BACKDATE_MS;
  if (
    !(validityMs > 0 && backdateMs >= 0 &&
      validityMs + backdateMs <= MAX_PINNABLE_VALIDITY_MS)
  ) {
    throw new RangeError(
      `validity must be above 0 and at most 14 days including the ${backdateMs} ms backdate`,
    );
  }
  const names = options.names ?? ["localhost", "127.0.0.1", "::1"];
  const now = options.now ?? new Date();
  // X.509 times have whole seconds: round so the stated span is exact.
  const notBefore = new Date(
    Math.floor((now.getTime() - backdateMs) / 1000) * 1000,
  );
  const notAfter = new Date(
    Math.floor((now.getTime() + validityMs) / 1000) * 1000,
  );
  const keys = await crypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]);
  const serial = crypto.getRandomValues(new Uint8Array(16));
  serial[0] &= 0x7f; // positive INTEGER
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: toHex(serial),
    name: `CN=${names[0] ?? "pingpong"}`,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        names.map((value) => ({
          type: IP_PATTERN.test(value) ? "ip" as const : "dns" as const,
          value,
        })),
      ),
    ],
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
 * Parses a PEM chain and key, as given by `--cert` and `--key`, and checks
 * that the key is the certificate's (PKCS #8, SEC 1 `EC PRIVATE KEY` and
 * PKCS #1 `RSA PRIVATE KEY` keys; a key algorithm WebCrypto lacks is left to
 * the TLS stack).
 *
 * @throws {KeyMismatchError} when the key is not the certificate's.
 * @throws {CertificateError} when the PEM holds no certificate or no key.
 * @example
 * ```ts
 * import { generateCertificate, loadCertificate } from "./certificates.ts";
 * const made = await generateCertificate();
 * const loaded = await loadCertificate(made.certPem, made.keyPem);
 * console.log(loaded.hash === made.hash); // true
 * ```
 */
export async function loadCertificate(
  certPem: string,
  keyPem: string,
): Promise<CertificateBundle> {
  let cert: x509.X509Certificate;
  try {
    const blocks = x509.PemConverter.decodeWithHeaders(certPem)
      .filter((block) => block.type === "CERTIFICATE");
    if (blocks.length === 0) throw new Error("no CERTIFICATE block");
    cert = new x509.X509Certificate(blocks[0].rawData);
  } catch (cause) {
    throw new CertificateError(
      `not a PEM certificate: ${(cause as Error).message}`,
      { cause },
    );
  }
  if (!/-----BEGIN ([A-Z]+ )?PRIVATE KEY-----/.test(keyPem)) {
    throw new CertificateError("not a PEM private key: no PRIVATE KEY block", {
      part: "key",
    });
  }
  await _assertKeyPair(cert, keyPem);
  return {
    certPem,
    keyPem,
    hash: await sha256Hex(new Uint8Array(cert.rawData)),
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** DER OIDs (tag and length included) for wrapping keys into PKCS #8. */
const OID = {
  rsaEncryption: [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1],
  ecPublicKey: [0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01],
  "P-256": [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07],
  "P-384": [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22],
  "P-521": [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23],
} as const;

/** A DER element: tag, definite length, content. */
function _der(tag: number, content: ArrayLike<number>): number[] {
  const n = content.length;
  const length = n < 0x80
    ? [n]
    : n < 0x100
    ? [0x81, n]
    : n < 0x10000
    ? [0x82, n >> 8, n & 0xff]
    : [0x83, n >> 16, (n >> 8) & 0xff, n & 0xff];
  return [tag, ...length, ...Array.from(content)];
}

/**
 * The key in `block` as PKCS #8 DER, for WebCrypto: PKCS #8 as it is, SEC 1
 * and PKCS #1 wrapped with the algorithm the certificate names.
 *
 * @returns `undefined` for a key form that cannot be checked here.
 */
function _pkcs8(
  block: { type: string; rawData: ArrayBuffer },
  algorithm: KeyAlgorithm,
): Uint8Array<ArrayBuffer> | undefined {
  const key = new Uint8Array(block.rawData);
  let identifier: readonly number[];
  if (block.type === "PRIVATE KEY") return key;
  if (block.type === "RSA PRIVATE KEY") {
    identifier = [...OID.rsaEncryption, 0x05, 0x00];
  } else if (block.type === "EC PRIVATE KEY") {
    const curve = OID[(algorithm as EcKeyAlgorithm).namedCurve as "P-256"];
    // An EC key with a certificate of another kind: no pair.
    if (!curve) return new Uint8Array();
    identifier = [...OID.ecPublicKey, ...curve];
  } else {
    return undefined;
  }
  return new Uint8Array(
    _der(0x30, [
      ..._der(0x02, [0]),
      ..._der(0x30, identifier),
      ..._der(0x04, key),
    ]),
  );
}

/** Whether `bytes` is exactly one DER SEQUENCE (what every key form is). */
function _isDerSequence(bytes: Uint8Array): boolean {
  if (bytes.length < 2 || bytes[0] !== 0x30) return false;
  let length = bytes[1];
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 3 || bytes.length < 2 + octets) return false;
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + bytes[2 + i];
    header += octets;
  }
  return header + length === bytes.length;
}

/** Public parts of a JWK: what a private key and its certificate share. */
const PUBLIC_JWK_FIELDS = ["kty", "crv", "x", "y", "n", "e"] as const;

async function _assertKeyPair(
  cert: x509.X509Certificate,
  keyPem: string,
): Promise<void> {
  let publicKey: CryptoKey;
  try {
    publicKey = await cert.publicKey.export();
  } catch {
    return; // An algorithm WebCrypto lacks: the TLS stack still checks.
  }
  let block: { type: string; rawData: ArrayBuffer } | undefined;
  try {
    block = x509.PemConverter.decodeWithHeaders(keyPem)
      .find((block) => block.type.endsWith("PRIVATE KEY"));
  } catch (cause) {
    throw new CertificateError(`not a readable private key: bad PEM`, {
      cause,
      part: "key",
    });
  }
  // Garbage between the PEM lines is no key at all, not "another kind".
  if (block && !_isDerSequence(new Uint8Array(block.rawData))) {
    throw new CertificateError(
      "not a readable private key: its PEM body is not DER",
      { part: "key" },
    );
  }
  const der = block && _pkcs8(block, publicKey.algorithm);
  if (!der) return;
  let privateJwk: JsonWebKey;
  try {
    const privateKey = await crypto.subtle.importKey(
      "pkcs8",
      der,
      publicKey.algorithm,
      true,
      ["sign"],
    );
    privateJwk = await crypto.subtle.exportKey("jwk", privateKey);
  } catch (cause) {
    // The cert's algorithm cannot read the key: another kind or curve.
    throw new KeyMismatchError(
      `the private key is of another kind than the certificate's ${publicKey.algorithm.name} key`,
      { cause },
    );
  }
  const publicJwk = await crypto.subtle.exportKey("jwk", publicKey);
  for (const field of PUBLIC_JWK_FIELDS) {
    if (publicJwk[field] !== privateJwk[field]) {
      throw new KeyMismatchError(
        "the private key is not the certificate's (their public keys differ)",
      );
    }
  }
}

/**
 * Why browsers would refuse to pin `bundle` with `serverCertificateHashes`
 * (a validity over 14 days), or `undefined` when they accept it. Deno's own
 * clients accept either.
 *
 * @example
 * ```ts
 * import { pinningProblem } from "./certificates.ts";
 * const notBefore = new Date(0);
 * console.log(pinningProblem({ notBefore, notAfter: new Date(30 * 86_400_000) }));
 * // valid 30 days, over the 14 that browsers accept for a pinned hash
 * ```
 */
export function pinningProblem(
  bundle: Pick<CertificateBundle, "notBefore" | "notAfter">,
): string | undefined {
  const ms = bundle.notAfter.getTime() - bundle.notBefore.getTime();
  if (ms <= MAX_PINNABLE_VALIDITY_MS) return undefined;
  // Rounded up, so a certificate just over the limit does not read "14".
  const days = Math.ceil(ms / 86_400_000 * 10) / 10;
  return `valid ${days} days, over the 14 that browsers accept for a pinned hash`;
}

/**
 * When to replace `bundle`: a fifth of its lifetime before it expires, but at
 * most a day before, so a 13-day certificate lives 12 days and a short-lived
 * test certificate renews too.
 *
 * @returns milliseconds from `now` (0 if already due).
 * @example
 * ```ts
 * import { renewalDelay } from "./certificates.ts";
 * const notBefore = new Date(0), notAfter = new Date(10_000);
 * console.log(renewalDelay({ notBefore, notAfter }, new Date(0))); // 8000
 * ```
 */
export function renewalDelay(
  bundle: Pick<CertificateBundle, "notBefore" | "notAfter">,
  now: Date = new Date(),
): number {
  const start = bundle.notBefore.getTime();
  const end = bundle.notAfter.getTime();
  const margin = Math.min(24 * 60 * 60 * 1000, (end - start) / 5);
  return Math.max(0, end - margin - now.getTime());
}

// Lives in its own module so the client can parse --cert-hash without
// loading @peculiar/x509 (about 50 ms of start-up); re-exported here.
export { parseCertHash } from "./cert_hash.ts";

/**
 * SHA-256 of `bytes` as lowercase hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./certificates.ts";
 * console.log((await sha256Hex(new Uint8Array())).slice(0, 8)); // e3b0c442
 * ```
 */
export async function sha256Hex(
  bytes: Uint8Array<ArrayBuffer>,
): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const byte of bytes) out += byte.toString(16).padStart(2, "0");
  return out;
}

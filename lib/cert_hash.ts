/**
 * The pinned certificate hash of `--cert-hash`, parsed without the X.509
 * machinery of certificates.ts, which the client does not need: importing
 * @peculiar/x509 took about 50 of the client's 80 ms of start-up.
 *
 * @module
 */

/**
 * Parses a pinned hash: 64 hex digits, optionally separated by colons.
 *
 * @throws {RangeError} when it is not a SHA-256 hash.
 * @example
 * ```ts
 * import { parseCertHash } from "./cert_hash.ts";
 * console.log(parseCertHash("AB".repeat(32)).length); // 32
 * ```
 */
export function parseCertHash(text: string): Uint8Array<ArrayBuffer> {
  const hex = text.replaceAll(":", "").toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new RangeError(
      "a certificate hash is 64 hex digits (SHA-256), optionally colon-separated",
    );
  }
  return Uint8Array.from(
    hex.match(/../g)!,
    (pair) => parseInt(pair, 16),
  );
}

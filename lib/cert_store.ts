/**
 * Keeps the server's ephemeral certificate in a state directory, so a
 * restarted server presents the same certificate (and hash) while it is
 * valid, and clients that pinned the hash reconnect without being told a
 * new one.
 *
 * @module
 */
import {
  type CertificateBundle,
  generateCertificate,
  loadCertificate,
  renewalDelay,
} from "./certificates.ts";
import { assertPrivateKeyFile, KeyFileError } from "./key_file.ts";
import { logger } from "./log.ts";

const log = logger("cert_store");

const CERT_FILE = "ephemeral-cert.pem";
const KEY_FILE = "ephemeral-key.pem";

/**
 * Thrown when the state directory cannot be used; `cause` is the file-system
 * error (or the `KeyFileError` of a stored key others may read).
 *
 * @example A directory that cannot be created
 * ```ts
 * import { StateDirError, storedCertificateSource } from "./cert_store.ts";
 * // A regular file cannot hold a directory.
 * const obtain = storedCertificateSource("/dev/null/pingpong");
 * const error = await obtain().catch((error) => error);
 * console.log(error instanceof StateDirError); // true
 * console.log(error.message.startsWith("cannot keep the certificate in --state-dir /dev/null/pingpong: ")); // true
 * ```
 */
export class StateDirError extends Error {
  /**
   * @param message One line naming the directory and the cause.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateDirError";
  }
}

/** Options of {@linkcode storedCertificateSource}. */
export interface CertStoreOptions {
  /**
   * Makes a new certificate when none is stored or it is due for renewal.
   *
   * @default {() => generateCertificate()}
   */
  generate?: () => Promise<CertificateBundle>;
  /**
   * The current time.
   *
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/**
 * A certificate source for `PingPongServer`'s `generateCertificate` option
 * backed by `dir`: each call returns the stored certificate while it is not
 * yet due for renewal, and otherwise makes a new one and stores it.
 *
 * @throws {StateDirError} (from the returned function) when `dir` cannot be
 * created or written, or when the stored key is open to other users (its
 * `cause` is then a `KeyFileError`): a key others could read is not reused.
 * @example
 * ```ts ignore
 * import { storedCertificateSource } from "./cert_store.ts";
 * const obtain = storedCertificateSource("/var/lib/pingpong");
 * const first = await obtain();
 * console.log((await obtain()).hash === first.hash); // true
 * ```
 */
export function storedCertificateSource(
  dir: string,
  options: CertStoreOptions = {},
): () => Promise<CertificateBundle> {
  const generate = options.generate ?? (() => generateCertificate());
  const now = options.now ?? (() => new Date());
  const certPath = `${dir}/${CERT_FILE}`;
  const keyPath = `${dir}/${KEY_FILE}`;
  return async () => {
    const stored = await _readStored(dir, certPath, keyPath);
    if (stored && renewalDelay(stored, now()) > 0) {
      log.info("reusing stored certificate {hash} until renewal", {
        hash: stored.hash,
      });
      return stored;
    }
    const made = await generate();
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
      // Write then rename: a crash never leaves half a key behind.
      await Deno.writeTextFile(`${keyPath}.tmp`, made.keyPem, { mode: 0o600 });
      // `mode` applies only to a new file: a leftover .tmp keeps its own.
      await Deno.chmod(`${keyPath}.tmp`, 0o600);
      await Deno.writeTextFile(`${certPath}.tmp`, made.certPem);
      await Deno.rename(`${keyPath}.tmp`, keyPath);
      await Deno.rename(`${certPath}.tmp`, certPath);
    } catch (cause) {
      throw new StateDirError(
        `cannot keep the certificate in --state-dir ${dir}: ${
          (cause as Error).message
        }`,
        { cause },
      );
    }
    return made;
  };
}

async function _readStored(
  dir: string,
  certPath: string,
  keyPath: string,
): Promise<CertificateBundle | undefined> {
  let certPem: string;
  let keyPem: string;
  try {
    certPem = await Deno.readTextFile(certPath);
    keyPem = await Deno.readTextFile(keyPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    // Not a directory, no permission: writing would fail the same way, and
    // the operator is the one to fix it.
    throw new StateDirError(
      `cannot read --state-dir ${dir}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  let stored: CertificateBundle;
  try {
    stored = await loadCertificate(certPem, keyPem);
  } catch (error) {
    log.warning("stored certificate unusable, making a new one: {error}", {
      error: String(error),
    });
    return undefined;
  }
  // The same rule as --key: a usable key that others may read is a key
  // already leaked, so it is refused rather than reused (or silently
  // replaced, which would change the hash clients pinned).
  try {
    await assertPrivateKeyFile(keyPath);
  } catch (cause) {
    if (!(cause instanceof KeyFileError)) throw cause;
    throw new StateDirError(cause.message, { cause });
  }
  return stored;
}

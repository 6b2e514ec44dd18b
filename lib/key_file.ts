/**
 * Refuses a private key file that users other than its owner may open, as
 * OpenSSH does: a key readable by others is a key already leaked.
 *
 * @module
 */

/** Permission bits a private key file must not have: any group or other access. */
export const FORBIDDEN_KEY_BITS = 0o077;

/** Thrown when a private key file is open to other users. */
export class KeyFileError extends Error {
  /** The file's permission bits. */
  readonly mode: number;

  /**
   * @param message One line naming the file and the fix.
   * @param mode The file's permission bits.
   * @param options Standard error options (`cause`).
   */
  constructor(message: string, mode: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "KeyFileError";
    this.mode = mode;
  }
}

/**
 * Checks the permission bits of a key file.
 *
 * @param mode `Deno.FileInfo.mode`; `null` (platforms without modes) passes.
 * @throws {KeyFileError} when group or others have any access.
 * @example
 * ```ts
 * import { checkKeyFileMode } from "./key_file.ts";
 * checkKeyFileMode("key.pem", 0o100600); // fine
 * try {
 *   checkKeyFileMode("key.pem", 0o100644);
 * } catch (error) {
 *   console.log((error as Error).message.startsWith("key.pem")); // true
 * }
 * ```
 */
export function checkKeyFileMode(path: string, mode: number | null): void {
  if (mode === null) return;
  const bits = mode & 0o777;
  if (bits & FORBIDDEN_KEY_BITS) {
    throw new KeyFileError(
      `${path}: private key is open to other users (mode ${
        bits.toString(8).padStart(4, "0")
      }); run: chmod 600 ${path}`,
      bits,
    );
  }
}

/**
 * Checks that the key file at `path` is private to its owner.
 *
 * @throws {KeyFileError} when group or others have any access.
 * @throws {Deno.errors.NotFound} and other stat errors as they are.
 * @example
 * ```ts ignore
 * import { assertPrivateKeyFile } from "./key_file.ts";
 * await assertPrivateKeyFile("certs/key.pem");
 * ```
 */
export async function assertPrivateKeyFile(path: string): Promise<void> {
  const info = await Deno.stat(path);
  checkKeyFileMode(path, info.mode);
}

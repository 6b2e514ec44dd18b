/**
 * Refuses a private key file that users other than its owner may open, as
 * OpenSSH does: a key readable by others is a key already leaked.
 *
 * One exception, PostgreSQL's rule for its server key: a key owned by root
 * may also be readable (read only) by its group, when that group is one this
 * process runs in. That is how a non-root server reads a root-owned key: a
 * Kubernetes Secret mounted with `fsGroup` (root-owned, group = fsGroup,
 * mode 0440), or Debian's `ssl-cert` group (root:ssl-cert, 0640).
 *
 * @module
 */
import process from "node:process";

/** Permission bits an owner-only key file must not have: any group or other access. */
export const FORBIDDEN_KEY_BITS = 0o077;

/** Permission bits no key file may have: group write or execute, anything for others. */
export const FORBIDDEN_ROOT_KEY_BITS = 0o037;

/** Who may open a key file, as `Deno.stat` reports it (`null`: no such notion here). */
export type KeyFileInfo = Pick<Deno.FileInfo, "mode" | "uid" | "gid">;

/**
 * Thrown when a private key file is open to other users.
 *
 * @example The message names the file, the mode and the fix
 * ```ts
 * import { checkKeyFile, KeyFileError } from "./key_file.ts";
 * try {
 *   checkKeyFile("key.pem", { mode: 0o100644, uid: 1000, gid: 1000 }, []);
 * } catch (error) {
 *   if (error instanceof KeyFileError) {
 *     console.log(error.mode.toString(8)); // 644
 *     console.log(error.message);
 *     // key.pem: private key is open to other users (mode 0644); run: chmod 600 key.pem
 *   }
 * }
 * ```
 */
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
 * The group ids this process runs in: its group and supplementary groups
 * (where Kubernetes puts `fsGroup`). Empty where they cannot be read (no
 * `--allow-sys=gid`, or a platform without groups), which leaves only
 * owner-only keys acceptable.
 *
 * @example
 * ```ts
 * import { processGroups } from "./key_file.ts";
 * console.log(Array.isArray(processGroups())); // true
 * ```
 */
export function processGroups(): number[] {
  try {
    const groups = new Set<number>(process.getgroups?.() ?? []);
    const gid = Deno.gid();
    if (gid !== null) groups.add(gid);
    return [...groups];
  } catch {
    return [];
  }
}

function octal(bits: number): string {
  return bits.toString(8).padStart(4, "0");
}

/**
 * Checks who may open a key file: nobody but its owner, or, for a key owned
 * by root, also its group (read only) when `groups` holds that group.
 *
 * @param path The file, for the message.
 * @param info The file's `Deno.stat`; a `null` mode (platforms without
 *   modes) passes.
 * @param groups The group ids of the process that reads it
 *   ({@linkcode processGroups}).
 * @throws {KeyFileError} when others may read it, or a group that should not.
 * @example
 * ```ts
 * import { checkKeyFile } from "./key_file.ts";
 * checkKeyFile("key.pem", { mode: 0o100600, uid: 1000, gid: 1000 }, []); // fine
 * // A Kubernetes Secret mounted with fsGroup 2000, read by a pod in group 2000:
 * checkKeyFile("tls.key", { mode: 0o100440, uid: 0, gid: 2000 }, [2000]); // fine
 * try {
 *   checkKeyFile("key.pem", { mode: 0o100644, uid: 1000, gid: 1000 }, [1000]);
 * } catch (error) {
 *   console.log((error as Error).message.startsWith("key.pem")); // true
 * }
 * ```
 */
export function checkKeyFile(
  path: string,
  info: KeyFileInfo,
  groups: readonly number[],
): void {
  if (info.mode === null) return;
  const bits = info.mode & 0o777;
  if ((bits & FORBIDDEN_KEY_BITS) === 0) return;
  const fix = `run: chmod 600 ${path}`;
  if ((bits & FORBIDDEN_ROOT_KEY_BITS) !== 0) {
    throw new KeyFileError(
      `${path}: private key is open to other users (mode ${
        octal(bits)
      }); ${fix}`,
      bits,
    );
  }
  // Only group read is left: fine for a root-owned key read through its group.
  if (info.uid === 0 && info.gid !== null && groups.includes(info.gid)) return;
  const why = info.uid !== 0
    ? "group-readable keys must be owned by root"
    : `group ${info.gid} is not one this server runs in`;
  throw new KeyFileError(
    `${path}: private key is readable by group ${info.gid} (mode ${
      octal(bits)
    }, ${why}); ${fix}`,
    bits,
  );
}

/** Options of {@linkcode assertPrivateKeyFile}. */
export interface AssertPrivateKeyFileOptions {
  /**
   * Group ids of the process that reads the key.
   *
   * @default {processGroups()}
   */
  groups?: readonly number[];
}

/**
 * Checks that the key file at `path` (symbolic links followed, as a
 * Kubernetes Secret volume has them) is private to its owner, or to root and
 * a group of this process.
 *
 * @throws {KeyFileError} when others may read it.
 * @throws {Deno.errors.NotFound} and other stat errors as they are.
 * @example
 * ```ts ignore
 * import { assertPrivateKeyFile } from "./key_file.ts";
 * await assertPrivateKeyFile("certs/key.pem");
 * ```
 */
export async function assertPrivateKeyFile(
  path: string,
  options: AssertPrivateKeyFileOptions = {},
): Promise<void> {
  const info = await Deno.stat(path);
  checkKeyFile(path, info, options.groups ?? processGroups());
}

/**
 * Access control of sessions: a shared token carried in the session URL's
 * query, and an Origin allow-list for browser clients.
 *
 * The token travels as `?token=…` because a browser's `WebTransport` cannot
 * set request headers, and the query is checked as the session is accepted,
 * before any stream or datagram is served. The CONNECT request, path and
 * query included, is inside QUIC's TLS 1.3, so only the server sees it. See
 * docs/security.md.
 *
 * @module
 */
import { CloseCode } from "./codec.ts";

/** The query parameter that carries the token. */
export const TOKEN_PARAM = "token";

/** The environment variable both CLIs read the token from. */
export const TOKEN_ENV = "PINGPONG_TOKEN";

/** A session the server is about to serve, as access control sees it. */
export interface AccessRequest {
  /** The URL of the CONNECT request (path and query). */
  url: URL;
  /**
   * The CONNECT request's `Origin` header; `undefined` when the client sent
   * none (native clients) or the runtime does not expose it (Deno 2.9).
   */
  origin?: string;
}

/** Why a session was refused: the close code and reason the client gets. */
export interface Refusal {
  /** A {@linkcode CloseCode}. */
  closeCode: number;
  /** One line for the client; never holds the token. */
  reason: string;
}

/** Options of {@linkcode AccessPolicy}. */
export interface AccessPolicyOptions {
  /**
   * The shared token clients must present; `undefined` admits everyone.
   *
   * @default {undefined}
   */
  token?: string;
  /**
   * Origins (`https://app.example`) browser clients may come from; empty
   * admits every origin. Sessions without an Origin are native clients and
   * are admitted (the token is what guards against them).
   *
   * @default {[]}
   */
  allowOrigins?: readonly string[];
}

const encoder = new TextEncoder();

/**
 * Compares two strings in time that depends only on their lengths, never on
 * where they first differ, so a peer cannot find the token byte by byte.
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "./auth.ts";
 * console.log(timingSafeEqual("secret", "secret"), timingSafeEqual("secret", "secreT")); // true false
 * ```
 */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  // Walk the longer input whole, so a short guess takes as long as a long one.
  const length = Math.max(x.length, y.length);
  let diff = x.length ^ y.length;
  for (let i = 0; i < length; i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

/**
 * Decides which sessions the server serves.
 *
 * @example
 * ```ts
 * import { AccessPolicy } from "./auth.ts";
 * const policy = new AccessPolicy({ token: "s3cret" });
 * console.log(policy.check({ url: new URL("https://h/pingpong?token=s3cret") })); // undefined
 * console.log(policy.check({ url: new URL("https://h/pingpong") })?.closeCode); // 401
 * ```
 */
export class AccessPolicy {
  readonly #token: string | undefined;
  readonly #origins: ReadonlySet<string>;

  /** @param options See {@linkcode AccessPolicyOptions}. */
  constructor(options: AccessPolicyOptions = {}) {
    this.#token = options.token;
    this.#origins = new Set(options.allowOrigins?.map(normalizeOrigin) ?? []);
  }

  /** Whether an Origin allow-list was given. */
  get checksOrigin(): boolean {
    return this.#origins.size > 0;
  }

  /**
   * @returns `undefined` to serve the session, or why it is refused.
   */
  check(request: AccessRequest): Refusal | undefined {
    if (this.#token !== undefined) {
      const presented = request.url.searchParams.get(TOKEN_PARAM);
      if (presented === null) {
        return { closeCode: CloseCode.UNAUTHORIZED, reason: "token required" };
      }
      if (!timingSafeEqual(presented, this.#token)) {
        return { closeCode: CloseCode.UNAUTHORIZED, reason: "wrong token" };
      }
    }
    if (this.checksOrigin && request.origin !== undefined) {
      if (!this.#origins.has(normalizeOrigin(request.origin))) {
        return {
          closeCode: CloseCode.FORBIDDEN,
          reason: `origin not allowed: ${request.origin.slice(0, 200)}`,
        };
      }
    }
    return undefined;
  }
}

function normalizeOrigin(origin: string): string {
  try {
    return new URL(origin).origin;
  } catch {
    return origin.trim().toLowerCase();
  }
}

/**
 * `url` with the token added to its query, as the client connects.
 *
 * @example
 * ```ts
 * import { withToken } from "./auth.ts";
 * console.log(withToken("https://h:4433/pingpong", "a b")); // https://h:4433/pingpong?token=a+b
 * ```
 */
export function withToken(url: string, token: string | undefined): string {
  if (token === undefined) return url;
  const target = new URL(url);
  target.searchParams.set(TOKEN_PARAM, token);
  return target.href;
}

/** A `token=` value in text that is not a URL. */
const TOKEN_IN_TEXT = new RegExp(`([?&]${TOKEN_PARAM}=)[^&#\\s]*`, "g");

/**
 * `url` with any token in its query masked, for output and logs. Text that
 * does not parse as a URL (a typo being reported) has its `token=` values
 * masked as they stand.
 *
 * @example
 * ```ts
 * import { redactToken } from "./auth.ts";
 * console.log(redactToken("https://h/pingpong?token=s3cret")); // https://h/pingpong?token=***
 * console.log(redactToken("127.0.0.1:4433/p?token=s3cret")); // 127.0.0.1:4433/p?token=***
 * ```
 */
export function redactToken(url: string): string {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return url.replace(TOKEN_IN_TEXT, "$1***");
  }
  if (!target.searchParams.has(TOKEN_PARAM)) return url;
  target.searchParams.set(TOKEN_PARAM, "***");
  // URLSearchParams would escape the mask as %2A.
  return target.href.replaceAll("%2A%2A%2A", "***");
}

/**
 * The token to use: `--token`'s value, else the environment variable's.
 * An empty value counts as none given.
 *
 * @example
 * ```ts
 * import { resolveToken } from "./auth.ts";
 * console.log(resolveToken(undefined, { PINGPONG_TOKEN: "t" })); // t
 * ```
 */
export function resolveToken(
  flag: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  const value = flag ?? env[TOKEN_ENV];
  return value === undefined || value === "" ? undefined : value;
}

/**
 * The one line a client prints when the server refused it at the door, or
 * `undefined` for a close that is not a refusal.
 *
 * @example
 * ```ts
 * import { refusalMessage } from "./auth.ts";
 * console.log(refusalMessage(401, "wrong token")); // server refused the session: wrong token (check --token or PINGPONG_TOKEN)
 * ```
 */
export function refusalMessage(
  closeCode: number | undefined,
  reason: string,
): string | undefined {
  switch (closeCode) {
    case CloseCode.UNAUTHORIZED:
      return `server refused the session: ${
        reason || "unauthorised"
      } (check --token or ${TOKEN_ENV})`;
    case CloseCode.FORBIDDEN:
      return `server refused the session: ${reason || "forbidden"}`;
    case CloseCode.BUSY:
      return `server refused the session: ${
        reason || "too many sessions"
      } (try again later)`;
    default:
      return undefined;
  }
}

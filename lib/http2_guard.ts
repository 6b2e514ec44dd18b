/**
 * Keeps Deno's `node:http2` from freeing an HTTP/2 session while nghttp2 is
 * still working on it, which ends the whole process (denoland/deno#36788).
 *
 * In Deno 2.9 a `node:http2` session hands the bytes it reads to nghttp2
 * (`receive`, i.e. `nghttp2_session_mem_recv`), which calls back into
 * JavaScript for every frame. A GOAWAY on a connection with no open stream
 * (any client may send one; the WebTransport client does after the server
 * closed its session for a limit) makes `node:http2` close the session from
 * inside that callback, and its native `destroy()` frees the nghttp2 session
 * (`nghttp2_session_del`) with `mem_recv` still on the stack. nghttp2 then
 * walks freed memory: the process aborts on `find_stream_on_goaway_func:
 * Assertion 'stream->closed_next == NULL'` or segfaults, depending on what
 * reused the memory first (with `MALLOC_PERTURB_` set it is every time).
 *
 * {@linkcode guardHttp2Sessions} wraps the native session's methods, once,
 * on their shared prototype: a `destroy()` asked for while nghttp2 is at work
 * on that session runs on the next turn of the event loop instead, a send
 * asked for from inside nghttp2 is left to the send that follows it (as
 * Node.js does), and nothing reaches nghttp2 once the session is gone. An
 * exception thrown out of nghttp2's callbacks closes that connection only,
 * instead of the process. Later Deno versions may fix this; the guard stays
 * harmless there.
 *
 * @module
 */
import { connect } from "node:http2";
import { Duplex } from "node:stream";
import { logger } from "./log.ts";

const log = logger("http2");

/** The native session methods the guard wraps. */
interface _NativeSession {
  receive(data: Uint8Array): void;
  sendPending(): void;
  getOutgoingChunk(): Uint8Array | null | undefined;
  hasPendingData(): boolean;
  destroy(...args: unknown[]): void;
}

interface _State {
  /** Calls into nghttp2 on this session now on the stack. */
  depth: number;
  /** A send was asked for from inside nghttp2 and skipped. */
  sendSkipped: boolean;
  /** Arguments of a destroy() asked for from inside nghttp2. */
  destroyArgs: unknown[] | undefined;
  /** That destroy() has been put on the event loop. */
  destroyScheduled: boolean;
  /** The native session has been destroyed. */
  destroyed: boolean;
}

const _states = new WeakMap<object, _State>();

function _state(handle: object): _State {
  let state = _states.get(handle);
  if (!state) {
    state = {
      depth: 0,
      sendSkipped: false,
      destroyArgs: undefined,
      destroyScheduled: false,
      destroyed: false,
    };
    _states.set(handle, state);
  }
  return state;
}

let _installed: boolean | undefined;

/**
 * Installs the guard on Deno's native HTTP/2 session, once per process.
 *
 * @returns whether the guard is in place (false when this Deno's `node:http2`
 * does not look as expected; nothing is changed then).
 * @example
 * ```ts
 * import { guardHttp2Sessions } from "./http2_guard.ts";
 * console.log(guardHttp2Sessions()); // true
 * ```
 */
export function guardHttp2Sessions(): boolean {
  if (_installed === undefined) {
    _installed = _install();
    log.debug("node:http2 session guard {state}", {
      state: _installed ? "installed" : "not installed",
    });
  }
  return _installed;
}

function _install(): boolean {
  const prototype = _nativePrototype();
  if (!prototype) return false;
  const original = {
    receive: prototype.receive,
    sendPending: prototype.sendPending,
    getOutgoingChunk: prototype.getOutgoingChunk,
    hasPendingData: prototype.hasPendingData,
    destroy: prototype.destroy,
  };
  // Runs `body` as one call into nghttp2 on `handle`.
  const inside = <T>(handle: _NativeSession, body: () => T): T => {
    const state = _state(handle);
    state.depth++;
    try {
      return body();
    } finally {
      state.depth--;
      if (state.depth === 0) _settle(handle, state);
    }
  };
  const _settle = (handle: _NativeSession, state: _State) => {
    if (state.destroyArgs) {
      if (state.destroyScheduled) return;
      state.destroyScheduled = true;
      const args = state.destroyArgs;
      // Not now: the caller of receive() still asks the session for its
      // pending data when receive() returns.
      setTimeout(() => {
        state.destroyed = true;
        original.destroy.apply(handle, args);
      }, 0);
    } else if (state.sendSkipped && !state.destroyed) {
      state.sendSkipped = false;
      // The JavaScript sendPending of node:http2 (an own property) writes
      // what nghttp2 hands out to the socket.
      handle.sendPending();
    }
  };
  prototype.receive = function (this: _NativeSession, data: Uint8Array) {
    const state = _state(this);
    if (state.destroyed || state.destroyArgs) return;
    try {
      inside(this, () => original.receive.call(this, data));
    } catch (error) {
      // Thrown by a node:http2 callback (e.g. its stream close handler):
      // it concerns this connection only.
      log.warning("HTTP/2 connection dropped: {error}", {
        error: String(error),
      });
      _destroyOwner(this);
    }
  };
  prototype.sendPending = function (this: _NativeSession) {
    const state = _state(this);
    if (state.destroyed) return;
    if (state.depth > 0) {
      state.sendSkipped = true;
      return;
    }
    inside(this, () => original.sendPending.call(this));
  };
  prototype.getOutgoingChunk = function (this: _NativeSession) {
    const state = _state(this);
    if (state.destroyed) return null;
    if (state.depth > 0) {
      state.sendSkipped = true;
      return null;
    }
    return inside(this, () => original.getOutgoingChunk.call(this));
  };
  prototype.hasPendingData = function (this: _NativeSession) {
    const state = _state(this);
    if (state.destroyed || state.destroyArgs) return false;
    return original.hasPendingData.call(this);
  };
  prototype.destroy = function (this: _NativeSession, ...args: unknown[]) {
    const state = _state(this);
    if (state.destroyed || state.destroyArgs) return;
    if (state.depth > 0) {
      state.destroyArgs = args;
      return;
    }
    state.destroyed = true;
    original.destroy.apply(this, args);
  };
  return true;
}

const _OWNER = "ownerSymbol";

/** Destroys the `node:http2` session that owns `handle`, later. */
function _destroyOwner(handle: _NativeSession): void {
  const key = Object.getOwnPropertySymbols(handle).find((symbol) =>
    symbol.description === _OWNER
  );
  const owner = key
    ? (handle as unknown as Record<symbol, { destroy?: () => void }>)[key]
    : undefined;
  setTimeout(() => {
    try {
      owner?.destroy?.();
    } catch (error) {
      log.debug("destroy failed: {error}", { error: String(error) });
    }
  }, 0);
}

/**
 * The prototype of Deno's native HTTP/2 session, found through a client
 * session on a socket that goes nowhere.
 */
function _nativePrototype(): _NativeSession | undefined {
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  let session;
  try {
    session = connect("http://localhost", {
      createConnection: () => socket as never,
    });
  } catch (error) {
    log.debug("no node:http2 session to guard: {error}", {
      error: String(error),
    });
    return undefined;
  }
  session.on("error", () => {});
  try {
    const handle = Object.getOwnPropertySymbols(session)
      .map((symbol) => (session as unknown as Record<symbol, unknown>)[symbol])
      .find(_isNativeSession);
    if (!handle) return undefined;
    const prototype = Object.getPrototypeOf(handle) as _NativeSession;
    return _isNativeSession(prototype) ? prototype : undefined;
  } finally {
    session.destroy();
    socket.destroy();
  }
}

function _isNativeSession(value: unknown): value is _NativeSession {
  if (typeof value !== "object" || value === null) return false;
  const methods = value as Record<string, unknown>;
  return ["receive", "sendPending", "getOutgoingChunk", "hasPendingData"]
    .every((name) => typeof methods[name] === "function") &&
    typeof methods.destroy === "function";
}

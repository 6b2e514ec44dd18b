/**
 * An empty program: `deno run` of it is the runtime's own start-up, the
 * floor under the client's start-up time.
 *
 * @module
 */
export {};

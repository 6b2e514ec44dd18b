/**
 * Splits a text stream into lines (what @std/streams' TextLineStream does;
 * JSR is out of reach here).
 *
 * @module
 */

/**
 * Transforms text chunks into lines without their `\n` or `\r\n`.
 *
 * @example
 * ```ts
 * import { TextLineStream } from "./text_lines.ts";
 * const lines = ReadableStream.from(["a\nb", "c\n"]).pipeThrough(new TextLineStream());
 * console.log(await Array.fromAsync(lines)); // [ "a", "bc" ]
 * ```
 */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let rest = "";
    super({
      transform(chunk, controller) {
        const parts = (rest + chunk).split("\n");
        rest = parts.pop() ?? "";
        for (const part of parts) controller.enqueue(part.replace(/\r$/, ""));
      },
      flush(controller) {
        if (rest !== "") controller.enqueue(rest.replace(/\r$/, ""));
      },
    });
  }
}

import assert from "node:assert/strict";
import { TextLineStream } from "../lib/text_lines.ts";

async function lines(chunks: string[]): Promise<string[]> {
  return await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new TextLineStream()),
  );
}

Deno.test("TextLineStream joins lines split across chunks and splits chunks holding several", async () => {
  assert.deepEqual(await lines(["a\nb", "c\n", "d\ne\n"]), [
    "a",
    "bc",
    "d",
    "e",
  ]);
  assert.deepEqual(await lines(["one line, ", "in ", "three chunks\n"]), [
    "one line, in three chunks",
  ]);
});

Deno.test("TextLineStream strips \\r\\n, even split between chunks", async () => {
  assert.deepEqual(await lines(["a\r\nb\r", "\nc\r\n"]), ["a", "b", "c"]);
  // A lone \r inside a line is kept.
  assert.deepEqual(await lines(["a\rb\n"]), ["a\rb"]);
});

Deno.test("TextLineStream keeps empty lines and a last line with no newline", async () => {
  assert.deepEqual(await lines(["a\n\n", "\nb"]), ["a", "", "", "b"]);
  assert.deepEqual(await lines(["tail\r"]), ["tail"]);
  assert.deepEqual(await lines([]), []);
  assert.deepEqual(await lines(["\n"]), [""]);
});

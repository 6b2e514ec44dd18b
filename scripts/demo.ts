/**
 * `deno task demo`: starts a server on a free port, pings it five times with
 * the client, stops the server. What the README's first command runs.
 *
 * @module
 */
import { TextLineStream } from "../lib/text_lines.ts";

const root = new URL("../", import.meta.url);
const flags = [
  "run",
  "--quiet",
  "--unstable-net",
  "--allow-net",
  "--allow-read",
  "--allow-env",
  "--allow-sys",
];
const server = new Deno.Command(Deno.execPath(), {
  args: [
    ...flags,
    new URL("server.ts", root).pathname,
    "--host",
    "127.0.0.1",
    "--port",
    "0",
  ],
  stdin: "null",
  stdout: "piped",
  stderr: "inherit",
}).spawn();

let url = "";
let hash = "";
const lines = server.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
  new TextLineStream(),
);
const reader = lines.getReader();
while (!url || !hash) {
  const { value, done } = await reader.read();
  if (done) {
    console.error("demo: the server exited before it was ready");
    Deno.exit(1);
  }
  console.log(`[server] ${value}`);
  if (value.startsWith("listening on ")) {
    url = value.slice("listening on ".length);
  }
  if (value.startsWith("cert-hash sha-256 ")) hash = value.split(" ")[2];
}
reader.releaseLock();
lines.pipeTo(
  new WritableStream({ write: (line) => console.log(`[server] ${line}`) }),
).catch(() => {});

const extra = Deno.args.length > 0
  ? Deno.args
  : ["--count", "5", "--interval", "0.2"];
console.log(
  `[demo] pingpong-client ${url} --cert-hash ${hash} ${extra.join(" ")}`,
);
const client = await new Deno.Command(Deno.execPath(), {
  args: [
    ...flags,
    new URL("client.ts", root).pathname,
    url,
    "--cert-hash",
    hash,
    ...extra,
  ],
  stdin: "null",
  stdout: "inherit",
  stderr: "inherit",
}).spawn().status;

server.kill("SIGTERM");
await server.status;
Deno.exit(client.code);

import assert from "node:assert/strict";
import { renderPage, webPageHandler } from "../lib/web_page.ts";

Deno.test("webPageHandler() serves the page at / with the current certificate hash", async () => {
  let hash = "ab".repeat(32);
  const handler = webPageHandler({ path: "/pingpong", certHash: () => hash });
  const first = await handler(new Request("https://localhost:4433/"));
  assert.equal(first.status, 200);
  assert.match(first.headers.get("content-type") ?? "", /^text\/html/);
  assert.match(await first.text(), new RegExp(`"certHash":"${hash}"`));
  hash = "cd".repeat(32);
  const renewed = await handler(new Request("https://localhost:4433/"));
  assert.match(await renewed.text(), new RegExp(`"certHash":"${hash}"`));
});

Deno.test("webPageHandler() answers other paths with 404", async () => {
  const handler = webPageHandler({ path: "/pingpong", certHash: () => "" });
  const response = await handler(new Request("https://localhost:4433/x.js"));
  assert.equal(response.status, 404);
});

Deno.test("renderPage() keeps a path with </script> inside its JSON", () => {
  const html = renderPage("/</script><b>", "ab".repeat(32));
  assert.equal(html.split("</script>").length, 3); // the two real ones only
  assert.match(html, /\\u003c\/script>/);
});

Deno.test("renderPage() loads nothing from elsewhere", () => {
  const html = renderPage("/pingpong", "ab".repeat(32));
  assert.doesNotMatch(
    html,
    /<script[^>]+src=|<link[^>]+href=|https?:\/\/[a-z]/i,
  );
});

import assert from "node:assert/strict";
import {
  AccessPolicy,
  redactToken,
  refusalMessage,
  resolveToken,
  timingSafeEqual,
  withToken,
} from "../lib/auth.ts";
import { CloseCode } from "../lib/codec.ts";

const url = (text: string) => new URL(text);

Deno.test("timingSafeEqual() is true only for identical strings", () => {
  assert.equal(timingSafeEqual("s3cret", "s3cret"), true);
  assert.equal(timingSafeEqual("", ""), true);
  assert.equal(timingSafeEqual("s3cret", "s3creT"), false);
  assert.equal(timingSafeEqual("s3cret", "s3cre"), false);
  assert.equal(timingSafeEqual("s3cre", "s3cret"), false);
  assert.equal(timingSafeEqual("", "x"), false);
  // Same UTF-16 length, different bytes.
  assert.equal(timingSafeEqual("é", "e"), false);
});

Deno.test("AccessPolicy admits everyone when no token is set", () => {
  const policy = new AccessPolicy();
  assert.equal(policy.check({ url: url("https://h/pingpong") }), undefined);
  assert.equal(
    policy.check({ url: url("https://h/pingpong?token=anything") }),
    undefined,
  );
});

Deno.test("AccessPolicy refuses a missing or wrong token with 401 and admits the right one", () => {
  const policy = new AccessPolicy({ token: "s3cret" });
  assert.equal(
    policy.check({ url: url("https://h/pingpong?token=s3cret") }),
    undefined,
  );
  assert.deepEqual(policy.check({ url: url("https://h/pingpong") }), {
    closeCode: CloseCode.UNAUTHORIZED,
    reason: "token required",
  });
  const wrong = policy.check({ url: url("https://h/pingpong?token=s3cre") });
  assert.equal(wrong?.closeCode, CloseCode.UNAUTHORIZED);
  assert.ok(!wrong.reason.includes("s3cret"));
  assert.equal(
    policy.check({ url: url("https://h/pingpong?token=") })?.closeCode,
    CloseCode.UNAUTHORIZED,
  );
});

Deno.test("AccessPolicy checks an Origin against the allow-list and admits sessions without one", () => {
  const policy = new AccessPolicy({ allowOrigins: ["https://app.example"] });
  const at = url("https://h/pingpong");
  assert.equal(policy.checksOrigin, true);
  assert.equal(policy.check({ url: at }), undefined);
  assert.equal(
    policy.check({ url: at, origin: "https://app.example" }),
    undefined,
  );
  assert.equal(
    policy.check({ url: at, origin: "https://evil.example" })?.closeCode,
    CloseCode.FORBIDDEN,
  );
  assert.equal(new AccessPolicy().checksOrigin, false);
});

Deno.test("withToken() adds the token to the query and redactToken() masks it", () => {
  const withIt = withToken("https://h:4433/pingpong?x=1", "a&b=c");
  assert.equal(new URL(withIt).searchParams.get("token"), "a&b=c");
  assert.equal(new URL(withIt).searchParams.get("x"), "1");
  assert.equal(withToken("https://h/p", undefined), "https://h/p");
  assert.equal(
    redactToken(withIt),
    "https://h:4433/pingpong?x=1&token=***",
  );
  assert.equal(redactToken("https://h/p"), "https://h/p");
  // Text that is not a URL (a typo being reported) is masked as it stands.
  assert.equal(
    redactToken("127.0.0.1:4433/p?a=1&token=s3cret&b=2"),
    "127.0.0.1:4433/p?a=1&token=***&b=2",
  );
});

Deno.test("resolveToken() prefers the flag, falls back to PINGPONG_TOKEN and treats empty as none", () => {
  assert.equal(resolveToken("flag", { PINGPONG_TOKEN: "env" }), "flag");
  assert.equal(resolveToken(undefined, { PINGPONG_TOKEN: "env" }), "env");
  assert.equal(resolveToken(undefined, { PINGPONG_TOKEN: "" }), undefined);
  assert.equal(resolveToken(undefined, {}), undefined);
});

Deno.test("refusalMessage() names refusals at the door and ignores other closes", () => {
  assert.match(refusalMessage(401, "wrong token")!, /wrong token.*--token/);
  assert.match(refusalMessage(403, "")!, /forbidden/);
  assert.match(refusalMessage(503, "server busy")!, /server busy/);
  assert.equal(refusalMessage(429, "too many pings"), undefined);
  assert.equal(refusalMessage(undefined, ""), undefined);
});

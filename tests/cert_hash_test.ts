import assert from "node:assert/strict";
import { parseCertHash } from "../lib/cert_hash.ts";

Deno.test("parseCertHash() reads 64 hex digits, with or without colons", () => {
  const plain = parseCertHash("0a".repeat(32));
  assert.equal(plain.length, 32);
  assert.ok(plain.every((byte) => byte === 10));
  assert.deepEqual(parseCertHash(Array(32).fill("0A").join(":")), plain);
  assert.throws(() => parseCertHash("0a".repeat(31)), RangeError);
  assert.throws(() => parseCertHash("zz".repeat(32)), RangeError);
});

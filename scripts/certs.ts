/**
 * `deno task certs`: writes a development certificate and key into certs/
 * and prints the hash clients pin with `--cert-hash`.
 *
 * @module
 */
import { generateCertificate } from "../lib/certificates.ts";

const dir = new URL("../certs/", import.meta.url);
const bundle = await generateCertificate();
await Deno.mkdir(dir, { recursive: true });
await Deno.writeTextFile(new URL("cert.pem", dir), bundle.certPem);
// The key is readable by its owner only.
await Deno.writeTextFile(new URL("key.pem", dir), bundle.keyPem, {
  mode: 0o600,
});
console.log(
  `wrote certs/cert.pem and certs/key.pem (valid until ${bundle.notAfter.toISOString()})`,
);
console.log(`cert-hash sha-256 ${bundle.hash}`);

/**
 * DNS-SD (RFC 6763) over Multicast DNS (RFC 6762) for pingpong, as pure
 * functions: the records a server advertises, the answer to a query, and the
 * parsing of responses into service instances. No sockets here (see
 * lib/mdns.ts); the clock is a parameter.
 *
 * A server is advertised as an instance of `_pingpong._udp.local`:
 *
 * - `PTR _pingpong._udp.local → NAME._pingpong._udp.local`
 * - `SRV NAME._pingpong._udp.local → HOST.local:PORT`
 * - `TXT NAME._pingpong._udp.local`: `txtvers=1`, `path=/pingpong`,
 *   `proto=1` (lib/codec.ts PROTOCOL_VERSION), `cert-sha256=HEX`
 * - `A`/`AAAA HOST.local` for its addresses.
 *
 * Anything that is not a well-formed answer about this service (a query, a
 * foreign service, a truncated or badly compressed packet) is ignored: the
 * parsers return nothing rather than throw, because any host on the link may
 * send any bytes.
 *
 * @module
 */
import { Buffer } from "node:buffer";
// @ts-types="@types/dns-packet"
import * as dnsPacket from "dns-packet";

/** The DNS-SD service type of pingpong servers. */
export const SERVICE_TYPE = "_pingpong._udp.local";

/** The DNS-SD name that lists service types (RFC 6763 §9). */
export const SERVICES_META = "_services._dns-sd._udp.local";

/** The mDNS IPv4 group. */
export const MDNS_GROUP_V4 = "224.0.0.251";

/** The mDNS port. */
export const MDNS_PORT = 5353;

/** TTL of records naming a host (SRV, A, AAAA), RFC 6762 §10: 2 minutes. */
export const HOST_TTL = 120;

/** TTL of other records (PTR, TXT), RFC 6762 §10: 75 minutes. */
export const OTHER_TTL = 4500;

/** Longest TTL a legacy (non-5353) querier is given, RFC 6762 §6.7. */
export const LEGACY_TTL = 10;

/** Version of the TXT record's key set. */
export const TXT_VERSION = 1;

/** What a server advertises about itself. */
export interface ServiceInfo {
  /** Instance name: one DNS label, no dots, 1 to 63 UTF-8 bytes. */
  name: string;
  /** Host name without `.local`, one label. */
  host: string;
  /** UDP port of the WebTransport server. */
  port: number;
  /** Path served, e.g. `/pingpong`. */
  path: string;
  /** SHA-256 of the certificate, 64 lowercase hex digits. */
  certHash: string;
  /** Protocol version (lib/codec.ts PROTOCOL_VERSION). */
  protocolVersion: number;
  /** IPv4 and IPv6 addresses of the host. */
  addresses: string[];
}

/** A service instance as a browser learned it. */
export interface ServiceInstance {
  /** Instance name (the first label). */
  name: string;
  /** SRV target, e.g. `box.local`. */
  host: string;
  /** UDP port. */
  port: number;
  /** Addresses of `host`, IPv4 first. */
  addresses: string[];
  /** Path from TXT (`/` when absent). */
  path: string;
  /** Certificate hash from TXT, lowercase hex, or `undefined`. */
  certHash: string | undefined;
  /** Protocol version from TXT, or `undefined`. */
  protocolVersion: number | undefined;
}

/** A decoded resource record (dns-packet's shape). */
export type DnsAnswer = dnsPacket.Answer;

/**
 * Checks an instance name: one DNS label (RFC 6763 §4.1.1).
 *
 * @returns a reason it is invalid, or `undefined` when it is fine.
 * @example
 * ```ts
 * import { instanceNameProblem } from "./dns_sd.ts";
 * console.log(instanceNameProblem("a.b")); // must not contain dots
 * ```
 */
export function instanceNameProblem(name: string): string | undefined {
  const bytes = new TextEncoder().encode(name).length;
  if (bytes === 0) return "must not be empty";
  if (bytes > 63) return `must be at most 63 bytes, got ${bytes}`;
  if (name.includes(".")) return "must not contain dots";
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(name)) {
    return "must not contain control characters";
  }
  return undefined;
}

/**
 * A host name usable as one `.local` label: letters, digits and hyphens.
 *
 * @example
 * ```ts
 * import { localHostLabel } from "./dns_sd.ts";
 * console.log(localHostLabel("My_Box.example.com")); // my-box
 * ```
 */
export function localHostLabel(hostname: string): string {
  const label = hostname.split(".")[0].toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 63);
  return label || "pingpong";
}

/**
 * The fully qualified instance name, `NAME._pingpong._udp.local`.
 *
 * @example
 * ```ts
 * import { instanceFqdn } from "./dns_sd.ts";
 * console.log(instanceFqdn("lab")); // lab._pingpong._udp.local
 * ```
 */
export function instanceFqdn(name: string): string {
  return `${name}.${SERVICE_TYPE}`;
}

/**
 * The records a server advertises, or its goodbye: PTR, SRV and TXT with
 * TTL 0. The goodbye leaves the host's A/AAAA records out: every server on a
 * host claims `HOST.local`, so withdrawing the address would take it from
 * the other servers there too; it expires with its own TTL.
 *
 * @example
 * ```ts
 * import { buildRecords } from "./dns_sd.ts";
 * const records = buildRecords({
 *   name: "lab", host: "box", port: 4433, path: "/pingpong",
 *   certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
 * });
 * console.log(records.map((r) => r.type)); // [ "PTR", "SRV", "TXT", "A" ]
 * ```
 */
export function buildRecords(info: ServiceInfo, goodbye = false): DnsAnswer[] {
  const fqdn = instanceFqdn(info.name);
  const target = `${info.host}.local`;
  const ttl = (seconds: number) => goodbye ? 0 : seconds;
  const records: DnsAnswer[] = [
    { type: "PTR", name: SERVICE_TYPE, ttl: ttl(OTHER_TTL), data: fqdn },
    {
      type: "SRV",
      name: fqdn,
      ttl: ttl(HOST_TTL),
      flush: true,
      data: { priority: 0, weight: 0, port: info.port, target },
    },
    {
      type: "TXT",
      name: fqdn,
      ttl: ttl(OTHER_TTL),
      flush: true,
      data: buildTxt(info),
    },
  ];
  if (goodbye) return records;
  for (const address of info.addresses) {
    records.push({
      type: address.includes(":") ? "AAAA" : "A",
      name: target,
      ttl: ttl(HOST_TTL),
      flush: true,
      data: address,
    });
  }
  return records;
}

/**
 * The TXT strings of `info` (RFC 6763 §6: `key=value`, `txtvers` first).
 *
 * @example
 * ```ts
 * import { buildTxt } from "./dns_sd.ts";
 * console.log(buildTxt({ path: "/p", certHash: "ab", protocolVersion: 1 })[1]); // path=/p
 * ```
 */
export function buildTxt(
  info: Pick<ServiceInfo, "path" | "certHash" | "protocolVersion">,
): string[] {
  return [
    `txtvers=${TXT_VERSION}`,
    `path=${info.path}`,
    `proto=${info.protocolVersion}`,
    `cert-sha256=${info.certHash}`,
  ];
}

/**
 * An unsolicited announcement (RFC 6762 §8.3), or a goodbye (TTL 0, §10.1).
 *
 * @example
 * ```ts
 * import { buildAnnouncement, parseResponse } from "./dns_sd.ts";
 * const bytes = buildAnnouncement({
 *   name: "lab", host: "box", port: 4433, path: "/pingpong",
 *   certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
 * });
 * console.log(parseResponse(bytes)?.length); // 4
 * ```
 */
export function buildAnnouncement(
  info: ServiceInfo,
  goodbye = false,
): Uint8Array {
  return encode({
    type: "response",
    id: 0,
    flags: dnsPacket.AUTHORITATIVE_ANSWER,
    answers: buildRecords(info, goodbye),
  });
}

/**
 * A one-shot query for pingpong instances (PTR), or for one instance's SRV
 * and TXT when `instance` is given.
 *
 * @example
 * ```ts
 * import { buildQuery } from "./dns_sd.ts";
 * console.log(buildQuery().length > 12); // true
 * ```
 */
export function buildQuery(instance?: string): Uint8Array {
  const questions: dnsPacket.Question[] = instance === undefined
    ? [{ type: "PTR", name: SERVICE_TYPE }]
    : [
      { type: "SRV", name: instanceFqdn(instance) },
      { type: "TXT", name: instanceFqdn(instance) },
    ];
  return encode({ type: "query", id: 0, flags: 0, questions });
}

/** The reply a responder sends to one query. */
export interface QueryAnswer {
  /** The encoded response. */
  bytes: Uint8Array;
  /**
   * Send to the querier's address instead of the group: a legacy resolver
   * asking from a port other than 5353 (RFC 6762 §6.7).
   */
  unicast: boolean;
}

/**
 * Answers an mDNS query about `info`, or returns `undefined` when there is
 * nothing to say (not a query, not about us, known answers already held,
 * malformed). Never throws.
 *
 * @param sourcePort the querier's UDP port; not 5353 means legacy unicast.
 * @example
 * ```ts
 * import { answerQuery, buildQuery } from "./dns_sd.ts";
 * const info = {
 *   name: "lab", host: "box", port: 4433, path: "/pingpong",
 *   certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
 * };
 * console.log(answerQuery(buildQuery(), 5353, info)?.unicast); // false
 * ```
 */
export function answerQuery(
  bytes: Uint8Array,
  sourcePort: number,
  info: ServiceInfo,
): QueryAnswer | undefined {
  const packet = decode(bytes);
  if (!packet || packet.type !== "query" || opcodeOf(packet) !== "QUERY") {
    return undefined;
  }
  const legacy = sourcePort !== MDNS_PORT;
  const records = buildRecords(info);
  const [ptr, srv, txt, ...addresses] = records;
  const fqdn = instanceFqdn(info.name).toLowerCase();
  const target = `${info.host}.local`;
  const answers: DnsAnswer[] = [];
  const add = (record: DnsAnswer) => {
    if (!answers.includes(record)) answers.push(record);
  };
  for (const question of packet.questions ?? []) {
    const name = question.name.toLowerCase();
    const type = question.type;
    const any = (type as string) === "ANY";
    if (name === SERVICE_TYPE && (type === "PTR" || any)) add(ptr);
    if (name === SERVICES_META && (type === "PTR" || any)) {
      add({
        type: "PTR",
        name: SERVICES_META,
        ttl: OTHER_TTL,
        data: SERVICE_TYPE,
      });
    }
    if (name === fqdn && (type === "SRV" || any)) add(srv);
    if (name === fqdn && (type === "TXT" || any)) add(txt);
    if (name === target.toLowerCase()) {
      for (const record of addresses) {
        if (any || record.type === type) add(record);
      }
    }
  }
  // Known-answer suppression (RFC 6762 §7.1): skip what the querier holds
  // with at least half its TTL left.
  const known = (packet.answers ?? []) as DnsAnswer[];
  const fresh = answers.filter((record) =>
    !known.some((held) =>
      held.type === record.type &&
      held.name.toLowerCase() === record.name.toLowerCase() &&
      sameData(held, record) && ttlOf(held) >= ttlOf(record) / 2
    )
  );
  if (fresh.length === 0) return undefined;
  // A PTR answer brings SRV, TXT and addresses along (RFC 6763 §12.1).
  const additionals = fresh.includes(ptr)
    ? records.filter((record) => record !== ptr && !fresh.includes(record))
    : [];
  const cap = (record: DnsAnswer): DnsAnswer =>
    legacy
      ? {
        ...record,
        ttl: Math.min(ttlOf(record), LEGACY_TTL),
        flush: false,
      } as DnsAnswer
      : record;
  return {
    unicast: legacy,
    bytes: encode({
      type: "response",
      id: legacy ? packet.id : 0,
      flags: dnsPacket.AUTHORITATIVE_ANSWER,
      questions: legacy ? packet.questions : [],
      answers: fresh.map(cap),
      additionals: additionals.map(cap),
    }),
  };
}

function sameData(a: DnsAnswer, b: DnsAnswer): boolean {
  return JSON.stringify(normalData(a)) === JSON.stringify(normalData(b));
}

function normalData(record: DnsAnswer): unknown {
  const data = (record as { data?: unknown }).data;
  if (typeof data === "string") return data.toLowerCase();
  if (Array.isArray(data)) {
    return data.map((item) =>
      typeof item === "string" ? item : new TextDecoder().decode(item)
    );
  }
  return data;
}

/**
 * The records of an mDNS response that concern pingpong, with their TTLs;
 * `undefined` for anything else (a query, a malformed or foreign packet, a
 * non-zero rcode). Never throws.
 *
 * @example
 * ```ts
 * import { parseResponse } from "./dns_sd.ts";
 * console.log(parseResponse(new Uint8Array([1, 2, 3]))); // undefined
 * ```
 */
export function parseResponse(bytes: Uint8Array): DnsAnswer[] | undefined {
  const packet = decode(bytes);
  // RFC 6762 §18.3, §18.11: responses with another opcode or rcode are ignored.
  if (
    !packet || packet.type !== "response" || opcodeOf(packet) !== "QUERY" ||
    (packet as { rcode?: string }).rcode !== "NOERROR"
  ) {
    return undefined;
  }
  const all = [...(packet.answers ?? []), ...(packet.additionals ?? [])];
  const ours = all.filter((record) =>
    (record.type === "PTR" && record.name.toLowerCase() === SERVICE_TYPE) ||
    ((record.type === "SRV" || record.type === "TXT") &&
      record.name.toLowerCase().endsWith(`.${SERVICE_TYPE}`))
  );
  if (ours.length === 0) return undefined;
  // Addresses only ride along with our records: a foreign host's A records
  // are no business of a pingpong browser.
  const addresses = all.filter((record) =>
    record.type === "A" || record.type === "AAAA"
  );
  return [...ours, ...addresses] as DnsAnswer[];
}

/** Options of {@linkcode InstanceTable}. */
export interface InstanceTableOptions {
  /**
   * The clock, ms since the epoch; injectable for tests of expiry.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

interface Address {
  expires: number;
  received: number;
}

interface Held<T> {
  value: T;
  expires: number;
}

/**
 * What a browser has learned from responses: records kept until their TTL
 * runs out or a goodbye (TTL 0) removes them, assembled into instances.
 *
 * @example
 * ```ts
 * import { buildAnnouncement, InstanceTable, parseResponse } from "./dns_sd.ts";
 * const table = new InstanceTable();
 * table.add(parseResponse(buildAnnouncement({
 *   name: "lab", host: "box", port: 4433, path: "/pingpong",
 *   certHash: "ab".repeat(32), protocolVersion: 1, addresses: ["10.0.0.1"],
 * }))!);
 * console.log(table.instances()[0].addresses); // [ "10.0.0.1" ]
 * ```
 */
export class InstanceTable {
  readonly #now: () => number;
  // Keys are lowercase names: DNS names compare case-insensitively.
  readonly #ptr = new Map<string, Held<string>>();
  readonly #srv = new Map<string, Held<{ host: string; port: number }>>();
  readonly #txt = new Map<string, Held<Map<string, string>>>();
  readonly #addresses = new Map<string, Map<string, Address>>();

  /** @param options the clock. */
  constructor(options: InstanceTableOptions = {}) {
    this.#now = options.now ?? Date.now;
  }

  /**
   * Takes in records from {@linkcode parseResponse}; TTL 0 removes.
   *
   * @example
   * ```ts
   * import { buildQuery, InstanceTable, parseResponse } from "./dns_sd.ts";
   * const table = new InstanceTable();
   * table.add(parseResponse(buildQuery()) ?? []); // a query: nothing to add
   * console.log(table.instances().length); // 0
   * ```
   */
  add(records: readonly DnsAnswer[]): void {
    const now = this.#now();
    for (const record of records) {
      const expires = now + ttlOf(record) * 1000;
      const gone = ttlOf(record) === 0;
      const key = record.name.toLowerCase();
      switch (record.type) {
        case "PTR": {
          const target = String(record.data);
          const label = instanceLabel(target);
          if (label === undefined) break;
          const id = target.toLowerCase();
          if (gone) this.#ptr.delete(id);
          else this.#ptr.set(id, { value: label, expires });
          break;
        }
        case "SRV": {
          const data = record.data;
          if (gone) this.#srv.delete(key);
          else {
            this.#srv.set(key, {
              value: { host: data.target, port: data.port },
              expires,
            });
          }
          break;
        }
        case "TXT":
          if (gone) this.#txt.delete(key);
          else this.#txt.set(key, { value: parseTxt(record.data), expires });
          break;
        case "A":
        case "AAAA": {
          const held = this.#addresses.get(key) ?? new Map<string, Address>();
          if (gone) held.delete(record.data);
          else {
            // A cache-flush record replaces the other records of its name and
            // type received over a second ago (RFC 6762 §10.2).
            if (record.flush) {
              const v6 = record.type === "AAAA";
              for (const [address, old] of held) {
                if (address.includes(":") === v6 && old.received < now - 1000) {
                  held.delete(address);
                }
              }
            }
            held.set(record.data, { expires, received: now });
          }
          this.#addresses.set(key, held);
          break;
        }
      }
    }
  }

  /**
   * Instances with PTR, SRV and TXT still valid, sorted by name.
   *
   * @example
   * ```ts
   * import { InstanceTable } from "./dns_sd.ts";
   * console.log(new InstanceTable().instances()); // []
   * ```
   */
  instances(): ServiceInstance[] {
    const now = this.#now();
    const live = <T>(held: Held<T> | undefined) =>
      held && held.expires > now ? held.value : undefined;
    const found: ServiceInstance[] = [];
    for (const [id, ptr] of this.#ptr) {
      const name = live(ptr);
      const srv = live(this.#srv.get(id));
      const txt = live(this.#txt.get(id));
      if (name === undefined || !srv || !txt) continue;
      const addresses = [
        ...(this.#addresses.get(srv.host.toLowerCase()) ?? new Map()),
      ].filter(([, held]) => held.expires > now).map(([address]) => address)
        .sort((a, b) => Number(a.includes(":")) - Number(b.includes(":")));
      const hash = txt.get("cert-sha256")?.toLowerCase();
      const proto = Number(txt.get("proto"));
      found.push({
        name,
        host: srv.host,
        port: srv.port,
        addresses,
        path: txt.get("path") || "/",
        certHash: hash && /^[0-9a-f]{64}$/.test(hash) ? hash : undefined,
        protocolVersion: Number.isInteger(proto) && txt.has("proto")
          ? proto
          : undefined,
      });
    }
    return found.sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** The instance label of `NAME._pingpong._udp.local`, or `undefined`. */
function instanceLabel(fqdn: string): string | undefined {
  const suffix = `.${SERVICE_TYPE}`;
  if (!fqdn.toLowerCase().endsWith(suffix)) return undefined;
  const label = fqdn.slice(0, -suffix.length);
  return label === "" ? undefined : label;
}

/**
 * TXT strings as keys (lowercase) and values; the first of a repeated key
 * wins and a key without `=` is present with an empty value (RFC 6763 §6.4).
 *
 * @example
 * ```ts
 * import { parseTxt } from "./dns_sd.ts";
 * console.log(parseTxt(["Path=/p", "path=/q"]).get("path")); // /p
 * ```
 */
export function parseTxt(
  data: string | Uint8Array | (string | Uint8Array)[],
): Map<string, string> {
  const items = Array.isArray(data) ? data : [data];
  const map = new Map<string, string>();
  const decoder = new TextDecoder();
  for (const item of items) {
    const text = typeof item === "string" ? item : decoder.decode(item);
    const at = text.indexOf("=");
    const key = (at < 0 ? text : text.slice(0, at)).toLowerCase();
    if (key === "" || map.has(key)) continue;
    map.set(key, at < 0 ? "" : text.slice(at + 1));
  }
  return map;
}

function ttlOf(record: DnsAnswer): number {
  return (record as { ttl?: number }).ttl ?? 0;
}

function opcodeOf(packet: dnsPacket.DecodedPacket): string | undefined {
  return (packet as { opcode?: string }).opcode;
}

function encode(packet: dnsPacket.Packet): Uint8Array {
  return new Uint8Array(dnsPacket.encode(packet));
}

function decode(bytes: Uint8Array): dnsPacket.DecodedPacket | undefined {
  // dns-packet reads a record cut short as if zeros followed, so the frame
  // is checked first: every section must fit in the bytes that arrived.
  if (!wellFramed(bytes)) return undefined;
  try {
    const packet = dnsPacket.decode(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
    if (dnsPacket.decode.bytes > bytes.length) return undefined;
    return packet;
  } catch {
    // Malformed, truncated, or a compression pointer loop: not for us.
    return undefined;
  }
}

/** Whether the header's counts of questions and records fit in `bytes`. */
function wellFramed(bytes: Uint8Array): boolean {
  if (bytes.length < 12) return false;
  const u16 = (at: number) => (bytes[at] << 8) | bytes[at + 1];
  const questions = u16(4);
  const records = u16(6) + u16(8) + u16(10);
  let at = 12;
  const skipName = () => {
    while (at < bytes.length) {
      const length = bytes[at];
      if (length === 0) return ++at <= bytes.length;
      if ((length & 0xc0) === 0xc0) return (at += 2) <= bytes.length;
      if ((length & 0xc0) !== 0) return false;
      at += 1 + length;
    }
    return false;
  };
  for (let i = 0; i < questions; i++) {
    if (!skipName() || (at += 4) > bytes.length) return false;
  }
  for (let i = 0; i < records; i++) {
    if (!skipName() || at + 10 > bytes.length) return false;
    at += 10 + u16(at + 8);
    if (at > bytes.length) return false;
  }
  return true;
}

/**
 * Reads Prometheus text format in tests: enough of the grammar to check
 * what /metrics shows, strict enough to catch a malformed line.
 *
 * @module
 */

/** Samples by `name{labels}` (exactly as written), and the declared types. */
export interface Scrape {
  /** Value of each sample line. */
  samples: Map<string, number>;
  /** `# TYPE` of each metric family. */
  types: Map<string, string>;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?) (\S+)$/;

/**
 * Parses a /metrics body; throws on a line that is neither a comment nor a
 * sample, or on a sample whose family has no `# TYPE`.
 *
 * @example
 * ```ts ignore
 * const { samples } = parsePrometheus("# TYPE up gauge\nup 1\n");
 * console.log(samples.get("up")); // 1
 * ```
 */
export function parsePrometheus(text: string): Scrape {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ")) continue;
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      types.set(name, type);
      continue;
    }
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample: '${line}'`);
    const family = match[1].replace(/\{.*$/, "");
    if (!types.has(family)) throw new Error(`no # TYPE for ${family}`);
    samples.set(match[1], Number(match[3]));
  }
  return { samples, types };
}

/**
 * Fetches and parses `url`'s /metrics.
 *
 * @example
 * ```ts ignore
 * const scrape = await scrapeMetrics("http://127.0.0.1:9090");
 * ```
 */
export async function scrapeMetrics(baseUrl: string): Promise<Scrape> {
  const response = await fetch(`${baseUrl}/metrics`);
  const body = await response.text();
  if (response.status !== 200) {
    throw new Error(`/metrics answered ${response.status}: ${body}`);
  }
  return parsePrometheus(body);
}

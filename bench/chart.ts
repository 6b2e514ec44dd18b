/**
 * The bench's chart: an SVG drawn from the results, rendered to PNG with
 * resvg (fonts from the system; DejaVu Sans on this machine).
 *
 * @module
 */
// Loaded at run time by a computed specifier, so that this bench-only native
// package stays out of deno.lock: `deno compile` caches every locked npm
// package for each target, and resvg's per-platform builds would fail there.
const RESVG = ["npm:@resvg/resvg-js", "2.6.2"].join("@");
type ResvgModule = {
  Resvg: new (
    svg: string,
    options?: Record<string, unknown>,
  ) => { render(): { asPng(): Uint8Array } };
};
async function loadResvg(): Promise<ResvgModule["Resvg"]> {
  return ((await import(RESVG)) as ResvgModule).Resvg;
}

/** The parts of the results the chart draws (see bench/run.ts). */
export interface ChartInput {
  /** RTT rows. */
  rtt?: { label: string; available: boolean; p50: number; p99: number }[];
  /** Throughput rows. */
  throughput?: {
    server: string;
    sessions: number;
    pongsPerSec: number;
    serverCpuUsPerPong: number;
  }[];
  /** Run facts for the caption. */
  meta: Record<string, unknown>;
}

const WIDTH = 960;
const COLORS = { product: "#d9622b", bare: "#3b6fb6", other: "#7a7a7a" };

function esc(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}

function text(
  x: number,
  y: number,
  body: string,
  attrs = "",
): string {
  const size = attrs.includes("font-size") ? "" : 'font-size="13" ';
  return `<text x="${x}" y="${y}" font-family="DejaVu Sans, sans-serif" ${size}${attrs}>${
    esc(body)
  }</text>`;
}

function niceMax(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function rttPanel(rows: NonNullable<ChartInput["rtt"]>, top: number) {
  const parts: string[] = [];
  const left = 300;
  const width = WIDTH - left - 170;
  const barH = 22;
  const shown = rows;
  const max = niceMax(
    Math.max(...shown.filter((r) => r.available).map((r) => r.p50)),
  );
  parts.push(
    text(
      20,
      top + 18,
      "Round-trip time p50, one session, 64-byte pings (ms; p99 in brackets)",
      'font-weight="bold" font-size="15"',
    ),
  );
  const y0 = top + 36;
  for (let i = 0; i <= 4; i++) {
    const x = left + (width * i) / 4;
    parts.push(
      `<line x1="${x}" y1="${y0}" x2="${x}" y2="${
        y0 + shown.length * (barH + 8)
      }" stroke="#ddd"/>`,
    );
    parts.push(
      text(
        x - 12,
        y0 + shown.length * (barH + 8) + 16,
        fmtNum((max * i) / 4),
        'fill="#555" font-size="11"',
      ),
    );
  }
  shown.forEach((row, i) => {
    const y = y0 + i * (barH + 8);
    const color = row.label.startsWith("pingpong")
      ? COLORS.product
      : row.label.startsWith("bare")
      ? COLORS.bare
      : COLORS.other;
    parts.push(text(left - 8, y + 16, row.label, 'text-anchor="end"'));
    if (!row.available) {
      parts.push(
        text(
          left + 6,
          y + 16,
          "not measured",
          'fill="#999" font-style="italic"',
        ),
      );
      return;
    }
    const w = Math.max(1, Math.min(width, (width * row.p50) / max));
    parts.push(
      `<rect x="${left}" y="${y}" width="${w}" height="${barH}" fill="${color}"/>`,
    );
    parts.push(
      text(left + w + 6, y + 16, `${fmtNum(row.p50)} (${fmtNum(row.p99)})`),
    );
  });
  return { svg: parts.join("\n"), height: 36 + shown.length * (barH + 8) + 30 };
}

function groupedPanel(
  title: string,
  rows: NonNullable<ChartInput["throughput"]>,
  value: (r: NonNullable<ChartInput["throughput"]>[number]) => number,
  top: number,
) {
  const parts: string[] = [];
  const left = 80;
  const height = 200;
  const sessions = [...new Set(rows.map((r) => r.sessions))];
  const groupW = (WIDTH - left - 40) / sessions.length;
  const barW = Math.min(70, groupW / 3);
  const max = niceMax(Math.max(...rows.map(value)));
  parts.push(text(20, top + 18, title, 'font-weight="bold" font-size="15"'));
  const base = top + 40 + height;
  for (let i = 0; i <= 4; i++) {
    const y = base - (height * i) / 4;
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${
        WIDTH - 40
      }" y2="${y}" stroke="#ddd"/>`,
    );
    parts.push(
      text(
        left - 8,
        y + 4,
        fmtNum((max * i) / 4),
        'text-anchor="end" fill="#555" font-size="11"',
      ),
    );
  }
  sessions.forEach((n, g) => {
    const cx = left + groupW * g + groupW / 2;
    (["product", "bare"] as const).forEach((server, k) => {
      const row = rows.find((r) => r.sessions === n && r.server === server);
      if (!row) return;
      const h = (height * value(row)) / max;
      const x = cx - barW - 4 + k * (barW + 8);
      parts.push(
        `<rect x="${x}" y="${base - h}" width="${barW}" height="${h}" fill="${
          COLORS[server]
        }"/>`,
      );
      parts.push(
        text(
          x + barW / 2,
          base - h - 4,
          fmtNum(value(row)),
          'text-anchor="middle" font-size="11"',
        ),
      );
    });
    parts.push(
      text(
        cx,
        base + 18,
        `${n} session${n === 1 ? "" : "s"}`,
        'text-anchor="middle"',
      ),
    );
  });
  return { svg: parts.join("\n"), height: 40 + height + 34 };
}

function fmtNum(value: number): string {
  if (!Number.isFinite(value)) return "n/a";
  if (Math.abs(value) >= 1000) return String(Math.round(value));
  return String(Number(value.toPrecision(3)));
}

/**
 * The chart as an SVG document.
 *
 * @example
 * ```ts
 * import { renderChart } from "./chart.ts";
 * const svg = renderChart({ meta: { date: "now" }, rtt: [
 *   { label: "raw UDP echo (floor)", available: true, p50: 0.05, p99: 0.2 },
 * ] });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function renderChart(input: ChartInput): string {
  const panels: string[] = [];
  let y = 10;
  if (input.rtt) {
    const panel = rttPanel(input.rtt, y);
    panels.push(panel.svg);
    y += panel.height;
  }
  if (input.throughput && input.throughput.length > 0) {
    const a = groupedPanel(
      "Throughput: pongs per second (one ping in flight per session)",
      input.throughput,
      (r) => r.pongsPerSec,
      y,
    );
    panels.push(a.svg);
    y += a.height;
    const b = groupedPanel(
      "Server CPU time per pong (µs)",
      input.throughput,
      (r) => r.serverCpuUsPerPong,
      y,
    );
    panels.push(b.svg);
    y += b.height;
  }
  const legendY = y + 10;
  panels.push(
    `<rect x="20" y="${legendY}" width="14" height="14" fill="${COLORS.product}"/>`,
    text(40, legendY + 12, "pingpong (server.ts, lib/)"),
    `<rect x="250" y="${legendY}" width="14" height="14" fill="${COLORS.bare}"/>`,
    text(270, legendY + 12, "bare Deno WebTransport echo"),
    `<rect x="490" y="${legendY}" width="14" height="14" fill="${COLORS.other}"/>`,
    text(510, legendY + 12, "other (UDP floor, WebSocket)"),
    text(
      20,
      legendY + 36,
      `deno task bench, ${input.meta.date}, Deno ${
        input.meta.deno ?? "?"
      }, loopback, shared 2-core machine: compare bars, not absolutes`,
      'fill="#555" font-size="11"',
    ),
  );
  const height = legendY + 50;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}">
<rect width="${WIDTH}" height="${height}" fill="white"/>
${panels.join("\n")}
</svg>
`;
}

/**
 * Renders an SVG document to PNG bytes.
 *
 * @example
 * ```ts ignore
 * import { renderChart, svgToPng } from "./chart.ts";
 * Deno.writeFileSync("chart.png", await svgToPng(renderChart({ meta: {} })));
 * ```
 */
export async function svgToPng(svg: string): Promise<Uint8Array> {
  const Resvg = await loadResvg();
  return new Resvg(svg, {
    font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" },
    background: "white",
  }).render().asPng();
}

/** Hand-written SVG charts: grouped bars (linear axis) and lines (log axis), one color per system. */

export interface Series {
  readonly name: string;
  readonly color: string;
  /** One value per group; null where the system was not measured. */
  readonly values: readonly (number | null)[];
}

export interface Panel {
  readonly title: string;
  readonly yLabel: string;
  readonly groups: readonly string[];
  readonly xLabel: string;
  readonly series: readonly Series[];
}

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"`;
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** 1234 → 1.2k, 0.0123 → 0.012: short labels for bars and axes. */
export function short(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(a >= 1e4 ? 1 : 2)}k`;
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return `${+v.toFixed(1)}`;
  if (a >= 1) return `${+v.toFixed(2)}`;
  return `${+v.toPrecision(2)}`;
}

/** A "nice" top for a linear axis: 1, 2 or 5 times a power of ten, at least `max`. */
function niceTop(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

interface Box {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

function frame(p: Panel, b: Box): string[] {
  return [
    `<text x="${b.x + b.w / 2}" y="${b.y - 14}" text-anchor="middle" font-size="15" font-weight="600">${esc(p.title)}</text>`,
    `<text transform="translate(${b.x - 52},${b.y + b.h / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#444">${esc(p.yLabel)}</text>`,
    `<text x="${b.x + b.w / 2}" y="${b.y + b.h + 40}" text-anchor="middle" font-size="12" fill="#444">${esc(p.xLabel)}</text>`,
    `<line x1="${b.x}" y1="${b.y + b.h}" x2="${b.x + b.w}" y2="${b.y + b.h}" stroke="#333"/>`,
  ];
}

/** Grouped bars on a linear axis from 0, each bar labeled with its value. */
export function barPanel(p: Panel, b: Box): string {
  const max = Math.max(0, ...p.series.flatMap((s) => s.values.filter((v): v is number => v !== null)));
  const top = niceTop(max * 1.08);
  const y = (v: number) => b.y + b.h - (v / top) * b.h;
  const out = frame(p, b);
  for (let i = 0; i <= 5; i++) {
    const v = (top / 5) * i;
    out.push(
      `<line x1="${b.x}" y1="${y(v)}" x2="${b.x + b.w}" y2="${y(v)}" stroke="#e3e3e3"/>`,
      `<text x="${b.x - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#555">${short(v)}</text>`,
    );
  }
  const groupW = b.w / p.groups.length;
  const barW = Math.min(34, (groupW * 0.84) / p.series.length);
  p.groups.forEach((g, gi) => {
    const x0 = b.x + gi * groupW + (groupW - barW * p.series.length) / 2;
    out.push(`<text x="${b.x + gi * groupW + groupW / 2}" y="${b.y + b.h + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`);
    p.series.forEach((s, si) => {
      const v = s.values[gi];
      if (v === null || v === undefined) return;
      const x = x0 + si * barW;
      out.push(
        `<rect x="${x + 1}" y="${y(v)}" width="${barW - 2}" height="${b.y + b.h - y(v)}" fill="${s.color}"><title>${esc(s.name)}: ${short(v)}</title></rect>`,
        `<text transform="translate(${x + barW / 2 + 3},${y(v) - 4}) rotate(-90)" font-size="10" fill="#222">${short(v)}</text>`,
      );
    });
  });
  return out.join("\n");
}

/** Lines over categorical x on a log y axis (decades), for latencies spanning orders of magnitude. */
export function logLinePanel(p: Panel, b: Box): string {
  const vals = p.series.flatMap((s) => s.values.filter((v): v is number => v !== null && v > 0));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...vals, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...vals, 1) * 1.01));
  const y = (v: number) => b.y + b.h - ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * b.h;
  const out = frame(p, b);
  for (let d = lo; d <= hi * 1.001; d *= 10) {
    out.push(
      `<line x1="${b.x}" y1="${y(d)}" x2="${b.x + b.w}" y2="${y(d)}" stroke="#d8d8d8"/>`,
      `<text x="${b.x - 6}" y="${y(d) + 4}" text-anchor="end" font-size="11" fill="#555">${short(d)}</text>`,
    );
    for (const m of [2, 5]) {
      if (d * m >= hi) continue;
      out.push(
        `<line x1="${b.x}" y1="${y(d * m)}" x2="${b.x + b.w}" y2="${y(d * m)}" stroke="#eeeeee"/>`,
        `<text x="${b.x - 6}" y="${y(d * m) + 4}" text-anchor="end" font-size="10" fill="#999">${short(d * m)}</text>`,
      );
    }
  }
  const step = b.w / p.groups.length;
  const x = (i: number) => b.x + step * i + step / 2;
  p.groups.forEach((g, i) => out.push(`<text x="${x(i)}" y="${b.y + b.h + 18}" text-anchor="middle" font-size="12">${esc(g)}</text>`));
  for (const s of p.series) {
    const pts = s.values.map((v, i) => (v !== null && v > 0 ? ([x(i), y(v), v] as const) : null));
    const path = pts
      .filter((q) => q !== null)
      .map((q, i) => `${i === 0 ? "M" : "L"}${q![0].toFixed(1)},${q![1].toFixed(1)}`)
      .join(" ");
    if (path) out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2.2"/>`);
    for (const q of pts) {
      if (q) out.push(`<circle cx="${q[0]}" cy="${q[1]}" r="3.5" fill="${s.color}"><title>${esc(s.name)}: ${short(q[2])} ms</title></circle>`);
    }
  }
  return out.join("\n");
}

function legend(series: readonly Series[], x: number, y: number, width: number): string {
  const itemW = Math.min(190, width / series.length);
  return series
    .map(
      (s, i) =>
        `<rect x="${x + i * itemW}" y="${y - 10}" width="14" height="14" rx="2" fill="${s.color}"/>` +
        `<text x="${x + i * itemW + 20}" y="${y + 1}" font-size="12">${esc(s.name)}</text>`,
    )
    .join("\n");
}

/** A whole SVG document: panels side by side (relative widths), one legend, a caption. */
export function chart(o: {
  title: string;
  caption: string;
  panels: { panel: Panel; weight: number; kind: "bar" | "loglines" }[];
  series: readonly Series[];
}): string {
  const width = 1100;
  const height = 520;
  const left = 80;
  const gap = 90;
  const usable = width - left - 30 - gap * (o.panels.length - 1);
  const totalWeight = o.panels.reduce((s, p) => s + p.weight, 0);
  let x = left;
  const parts: string[] = [];
  for (const { panel, weight, kind } of o.panels) {
    const w = (usable * weight) / totalWeight;
    const box = { x, y: 110, w, h: height - 110 - 70 };
    parts.push(kind === "bar" ? barPanel(panel, box) : logLinePanel(panel, box));
    x += w + gap;
  }
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${width / 2}" y="28" text-anchor="middle" font-size="19" font-weight="700">${esc(o.title)}</text>`,
    legend(o.series, left, 62, width - left - 30),
    ...parts,
    `<text x="${width / 2}" y="${height - 10}" text-anchor="middle" font-size="11" fill="#666">${esc(o.caption)}</text>`,
    `</svg>`,
  ].join("\n");
}

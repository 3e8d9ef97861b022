/** Hand-written SVG of the soak: server and replica RSS over time, the judged windows shaded, each admin event marked. */
import type { Plan } from "./plan.ts";
import type { RssSample } from "./sampler.ts";
import { windows, type EventResult } from "./verdict.ts";

const MB = 1024 * 1024;
const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif"`;
const BOX = { x: 70, y: 50, w: 820, h: 330 };
const SERIES = [
  { name: "server process", color: "#1f77b4", pick: (s: RssSample) => s.serverBytes },
  { name: "replicas (sum)", color: "#ff7f0e", pick: (s: RssSample) => s.replicasBytes },
] as const;
const EVENT_COLOR: Record<string, string> = { deploy: "#2ca02c", rollback: "#d62728", "scale-up": "#9467bd", "scale-down": "#9467bd" };

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceTop(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function rssSvg(o: { plan: Plan; samples: readonly RssSample[]; events: readonly EventResult[]; title: string }): string {
  const { plan, samples } = o;
  const b = BOX;
  const top = niceTop((Math.max(1, ...samples.flatMap((s) => [s.serverBytes, s.replicasBytes ?? 0])) / MB) * 1.1);
  const x = (t: number) => b.x + (Math.min(t, plan.durationSec) / plan.durationSec) * b.w;
  const y = (mb: number) => b.y + b.h - (mb / top) * b.h;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${b.x + b.w + 30}" height="${b.y + b.h + 95}" viewBox="0 0 ${b.x + b.w + 30} ${b.y + b.h + 95}" ${FONT}>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${b.x + b.w / 2}" y="24" text-anchor="middle" font-size="15" font-weight="600">${esc(o.title)}</text>`,
  ];
  const w = windows(plan);
  const shade = (from: number, to: number, fill: string, label: string) =>
    out.push(
      `<rect x="${x(from)}" y="${b.y}" width="${x(to) - x(from)}" height="${b.h}" fill="${fill}"/>`,
      `<text x="${(x(from) + x(to)) / 2}" y="${b.y + 12}" text-anchor="middle" font-size="10" fill="#666">${esc(label)}</text>`,
    );
  shade(0, plan.warmupSec, "#f0f0f0", "warm-up");
  shade(w.baseline[0], w.baseline[1], "#e6f0fa", "baseline");
  shade(w.end[0], plan.durationSec, "#e6f0fa", "end");
  for (let i = 0; i <= 5; i++) {
    const v = (top / 5) * i;
    out.push(
      `<line x1="${b.x}" y1="${y(v)}" x2="${b.x + b.w}" y2="${y(v)}" stroke="#e3e3e3"/>`,
      `<text x="${b.x - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" fill="#555">${+v.toFixed(1)}</text>`,
    );
  }
  const step = niceTop(plan.durationSec / 10);
  for (let t = 0; t <= plan.durationSec + 1e-9; t += step) {
    out.push(`<text x="${x(t)}" y="${b.y + b.h + 16}" text-anchor="middle" font-size="11" fill="#555">${+t.toFixed(1)}</text>`);
  }
  out.push(
    `<line x1="${b.x}" y1="${b.y + b.h}" x2="${b.x + b.w}" y2="${b.y + b.h}" stroke="#333"/>`,
    `<line x1="${b.x}" y1="${b.y}" x2="${b.x}" y2="${b.y + b.h}" stroke="#333"/>`,
    `<text transform="translate(${b.x - 48},${b.y + b.h / 2}) rotate(-90)" text-anchor="middle" font-size="12" fill="#444">RSS (MB)</text>`,
    `<text x="${b.x + b.w / 2}" y="${b.y + b.h + 34}" text-anchor="middle" font-size="12" fill="#444">seconds since the load started</text>`,
  );
  o.events.forEach((e, i) => {
    const color = EVENT_COLOR[e.kind] ?? "#555";
    out.push(
      `<line x1="${x(e.startSec)}" y1="${b.y}" x2="${x(e.startSec)}" y2="${b.y + b.h}" stroke="${color}" stroke-dasharray="4,3"><title>${esc(e.label)} at ${e.startSec.toFixed(1)} s (exit ${e.code})</title></line>`,
      `<text transform="translate(${x(e.startSec) + 3},${b.y + 22 + (i % 2) * 70}) rotate(90)" font-size="10" fill="${color}">${esc(e.short)}</text>`,
    );
  });
  for (const s of SERIES) {
    const pts = samples.map((p) => [p.tSec, s.pick(p)] as const).filter((p): p is readonly [number, number] => p[1] !== null);
    const d = pts.map(([t, v], i) => `${i ? "L" : "M"}${x(t).toFixed(1)},${y(v / MB).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`);
  }
  const ly = b.y + b.h + 56;
  SERIES.forEach((s, i) =>
    out.push(
      `<line x1="${b.x + i * 180}" y1="${ly}" x2="${b.x + i * 180 + 24}" y2="${ly}" stroke="${s.color}" stroke-width="3"/>`,
      `<text x="${b.x + i * 180 + 30}" y="${ly + 4}" font-size="12">${esc(s.name)}</text>`,
    ),
  );
  [
    ["deploy", "deploy"],
    ["rollback", "rollback"],
    ["scale-up", "scale"],
  ].forEach(([k, label], i) => {
    const lx = b.x + 380 + i * 120;
    out.push(
      `<line x1="${lx}" y1="${ly - 7}" x2="${lx}" y2="${ly + 7}" stroke="${EVENT_COLOR[k!]}" stroke-dasharray="4,3" stroke-width="2"/>`,
      `<text x="${lx + 6}" y="${ly + 4}" font-size="12">${label}</text>`,
    );
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

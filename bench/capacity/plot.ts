/**
 * The capacity plot as a standalone SVG, drawn by hand (no plotting
 * dependency): three panels against the number of streams N on a log axis:
 * cores per stream (log), p99 added latency (linear) and memory per stream
 * (log), with the issue's targets as dashed lines.
 */

/** One series: points (x = N) with an optional min-max whisker. */
export interface Series {
  name: string;
  color: string;
  /** `open`: drawn hollow (a point past saturation). */
  points: Array<{ x: number; y: number; lo?: number; hi?: number; open?: boolean }>;
  /** Dotted line (references, models). */
  dotted?: boolean;
}

/** One panel. */
export interface Panel {
  title: string;
  yLabel: string;
  logY: boolean;
  series: Series[];
  /** Horizontal target line. */
  target?: { y: number; label: string };
}

const W = 400;
const H = 300;
const M = { left: 64, right: 14, top: 34, bottom: 46 };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceLogTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
  }
  return ticks;
}

function niceLinearTicks(lo: number, hi: number): number[] {
  const span = hi - lo;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= 6) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) ticks.push(Number(v.toPrecision(6)));
  return ticks;
}

function fmtTick(v: number): string {
  if (v === 0) return "0";
  if (v >= 1000) return `${v / 1000}k`;
  if (v >= 1) return String(Number(v.toPrecision(3)));
  return String(Number(v.toPrecision(2)));
}

function panelSvg(p: Panel, ox: number, xs: readonly number[]): string {
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const xLo = Math.min(...xs) / 1.5;
  const xHi = Math.max(...xs) * 1.5;
  const ys = p.series.flatMap((s) => s.points.flatMap((q) => [q.y, q.lo ?? q.y, q.hi ?? q.y])).filter((y) => Number.isFinite(y) && (!p.logY || y > 0));
  if (p.target) ys.push(p.target.y);
  let yLo = Math.min(...ys);
  let yHi = Math.max(...ys);
  if (p.logY) {
    yLo = 10 ** Math.floor(Math.log10(yLo));
    yHi = 10 ** Math.ceil(Math.log10(yHi));
  } else {
    yLo = 0;
    yHi = yHi * 1.1 || 1;
  }
  const X = (x: number): number => ox + M.left + ((Math.log10(x) - Math.log10(xLo)) / (Math.log10(xHi) - Math.log10(xLo))) * pw;
  const Y = (y: number): number => M.top + ph - (p.logY ? (Math.log10(y) - Math.log10(yLo)) / (Math.log10(yHi) - Math.log10(yLo)) : (y - yLo) / (yHi - yLo)) * ph;
  const out: string[] = [];
  out.push(`<text x="${ox + W / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(p.title)}</text>`);
  out.push(`<rect x="${ox + M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  for (const t of xs) {
    out.push(`<line x1="${X(t)}" y1="${M.top + ph}" x2="${X(t)}" y2="${M.top + ph + 4}" stroke="#888"/>`);
    out.push(`<text x="${X(t)}" y="${M.top + ph + 16}" text-anchor="middle" font-size="10">${t}</text>`);
  }
  out.push(`<text x="${ox + M.left + pw / 2}" y="${H - 10}" text-anchor="middle" font-size="11">concurrent streams N (log)</text>`);
  for (const t of p.logY ? niceLogTicks(yLo, yHi) : niceLinearTicks(yLo, yHi)) {
    out.push(`<line x1="${ox + M.left}" y1="${Y(t)}" x2="${ox + M.left + pw}" y2="${Y(t)}" stroke="#eee"/>`);
    out.push(`<text x="${ox + M.left - 4}" y="${Y(t) + 3}" text-anchor="end" font-size="10">${fmtTick(t)}</text>`);
  }
  out.push(`<text transform="translate(${ox + 14},${M.top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="11">${esc(p.yLabel)}</text>`);
  if (p.target) {
    out.push(`<line x1="${ox + M.left}" y1="${Y(p.target.y)}" x2="${ox + M.left + pw}" y2="${Y(p.target.y)}" stroke="#c00" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${ox + M.left + pw - 4}" y="${Y(p.target.y) - 4}" text-anchor="end" font-size="10" fill="#c00">${esc(p.target.label)}</text>`);
  }
  let legendY = H + 8;
  for (const s of p.series) {
    const pts = s.points.filter((q) => Number.isFinite(q.y) && (!p.logY || q.y > 0)).sort((a, b) => a.x - b.x);
    if (pts.length === 0) continue;
    const dash = s.dotted ? ` stroke-dasharray="2 3"` : "";
    if (pts.length > 1) out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((q) => `${X(q.x).toFixed(1)},${Y(q.y).toFixed(1)}`).join(" ")}"/>`);
    for (const q of pts) {
      if (q.lo !== undefined && q.hi !== undefined && (!p.logY || q.lo > 0)) {
        out.push(`<line x1="${X(q.x)}" y1="${Y(q.lo)}" x2="${X(q.x)}" y2="${Y(q.hi)}" stroke="${s.color}"/>`);
      }
      if (!s.dotted) out.push(`<circle cx="${X(q.x).toFixed(1)}" cy="${Y(q.y).toFixed(1)}" r="3" ${q.open ? `fill="#fff" stroke="${s.color}" stroke-width="1.5"` : `fill="${s.color}"`}/>`);
    }
    out.push(`<line x1="${ox + M.left - 10}" y1="${legendY - 4}" x2="${ox + M.left + 8}" y2="${legendY - 4}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    if (!s.dotted) out.push(`<circle cx="${ox + M.left - 1}" cy="${legendY - 4}" r="3" fill="${s.color}"/>`);
    out.push(`<text x="${ox + M.left + 12}" y="${legendY}" font-size="10">${esc(s.name)}</text>`);
    legendY += 13;
  }
  return out.join("\n");
}

/** The panels side by side, with a caption line. */
export function renderSvg(panels: readonly Panel[], caption: string): string {
  const xs = [...new Set(panels.flatMap((p) => p.series.flatMap((s) => s.points.map((q) => q.x))))].sort((a, b) => a - b);
  const width = W * panels.length;
  const legendRows = Math.max(...panels.map((p) => p.series.length));
  const height = H + 14 + legendRows * 13 + 18;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...panels.map((p, i) => panelSvg(p, i * W, xs)),
    `<text x="8" y="${height - 6}" font-size="10" fill="#555">${esc(caption)}</text>`,
    "</svg>",
    "",
  ].join("\n");
}

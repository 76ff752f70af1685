/**
 * Hand-rolled SVG charts: a line chart (payload sweep, scaling) and a grouped bar chart
 * (isolations, latencies). Small and dependency-free on purpose: the docs only need
 * axes, log scales, a legend and IQR whiskers, and the output must be a stable text
 * file that diffs well when the results are regenerated.
 */

export interface Point {
  x: number;
  y: number;
  /** Interquartile range of y, drawn as a whisker. */
  lo?: number;
  hi?: number;
}

export interface Series {
  name: string;
  points: Point[];
}

export interface Bar {
  value: number;
  lo?: number;
  hi?: number;
}

const WIDTH = 720;
const HEIGHT = 400;
const M = { top: 44, right: 190, bottom: 56, left: 78 };
const PLOT_W = WIDTH - M.left - M.right;
const PLOT_H = HEIGHT - M.top - M.bottom;
/** Distinguishable in colour and in greyscale; the first is always agent-ipc. */
const COLOURS = ['#d1495b', '#00798c', '#edae49', '#30638e', '#6a4c93', '#66a182', '#8d96a3'];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Short tick labels: 1.5k, 2M, 0.01. */
export function shortNumber(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

interface Scale {
  at(v: number): number;
  ticks: { value: number; label: string }[];
}

/** Log scale over whole decades (2 and 5 marked too when only few decades are shown). */
function logScale(min: number, max: number, from: number, to: number): Scale {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const at = (v: number): number => from + ((Math.log10(v) - lo) / (hi - lo)) * (to - from);
  const ticks: Scale['ticks'] = [];
  for (let d = lo; d <= hi; d++) {
    for (const m of hi - lo <= 2 ? [1, 2, 5] : [1]) {
      const value = m * 10 ** d;
      if (value <= 10 ** hi) ticks.push({ value, label: shortNumber(value) });
    }
  }
  return { at, ticks };
}

/** Linear scale from 0 with about five round ticks. */
function linearScale(max: number, from: number, to: number): Scale {
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const top = Math.ceil(max / step) * step;
  const at = (v: number): number => from + (v / top) * (to - from);
  const ticks: Scale['ticks'] = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push({ value: v, label: shortNumber(v) });
  return { at, ticks };
}

function frame(title: string, body: string[]): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${WIDTH} ${HEIGHT}" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#ffffff"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...body,
    '</svg>',
    '',
  ].join('\n');
}

function yAxis(scale: Scale, label: string): string[] {
  const out: string[] = [];
  for (const t of scale.ticks) {
    const y = scale.at(t.value).toFixed(1);
    out.push(`<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${y}" y2="${y}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${M.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${esc(t.label)}</text>`);
  }
  const cy = M.top + PLOT_H / 2;
  out.push(`<text transform="translate(18 ${cy}) rotate(-90)" text-anchor="middle">${esc(label)}</text>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + PLOT_H}" stroke="#444"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left + PLOT_W}" y1="${M.top + PLOT_H}" y2="${M.top + PLOT_H}" stroke="#444"/>`);
  return out;
}

function legend(names: readonly string[]): string[] {
  return names.flatMap((name, i) => {
    const y = M.top + 8 + i * 20;
    const x = M.left + PLOT_W + 16;
    return [
      `<rect x="${x}" y="${y - 6}" width="14" height="12" fill="${COLOURS[i % COLOURS.length]}"/>`,
      `<text x="${x + 20}" y="${y}" dominant-baseline="middle">${esc(name)}</text>`,
    ];
  });
}

function whisker(x: number, lo: number, hi: number, colour: string): string {
  return `<path d="M${(x - 4).toFixed(1)} ${lo.toFixed(1)}h8M${x.toFixed(1)} ${lo.toFixed(1)}V${hi.toFixed(1)}M${(x - 4).toFixed(1)} ${hi.toFixed(1)}h8" stroke="${colour}" fill="none"/>`;
}

/** Positive values only when an axis is logarithmic. */
function extent(values: number[]): [number, number] {
  const finite = values.filter((v) => Number.isFinite(v) && v > 0);
  return finite.length === 0 ? [1, 10] : [Math.min(...finite), Math.max(...finite)];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  logX: boolean;
  logY: boolean;
  /** Labels for x ticks (the x values of the points); default: numbers. */
  xTicks?: { value: number; label: string }[];
}

export function lineChart(o: LineChartOptions): string {
  const xs = o.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = o.series.flatMap((s) => s.points.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]));
  const [x0, x1] = extent(xs);
  const [y0, y1] = extent(ys);
  const bottom = M.top + PLOT_H;
  const xScale = o.logX ? logScale(x0, x1, M.left + 10, M.left + PLOT_W - 10) : linearScale(x1, M.left, M.left + PLOT_W - 10);
  const yScale = o.logY ? logScale(y0, y1, bottom, M.top) : linearScale(y1, bottom, M.top);
  const body = yAxis(yScale, o.yLabel);
  for (const t of o.xTicks ?? xScale.ticks) {
    const x = xScale.at(t.value).toFixed(1);
    body.push(`<line x1="${x}" x2="${x}" y1="${bottom}" y2="${bottom + 5}" stroke="#444"/>`);
    body.push(`<text x="${x}" y="${bottom + 18}" text-anchor="middle">${esc(t.label)}</text>`);
  }
  body.push(`<text x="${M.left + PLOT_W / 2}" y="${HEIGHT - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  o.series.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const pts = s.points.filter((p) => p.y > 0 || !o.logY);
    if (pts.length === 0) return;
    const d = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${xScale.at(p.x).toFixed(1)} ${yScale.at(p.y).toFixed(1)}`).join('');
    body.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const p of pts) {
      const x = xScale.at(p.x);
      if (p.lo !== undefined && p.hi !== undefined && p.lo > 0) body.push(whisker(x, yScale.at(p.lo), yScale.at(p.hi), colour));
      body.push(`<circle cx="${x.toFixed(1)}" cy="${yScale.at(p.y).toFixed(1)}" r="3.5" fill="${colour}"/>`);
    }
  });
  body.push(...legend(o.series.map((s) => s.name)));
  return frame(o.title, body);
}

export interface BarChartOptions {
  title: string;
  yLabel: string;
  /** One cluster per category along x. */
  categories: string[];
  /** One bar per series in every cluster; null where a series has no figure. */
  series: { name: string; bars: (Bar | null)[] }[];
  logY: boolean;
}

export function barChart(o: BarChartOptions): string {
  const values = o.series.flatMap((s) => s.bars.flatMap((b) => (b ? [b.value, b.lo ?? b.value, b.hi ?? b.value] : [])));
  const [y0, y1] = extent(values);
  const bottom = M.top + PLOT_H;
  // A log axis starts a decade under the smallest bar, so that bar is still visible.
  const yScale = o.logY ? logScale(y0 / 3, y1, bottom, M.top) : linearScale(y1, bottom, M.top);
  const body = yAxis(yScale, o.yLabel);
  const cluster = PLOT_W / o.categories.length;
  const barW = Math.min(40, (cluster * 0.8) / o.series.length);
  o.categories.forEach((category, c) => {
    const centre = M.left + cluster * (c + 0.5);
    body.push(`<text x="${centre.toFixed(1)}" y="${bottom + 18}" text-anchor="middle">${esc(category)}</text>`);
    o.series.forEach((s, i) => {
      const bar = s.bars[c];
      if (!bar || !(bar.value > 0 || !o.logY)) return;
      const colour = COLOURS[i % COLOURS.length];
      const x = centre - (barW * o.series.length) / 2 + i * barW;
      const top = yScale.at(bar.value);
      body.push(`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(bottom - top).toFixed(1)}" fill="${colour}"><title>${esc(`${s.name}, ${category}: ${shortNumber(bar.value)}`)}</title></rect>`);
      if (bar.lo !== undefined && bar.hi !== undefined && bar.lo > 0) body.push(whisker(x + (barW - 2) / 2, yScale.at(bar.lo), yScale.at(bar.hi), '#222'));
    });
  });
  body.push(...legend(o.series.map((s) => s.name)));
  return frame(o.title, body);
}

/**
 * Small server-side SVG charts for the run report and the dashboard: line charts (numeric or date
 * axis), grouped bar charts, horizontal bars and a labelled matrix. Output is a self-contained
 * `<svg>` string (no scripts, no external resources); every text is escaped.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];

export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  y: ArrayLike<number>;
  color?: string;
  dashed?: boolean;
  /** Fill the area between the line and y = 0 (drawdowns). */
  area?: boolean;
}

export interface LineChartOptions {
  title: string;
  series: LineSeries[];
  width?: number;
  height?: number;
  /** Tick label of an x value (e.g. the date of an index); default: the number. */
  xLabel?: (x: number) => string;
  yLabel?: (y: number) => string;
  /** Fixed axis ranges (ROC and calibration: 0..1). */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Draw y = 0 (returns, IC). */
  zeroLine?: boolean;
  /** Largest number of points drawn per series (longer series are thinned evenly, the last point kept). */
  maxPoints?: number;
}

const MARGIN = { left: 62, right: 16, top: 30, bottom: 40 };

const fmtDefault = (v: number) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toPrecision(3) : Number(v.toFixed(3)).toString());

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (lo === hi) return [lo];
  const raw = (hi - lo) / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

function thin(n: number, max: number): number[] {
  if (n <= max) return Array.from({ length: n }, (_, i) => i);
  const out = Array.from({ length: max - 1 }, (_, i) => Math.floor((i * (n - 1)) / (max - 1)));
  out.push(n - 1);
  return out;
}

function legend(items: Array<{ name: string; color: string; dashed?: boolean }>, x: number, y: number): string {
  let offset = x;
  return items
    .map((item) => {
      const part = `<g class="legend-item"><line x1="${offset}" y1="${y - 4}" x2="${offset + 18}" y2="${y - 4}" stroke="${item.color}" stroke-width="2.5"${item.dashed ? ' stroke-dasharray="5 3"' : ''}/><text x="${offset + 22}" y="${y}" font-size="11">${escapeHtml(item.name)}</text></g>`;
      offset += 30 + item.name.length * 6.2;
      return part;
    })
    .join('');
}

function frame(width: number, height: number, title: string, kind: string, body: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="${escapeHtml(kind)}" role="img" aria-label="${escapeHtml(title)}" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif"><title>${escapeHtml(title)}</title><rect width="${width}" height="${height}" fill="#fff"/><text x="${MARGIN.left}" y="16" font-size="13" font-weight="600">${escapeHtml(title)}</text>${body}</svg>`;
}

/** A line chart; non-finite points break the line. */
export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 260;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of options.series) {
    for (let i = 0; i < s.x.length; i++) {
      if (Number.isFinite(s.x[i]) && Number.isFinite(s.y[i])) {
        xs.push(s.x[i]);
        ys.push(s.y[i]);
      }
    }
  }
  if (xs.length === 0) return frame(width, height, options.title, 'line', `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12" fill="#666">no data</text>`);
  let [x0, x1] = options.xDomain ?? [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = options.yDomain ?? [Math.min(...ys, ...(options.zeroLine ? [0] : [])), Math.max(...ys, ...(options.zeroLine ? [0] : []))];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.abs(y0 || 1) * 0.1, y1 + Math.abs(y1 || 1) * 0.1];
  if (!options.yDomain) {
    const pad = (y1 - y0) * 0.05;
    y0 -= pad;
    y1 += pad;
  }
  const px = (x: number) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;
  const xLabel = options.xLabel ?? fmtDefault;
  const yLabel = options.yLabel ?? fmtDefault;
  const parts: string[] = [];
  for (const t of niceTicks(y0, y1)) parts.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#eee"/><text x="${MARGIN.left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="10" text-anchor="end">${escapeHtml(yLabel(t))}</text>`);
  for (const t of niceTicks(x0, x1, 6)) parts.push(`<line x1="${px(t).toFixed(1)}" x2="${px(t).toFixed(1)}" y1="${height - MARGIN.bottom}" y2="${height - MARGIN.bottom + 4}" stroke="#999"/><text x="${px(t).toFixed(1)}" y="${height - MARGIN.bottom + 16}" font-size="10" text-anchor="middle">${escapeHtml(xLabel(t))}</text>`);
  parts.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#bbb"/>`);
  if (options.zeroLine && y0 < 0 && y1 > 0) parts.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py(0).toFixed(1)}" y2="${py(0).toFixed(1)}" stroke="#888" stroke-dasharray="2 2"/>`);
  const maxPoints = options.maxPoints ?? 800;
  options.series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    const segments: string[][] = [[]];
    for (const i of thin(Math.min(s.x.length, s.y.length), maxPoints)) {
      if (!Number.isFinite(s.x[i]) || !Number.isFinite(s.y[i])) {
        if (segments[segments.length - 1].length > 0) segments.push([]);
        continue;
      }
      segments[segments.length - 1].push(`${px(s.x[i]).toFixed(1)},${py(s.y[i]).toFixed(1)}`);
    }
    for (const seg of segments.filter((p) => p.length > 0)) {
      if (s.area) {
        const base = py(Math.max(y0, Math.min(y1, 0))).toFixed(1);
        const first = seg[0].split(',')[0];
        const last = seg[seg.length - 1].split(',')[0];
        parts.push(`<polygon points="${first},${base} ${seg.join(' ')} ${last},${base}" fill="${color}" fill-opacity="0.25" stroke="none"/>`);
      }
      parts.push(`<polyline class="series" data-series="${escapeHtml(s.name)}" points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    }
  });
  parts.push(legend(options.series.map((s, k) => ({ name: s.name, color: s.color ?? PALETTE[k % PALETTE.length], dashed: s.dashed })), MARGIN.left, height - 8));
  return frame(width, height, options.title, 'line', parts.join(''));
}

export interface BarChartOptions {
  title: string;
  categories: string[];
  series: Array<{ name: string; values: ArrayLike<number>; color?: string }>;
  width?: number;
  height?: number;
  yLabel?: (y: number) => string;
  yDomain?: [number, number];
}

/** Grouped vertical bars, one group per category; bars grow from 0 (negative values downwards). */
export function barChart(options: BarChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 260;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const values = options.series.flatMap((s) => Array.from(s.values)).filter(Number.isFinite);
  if (values.length === 0 || options.categories.length === 0) return frame(width, height, options.title, 'bar', `<text x="${width / 2}" y="${height / 2}" text-anchor="middle" font-size="12" fill="#666">no data</text>`);
  const [y0, top] = options.yDomain ?? [Math.min(0, ...values), Math.max(0, ...values)];
  const y1 = top === y0 ? y0 + 1 : top;
  const py = (y: number) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotH;
  const yLabel = options.yLabel ?? fmtDefault;
  const group = plotW / options.categories.length;
  const barW = Math.max(1, (group * 0.8) / options.series.length);
  const parts: string[] = [];
  for (const t of niceTicks(y0, y1)) parts.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#eee"/><text x="${MARGIN.left - 6}" y="${(py(t) + 4).toFixed(1)}" font-size="10" text-anchor="end">${escapeHtml(yLabel(t))}</text>`);
  const every = Math.max(1, Math.ceil(options.categories.length / 12));
  options.categories.forEach((c, i) => {
    const gx = MARGIN.left + i * group + group * 0.1;
    options.series.forEach((s, k) => {
      const v = s.values[i];
      if (!Number.isFinite(v)) return;
      const top = py(Math.max(0, v));
      const h = Math.abs(py(v) - py(0));
      parts.push(`<rect class="bar" x="${(gx + k * barW).toFixed(1)}" y="${top.toFixed(1)}" width="${(barW - 0.5).toFixed(1)}" height="${Math.max(0.5, h).toFixed(1)}" fill="${s.color ?? PALETTE[k % PALETTE.length]}"><title>${escapeHtml(`${s.name} ${c}: ${yLabel(v)}`)}</title></rect>`);
    });
    if (i % every === 0) parts.push(`<text x="${(gx + group * 0.4).toFixed(1)}" y="${height - MARGIN.bottom + 14}" font-size="10" text-anchor="middle">${escapeHtml(c)}</text>`);
  });
  parts.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py(0).toFixed(1)}" y2="${py(0).toFixed(1)}" stroke="#888"/>`);
  parts.push(legend(options.series.map((s, k) => ({ name: s.name, color: s.color ?? PALETTE[k % PALETTE.length] })), MARGIN.left, height - 8));
  return frame(width, height, options.title, 'bar', parts.join(''));
}

/** Horizontal bars with their labels (feature importance), largest first as given. */
export function horizontalBars(options: { title: string; labels: string[]; values: ArrayLike<number>; width?: number; valueLabel?: (v: number) => string }): string {
  const width = options.width ?? 720;
  const rowH = 18;
  const height = Math.max(120, MARGIN.top + options.labels.length * rowH + 16);
  const labelW = 220;
  const finite = Array.from(options.values).filter(Number.isFinite);
  const max = Math.max(1e-12, ...finite.map(Math.abs));
  const plotW = width - labelW - 80;
  const fmt = options.valueLabel ?? fmtDefault;
  const parts = options.labels.map((label, i) => {
    const v = options.values[i];
    const y = MARGIN.top + i * rowH;
    const w = Number.isFinite(v) ? (Math.abs(v) / max) * plotW : 0;
    return `<text x="${labelW - 6}" y="${y + 13}" font-size="11" text-anchor="end">${escapeHtml(label)}</text><rect class="bar" x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="${v < 0 ? PALETTE[3] : PALETTE[0]}"/><text x="${(labelW + w + 4).toFixed(1)}" y="${y + 13}" font-size="10">${escapeHtml(Number.isFinite(v) ? fmt(v) : '-')}</text>`;
  });
  return frame(width, height, options.title, 'hbar', parts.join(''));
}

/** A matrix of counts with shaded cells (confusion matrix): rows are true classes, columns predicted. */
export function matrixChart(options: { title: string; rowLabels: string[]; columnLabels: string[]; values: ArrayLike<number>; rowTitle?: string; columnTitle?: string }): string {
  const n = options.rowLabels.length;
  const m = options.columnLabels.length;
  const cell = 64;
  const left = 120;
  const top = 56;
  const width = left + m * cell + 20;
  const height = top + n * cell + 20;
  const max = Math.max(1, ...Array.from(options.values).filter(Number.isFinite));
  const parts: string[] = [];
  if (options.columnTitle) parts.push(`<text x="${left + (m * cell) / 2}" y="32" font-size="11" text-anchor="middle">${escapeHtml(options.columnTitle)}</text>`);
  options.columnLabels.forEach((c, j) => parts.push(`<text x="${left + j * cell + cell / 2}" y="${top - 6}" font-size="11" text-anchor="middle">${escapeHtml(c)}</text>`));
  options.rowLabels.forEach((r, i) => {
    parts.push(`<text x="${left - 8}" y="${top + i * cell + cell / 2 + 4}" font-size="11" text-anchor="end">${escapeHtml(options.rowTitle ? `${options.rowTitle} ${r}` : r)}</text>`);
    options.columnLabels.forEach((_, j) => {
      const v = options.values[i * m + j];
      const shade = Number.isFinite(v) ? v / max : 0;
      parts.push(`<rect class="cell" x="${left + j * cell}" y="${top + i * cell}" width="${cell - 2}" height="${cell - 2}" fill="rgba(31,119,180,${(0.1 + 0.8 * shade).toFixed(2)})"/><text x="${left + j * cell + cell / 2}" y="${top + i * cell + cell / 2 + 4}" font-size="12" text-anchor="middle">${escapeHtml(Number.isFinite(v) ? String(Math.round(v)) : '-')}</text>`);
    });
  });
  return frame(width, height, options.title, 'matrix', parts.join(''));
}

// A tiny SVG line plot (axes, "nice" ticks, legend), for loss curves. No dependencies; the output is
// standalone, well-formed XML.

export interface PlotSeries {
  name: string;
  /** [x, y] points; non-finite ys are skipped. */
  points: [number, number][];
  /** CSS colour (default from a small palette). */
  color?: string;
  /** Draw a dot at each point (default: only when the series has <= 50 points). */
  markers?: boolean;
}

export interface PlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (all ys must be > 0; others are dropped). */
  logY?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

export function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** About `count` round tick values covering [lo, hi] (1, 2, 5 × 10^k steps). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const d = Math.abs(lo) * 0.1 || 1;
    lo -= d;
    hi += d;
  }
  const raw = (hi - lo) / Math.max(1, count);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function fmt(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(4)));
}

function num(v: number): string {
  return (Math.round(v * 100) / 100).toString();
}

/** An SVG document with one line per series. */
export function linePlotSvg(series: PlotSeries[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 720;
  const H = opts.height ?? 420;
  const m = { left: 64, right: 20, top: opts.title ? 36 : 16, bottom: 48 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const ty = (y: number) => (opts.logY ? Math.log10(y) : y);
  const clean = series.map((s) => ({
    ...s,
    points: s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!opts.logY || y > 0)),
  }));
  const xs = clean.flatMap((s) => s.points.map((p) => p[0]));
  const ys = clean.flatMap((s) => s.points.map((p) => ty(p[1])));
  let [x0, x1] = xs.length ? [Math.min(...xs), Math.max(...xs)] : [0, 1];
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - (Math.abs(y0) * 0.1 || 1), y1 + (Math.abs(y1) * 0.1 || 1)];
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + ph - ((ty(y) - y0) / (y1 - y0)) * ph;
  const syRaw = (v: number) => m.top + ph - ((v - y0) / (y1 - y0)) * ph;

  const out: string[] = [];
  out.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  if (opts.title) out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`);
  // grid + ticks
  out.push(`<g stroke="#e5e5e5" stroke-width="1">`);
  const xt = niceTicks(x0, x1, 6).filter((v) => v >= x0 && v <= x1);
  const ytRaw = niceTicks(y0, y1, 5).filter((v) => v >= y0 && v <= y1);
  for (const v of xt) out.push(`<line x1="${num(sx(v))}" y1="${m.top}" x2="${num(sx(v))}" y2="${m.top + ph}"/>`);
  for (const v of ytRaw) out.push(`<line x1="${m.left}" y1="${num(syRaw(v))}" x2="${m.left + pw}" y2="${num(syRaw(v))}"/>`);
  out.push(`</g>`);
  out.push(`<g stroke="#333" stroke-width="1" fill="none"><rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}"/></g>`);
  out.push(`<g fill="#333">`);
  for (const v of xt) out.push(`<text x="${num(sx(v))}" y="${m.top + ph + 16}" text-anchor="middle">${escapeXml(fmt(v))}</text>`);
  for (const v of ytRaw)
    out.push(`<text x="${m.left - 6}" y="${num(syRaw(v) + 4)}" text-anchor="end">${escapeXml(fmt(opts.logY ? 10 ** v : v))}</text>`);
  if (opts.xLabel) out.push(`<text x="${m.left + pw / 2}" y="${H - 10}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  if (opts.yLabel)
    out.push(`<text x="14" y="${m.top + ph / 2}" text-anchor="middle" transform="rotate(-90 14 ${m.top + ph / 2})">${escapeXml(opts.yLabel)}</text>`);
  out.push(`</g>`);
  // lines
  clean.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length]);
    if (s.points.length === 0) return;
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${num(sx(x))},${num(sy(y))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    if (s.markers ?? s.points.length <= 50)
      for (const [x, y] of s.points) out.push(`<circle cx="${num(sx(x))}" cy="${num(sy(y))}" r="2.5" fill="${color}"/>`);
  });
  // legend
  const named = clean.filter((s) => s.name);
  if (named.length) {
    const lw = 14 + Math.max(...named.map((s) => s.name.length)) * 7 + 24;
    const lx = m.left + pw - lw - 8;
    out.push(`<g><rect x="${lx}" y="${m.top + 8}" width="${lw}" height="${named.length * 18 + 8}" fill="white" stroke="#999"/>`);
    named.forEach((s, i) => {
      const color = escapeXml(s.color ?? PALETTE[clean.indexOf(s) % PALETTE.length]);
      const y = m.top + 8 + 14 + i * 18;
      out.push(`<line x1="${lx + 8}" y1="${y - 4}" x2="${lx + 28}" y2="${y - 4}" stroke="${color}" stroke-width="2"/>`);
      out.push(`<text x="${lx + 34}" y="${y}" fill="#333">${escapeXml(s.name)}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join('\n') + '\n';
}

// A terminal progress line for long work: count/total, rate, ETA and free-form metrics. On a TTY it
// redraws one line; otherwise (CI, pipes) it prints a plain line at most every `intervalMs`.

export interface ProgressOptions {
  /** Label before the bar, e.g. 'pretrain'. */
  label: string;
  total?: number;
  /** Unit of the rate, e.g. 'tok' gives 'tok/s'. */
  unit?: string;
  /** Where to write (default process.stderr). */
  stream?: NodeJS.WriteStream;
  /** Minimum milliseconds between non-TTY lines (default 5000). */
  intervalMs?: number;
  /** Do not print anything (tests). */
  silent?: boolean;
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export function formatMetric(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return v.toExponential(2);
  return Number.isInteger(v) ? String(v) : v.toFixed(a < 1 ? 4 : 3);
}

export class Progress {
  private readonly start = Date.now();
  private lastPrint = 0;
  private done = 0;
  private amount = 0;
  private metrics: Record<string, number | string> = {};
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = !!this.stream.isTTY;
  }

  /** Marks `steps` more steps done, `amount` more units processed (for the rate), and new metrics. */
  tick(steps = 1, amount = 0, metrics: Record<string, number | string> = {}): void {
    this.done += steps;
    this.amount += amount;
    Object.assign(this.metrics, metrics);
    const now = Date.now();
    const final = this.opts.total !== undefined && this.done >= this.opts.total;
    if (this.tty ? now - this.lastPrint >= 100 || final : now - this.lastPrint >= (this.opts.intervalMs ?? 5000) || final) {
      this.lastPrint = now;
      this.print(false);
    }
  }

  line(): string {
    const el = (Date.now() - this.start) / 1000;
    const { total, unit, label } = this.opts;
    const parts = [label];
    if (total !== undefined) {
      const frac = total > 0 ? Math.min(1, this.done / total) : 1;
      const width = 20;
      const fill = Math.round(frac * width);
      parts.push(`[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${total}`);
      const eta = this.done > 0 ? (el / this.done) * (total - this.done) : NaN;
      parts.push(`eta ${fmtDuration(eta)}`);
    } else parts.push(String(this.done));
    if (unit && el > 0) parts.push(`${formatMetric(this.amount / el)} ${unit}/s`);
    for (const [k, v] of Object.entries(this.metrics)) parts.push(`${k} ${typeof v === 'number' ? formatMetric(v) : v}`);
    parts.push(fmtDuration(el));
    return parts.join('  ');
  }

  private print(end: boolean): void {
    if (this.opts.silent) return;
    const l = this.line();
    if (this.tty) this.stream.write(`\r\x1b[2K${l}${end ? '\n' : ''}`);
    else this.stream.write(l + '\n');
  }

  /** Prints the final state (and a newline on a TTY). */
  finish(metrics: Record<string, number | string> = {}): void {
    Object.assign(this.metrics, metrics);
    this.print(true);
  }
}

// AdamW optimizer over named f32 parameters: owns the moment buffers and the step count, applies
// global grad-norm clipping on the device (no host sync) and one fused adamw kernel per tensor.
import { Tensor } from '../tensor';
import { adamw } from '../ops/adamw';
import { clipGradNorm } from '../ops/gradNorm';

export interface AdamWConfig {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /**
   * Which parameters get weight decay. Default: matrices only (not norms, biases), as is usual for
   * transformers.
   */
  decay?: (name: string, param: Tensor) => boolean;
}

export interface StepOptions {
  /** Learning rate for this step (schedules pass it each step); default the configured lr. */
  lr?: number;
  /** Clip the global gradient norm to this value first (on the device). */
  maxGradNorm?: number;
}

export interface StepResult {
  /** f32 [] global gradient norm before clipping (only with maxGradNorm); read it with item(). */
  gradNorm?: Tensor;
}

export class AdamW {
  readonly config: Required<Omit<AdamWConfig, 'decay'>> & Pick<AdamWConfig, 'decay'>;
  private readonly m = new Map<string, Tensor>();
  private readonly v = new Map<string, Tensor>();
  /** Number of steps taken. */
  stepCount = 0;

  constructor(
    private readonly params: Map<string, Tensor>,
    config: AdamWConfig,
  ) {
    if (!(config.lr >= 0)) throw new RangeError(`AdamW: lr must be >= 0, got ${config.lr}`);
    this.config = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, ...config };
  }

  private state(map: Map<string, Tensor>, name: string, p: Tensor): Tensor {
    let t = map.get(name);
    if (!t) {
      t = Tensor.zeros(p.shape, { device: p.device });
      map.set(name, t);
    }
    return t;
  }

  /** Updates every parameter that has a gradient in `grads`, in place. */
  step(grads: Map<string, Tensor>, opts: StepOptions = {}): StepResult {
    const lr = opts.lr ?? this.config.lr;
    const named = [...this.params].filter(([name]) => grads.has(name));
    if (named.length === 0) throw new Error('AdamW.step: no parameter has a gradient');
    let clip: { norm: Tensor; scale: Tensor } | undefined;
    if (opts.maxGradNorm !== undefined) clip = clipGradNorm(named.map(([n]) => grads.get(n)!), opts.maxGradNorm);
    this.stepCount++;
    const decay = this.config.decay ?? ((_: string, p: Tensor) => p.ndim >= 2);
    for (const [name, p] of named) {
      adamw(p, grads.get(name)!, this.state(this.m, name, p), this.state(this.v, name, p), {
        lr,
        beta1: this.config.beta1,
        beta2: this.config.beta2,
        eps: this.config.eps,
        weightDecay: decay(name, p) ? this.config.weightDecay : 0,
        step: this.stepCount,
        gradScale: clip?.scale,
      });
    }
    clip?.scale.dispose();
    return { gradNorm: clip?.norm };
  }

  /** The moment buffers by name (for checkpoints): `${name}.exp_avg` / `${name}.exp_avg_sq`. */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const [n, t] of this.m) out.set(`${n}.exp_avg`, t);
    for (const [n, t] of this.v) out.set(`${n}.exp_avg_sq`, t);
    return out;
  }

  /**
   * Restores moment buffers saved from stateTensors() (names `${param}.exp_avg` / `.exp_avg_sq`) and the
   * step count, e.g. when resuming from a checkpoint. The tensors are copied to the parameters' device
   * (as f32); every name must match a parameter of the same shape.
   */
  loadState(tensors: Map<string, Tensor>, stepCount: number): void {
    if (!Number.isSafeInteger(stepCount) || stepCount < 0) throw new RangeError(`AdamW.loadState: bad step count ${stepCount}`);
    const next: [Map<string, Tensor>, string, Tensor][] = [];
    try {
      for (const [key, t] of tensors) {
        const m = /^(.*)\.(exp_avg|exp_avg_sq)$/.exec(key);
        const p = m ? this.params.get(m[1]) : undefined;
        if (!m || !p) throw new Error(`AdamW.loadState: "${key}" is not the state of a parameter`);
        if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i]))
          throw new RangeError(`AdamW.loadState: "${key}" has shape [${t.shape}], its parameter [${p.shape}]`);
        const f = t.dtype === 'f32' ? (t.device === p.device ? t.clone() : t.to(p.device)) : undefined;
        if (!f) throw new TypeError(`AdamW.loadState: "${key}" must be f32, got ${t.dtype}`);
        next.push([m[2] === 'exp_avg' ? this.m : this.v, m[1], f]);
      }
    } catch (e) {
      for (const [, , t] of next) t.dispose();
      throw e;
    }
    this.dispose();
    for (const [map, name, t] of next) map.set(name, t);
    this.stepCount = stepCount;
  }

  dispose(): void {
    for (const t of [...this.m.values(), ...this.v.values()]) t.dispose();
    this.m.clear();
    this.v.clear();
  }
}

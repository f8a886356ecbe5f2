// Learning-rate schedule: linear warmup, then cosine decay to a floor.

export interface LrSchedule {
  /** Peak learning rate (reached at the end of warmup). */
  lr: number;
  /** Floor of the cosine decay (default lr / 10). */
  minLr?: number;
  /** Steps of linear warmup from lr / warmupSteps up to lr. */
  warmupSteps: number;
  /** Total optimizer steps (the cosine reaches minLr at the last one). */
  totalSteps: number;
}

/** The learning rate of optimizer step `step` (0-based). */
export function lrAt(step: number, s: LrSchedule): number {
  const minLr = s.minLr ?? s.lr / 10;
  if (step < s.warmupSteps) return (s.lr * (step + 1)) / s.warmupSteps;
  const span = s.totalSteps - s.warmupSteps;
  if (span <= 1) return s.lr;
  const p = Math.min(1, (step - s.warmupSteps) / (span - 1));
  return minLr + 0.5 * (s.lr - minLr) * (1 + Math.cos(Math.PI * p));
}

// Summary statistics of repeated runs: mean and sample standard deviation (n − 1), as the paper's
// tables report "mean ± std" over seeds.

export interface Summary {
  n: number;
  mean: number;
  /** Sample standard deviation (n − 1 in the denominator); 0 for a single value. */
  std: number;
  min: number;
  max: number;
}

export function mean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('mean of no values');
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample standard deviation; 0 for fewer than two values. */
export function std(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const m = mean(values);
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / (values.length - 1));
}

export function summarize(values: readonly number[]): Summary {
  return { n: values.length, mean: mean(values), std: std(values), min: Math.min(...values), max: Math.max(...values) };
}

/** "89.12 ± 0.34": `scale` multiplies both (100 for accuracies in [0, 1] shown as percent). */
export function formatMeanStd(s: Pick<Summary, 'mean' | 'std'>, digits = 2, scale = 1): string {
  return `${(s.mean * scale).toFixed(digits)} ± ${(s.std * scale).toFixed(digits)}`;
}

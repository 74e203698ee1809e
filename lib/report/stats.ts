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

/** Student's t, 97.5% quantile, for 1 … 30 degrees of freedom (beyond: the normal's 1.96). */
const T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/**
 * The 95% confidence interval of the mean of `values` (Student's t with n − 1 degrees of freedom),
 * clipped to `range` (an accuracy cannot pass 100%); a single value is its own interval.
 */
export function interval95(values: readonly number[], range: readonly [number, number] = [-Infinity, Infinity]): { mean: number; lo: number; hi: number } {
  const m = mean(values);
  const n = values.length;
  const half = n < 2 ? 0 : ((T975[n - 2] ?? 1.96) * std(values)) / Math.sqrt(n);
  return { mean: m, lo: Math.max(range[0], m - half), hi: Math.min(range[1], m + half) };
}

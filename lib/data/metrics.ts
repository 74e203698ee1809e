// Classification metrics over predicted and true class indices, as scikit-learn computes them:
// accuracy, binary F1 (the positive class 1; 0 when there is no true or predicted positive, as
// sklearn's zero_division=0) and Matthews correlation (0 when a marginal is empty, as sklearn).
type Labels = ArrayLike<number>;

function check(pred: Labels, target: Labels, where: string): void {
  if (pred.length !== target.length) throw new RangeError(`${where}: ${pred.length} predictions for ${target.length} targets`);
  if (pred.length === 0) throw new RangeError(`${where}: no examples`);
}

export function accuracy(pred: Labels, target: Labels): number {
  check(pred, target, 'accuracy');
  let c = 0;
  for (let i = 0; i < pred.length; i++) if (pred[i] === target[i]) c++;
  return c / pred.length;
}

/** The binary confusion counts for `positive`. */
export function confusion(pred: Labels, target: Labels, positive = 1): { tp: number; fp: number; fn: number; tn: number } {
  let tp = 0, fp = 0, fn = 0, tn = 0;
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i] === positive, t = target[i] === positive;
    if (p && t) tp++;
    else if (p) fp++;
    else if (t) fn++;
    else tn++;
  }
  return { tp, fp, fn, tn };
}

/** F1 of the positive class: 2·TP / (2·TP + FP + FN). */
export function f1Score(pred: Labels, target: Labels, positive = 1): number {
  check(pred, target, 'f1Score');
  const { tp, fp, fn } = confusion(pred, target, positive);
  const d = 2 * tp + fp + fn;
  return d === 0 ? 0 : (2 * tp) / d;
}

/**
 * Matthews correlation coefficient, multiclass (Gorodkin's R_K, which sklearn computes; for two
 * classes (TP·TN − FP·FN) / √((TP+FP)(TP+FN)(TN+FP)(TN+FN))). 0 when the denominator is 0.
 */
export function matthewsCorrcoef(pred: Labels, target: Labels): number {
  check(pred, target, 'matthewsCorrcoef');
  const n = pred.length;
  const tk = new Map<number, number>(); // true counts per class
  const pk = new Map<number, number>(); // predicted counts per class
  let c = 0;
  for (let i = 0; i < n; i++) {
    const p = pred[i] as number, t = target[i] as number;
    tk.set(t, (tk.get(t) ?? 0) + 1);
    pk.set(p, (pk.get(p) ?? 0) + 1);
    if (p === t) c++;
  }
  let tp = 0, tt = 0, pp = 0;
  for (const [k, v] of tk) {
    tt += v * v;
    tp += v * (pk.get(k) ?? 0);
  }
  for (const v of pk.values()) pp += v * v;
  const d = Math.sqrt(n * n - pp) * Math.sqrt(n * n - tt);
  return d === 0 ? 0 : (c * n - tp) / d;
}

export type MetricName = 'accuracy' | 'f1' | 'mcc';

export const METRICS: Record<MetricName, { title: string; fn: (pred: Labels, target: Labels) => number }> = {
  accuracy: { title: 'accuracy', fn: accuracy },
  f1: { title: 'F1', fn: f1Score },
  mcc: { title: 'Matthews correlation', fn: matthewsCorrcoef },
};

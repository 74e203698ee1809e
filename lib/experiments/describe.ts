// Short names of a configuration's model, data and method for tables and chart titles.
import type { TrainConfig } from '../train/config';

const DATA: Record<string, string> = {
  'fashion-mnist': 'Fashion-MNIST',
  mnist: 'MNIST',
  cifar10: 'CIFAR-10',
  cifar100: 'CIFAR-100',
  'glue-cola': 'CoLA',
  'glue-mrpc': 'MRPC',
  'glue-sst2': 'SST-2',
  'glue-qqp': 'QQP',
};

export const dataName = (c: TrainConfig): string => DATA[c.data.name] ?? c.data.name;

export function modelName(c: TrainConfig): string {
  const o = c.model.options;
  if (c.model.name === 'wideResNet') return `WRN-${String(o['depth'] ?? 28)}-${String(o['widen'] ?? 10)}`;
  if (c.model.name === 'smallCnn' && o['width'] !== undefined) return `smallCnn (width ${String(o['width'])})`;
  return c.model.name;
}

export const METHOD_NAMES = { vanilla: 'Vanilla', sam: 'SAM', msam: 'mSAM' } as const;

/** "3 epochs of 128, 60000 training examples": the budget a table was measured with. */
export function budget(c: TrainConfig): string {
  const parts = [`${c.epochs} epoch${c.epochs === 1 ? '' : 's'}`, `batch ${c.batchSize}`, `ρ = ${c.rho}`];
  if (c.data.trainLimit !== undefined) parts.push(`first ${c.data.trainLimit} training examples`);
  if (c.data.labelNoise > 0) parts.push(`${+(100 * c.data.labelNoise).toFixed(2)}% label noise`);
  if (c.data.testLimit !== undefined) parts.push(`first ${c.data.testLimit} test examples`);
  return parts.join(', ');
}

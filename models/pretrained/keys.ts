// Mapping a checkpoint's keys onto an msam model's, both ways, and the load report.
//
// A rule says which checkpoint tensors make one msam tensor: usually one, renamed; several
// concatenated along dim 0 where msam keeps one fused tensor (attention's in_proj_weight from
// query, key and value). The whole load is planned and checked first (shapes, missing and
// unexpected keys, strict) and only then copied, so a refused checkpoint changes nothing.
import { noGrad } from '../../lib/autograd';
import type * as nn from '../../lib/nn';
import { cat, type Tensor } from '../../lib/tensor';
import { PretrainedError } from './errors';

export interface KeyRule {
  /** The msam parameter or buffer. */
  target: string;
  /** The checkpoint keys it is made of, concatenated along dim 0 when several. */
  sources: string[];
  /** A classification-head tensor: with a head swap it is re-initialized instead of loaded. */
  head?: boolean;
}

/** What a load did, in the checkpoint's key names (those of the layout the model saves back in). */
export interface LoadReport {
  /** Keys the model needs that the checkpoint lacks (as transformers' missing_keys). */
  missing: string[];
  /** Checkpoint keys the model does not use (as transformers' unexpected_keys). */
  unexpected: string[];
  /** Keys left at their fresh initialization: the missing ones and a swapped head's (as missing_keys ∪ mismatched_keys). */
  reinitialized: string[];
}

export interface ApplyOptions {
  /** Re-initialize head tensors whose shape differs (numClasses given). */
  headSwap: boolean;
  strict: boolean;
  /** Checkpoint keys that are neither used nor reported (buffers a library recomputes, e.g. position_ids). */
  ignore?: RegExp[];
  /** For messages. */
  where: string;
}

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/**
 * Loads `tensors` into `model` by `rules`. Throws a PretrainedError (SHAPE_MISMATCH naming every
 * tensor that disagrees, or KEY_MISMATCH under strict naming every missing, unexpected and
 * re-initialized key) before copying anything.
 */
export function applyRules(model: nn.Module, rules: KeyRule[], tensors: Map<string, Tensor>, opts: ApplyOptions): LoadReport {
  const own = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  const used = new Set<string>();
  const missing: string[] = [];
  const reinitialized: string[] = [];
  const mismatched: string[] = [];
  const plan: [Tensor, Tensor[]][] = [];
  for (const rule of rules) {
    const target = own.get(rule.target);
    if (target === undefined) throw new Error(`fromPretrained: internal: no msam tensor '${rule.target}'`);
    const found = rule.sources.map((k) => tensors.get(k));
    rule.sources.forEach((k, i) => found[i] !== undefined && used.add(k));
    if (found.some((t) => t === undefined)) {
      const absent = rule.sources.filter((_, i) => found[i] === undefined);
      missing.push(...absent);
      reinitialized.push(...absent);
      continue;
    }
    const parts = found as Tensor[];
    const shape = [parts.reduce((n, t) => n + (t.shape[0] ?? 1), 0), ...(parts[0] as Tensor).shape.slice(1)];
    const sameRest = parts.every((t) => t.ndim === (parts[0] as Tensor).ndim && t.shape.slice(1).every((d, i) => d === (parts[0] as Tensor).shape[i + 1]));
    const ok = sameRest && shape.length === target.shape.length && shape.every((d, i) => d === target.shape[i]) && (parts.length > 1 || (parts[0] as Tensor).ndim === target.ndim);
    if (!ok) {
      if (rule.head === true && opts.headSwap) {
        reinitialized.push(...rule.sources);
        continue;
      }
      const got = parts.map((t) => shapeText(t.shape)).join(' + ');
      mismatched.push(`${rule.sources.join(' + ')}: ${got} where the configuration makes ${shapeText(target.shape)}`);
      continue;
    }
    plan.push([target, parts]);
  }
  const ignore = opts.ignore ?? [];
  const unexpected = [...tensors.keys()].filter((k) => !used.has(k) && !ignore.some((r) => r.test(k))).sort();
  if (mismatched.length) {
    throw new PretrainedError('SHAPE_MISMATCH', opts.where, `the checkpoint's shapes disagree with its configuration: ${mismatched.join('; ')}`);
  }
  const report: LoadReport = { missing: missing.sort(), unexpected, reinitialized: [...new Set(reinitialized)].sort() };
  if (opts.strict && (report.missing.length || report.unexpected.length || report.reinitialized.length)) {
    const parts = [
      report.missing.length ? `missing ${report.missing.join(', ')}` : '',
      report.unexpected.length ? `unexpected ${report.unexpected.join(', ')}` : '',
      report.reinitialized.length ? `re-initialized ${report.reinitialized.join(', ')}` : '',
    ].filter(Boolean);
    throw new PretrainedError('KEY_MISMATCH', opts.where, `strict: the checkpoint does not match the model: ${parts.join('; ')} (numClasses swaps the head; strict: false accepts the rest)`);
  }
  noGrad(() => {
    for (const [target, parts] of plan) {
      if (parts.length === 1) target.copy_(parts[0] as Tensor);
      else {
        const joined = cat(parts, 0);
        target.copy_(joined);
        joined.dispose();
      }
    }
  });
  return report;
}

/** The model's tensors in the checkpoint's layout: each rule's target, split back into its sources. */
export function exportRules(model: nn.Module, rules: KeyRule[]): Record<string, Tensor> {
  const own = new Map([...model.namedParameters(), ...model.namedBuffers()]);
  const out: Record<string, Tensor> = {};
  for (const rule of rules) {
    const t = (own.get(rule.target) as Tensor).detach();
    if (rule.sources.length === 1) out[rule.sources[0] as string] = t;
    else {
      const pieces = t.chunk(rule.sources.length, 0);
      rule.sources.forEach((k, i) => (out[k] = (pieces[i] as Tensor).contiguous()));
      t.dispose();
    }
  }
  return out;
}

// RoBERTa (transformers' RobertaModel / RobertaForSequenceClassification / RobertaForMaskedLM
// checkpoints) as msam's textClassifier with RoBERTa's embeddings (models/text.ts `roberta`).
//
// transformers                                         msam
//   [roberta.]embeddings.{word,position,token_type}_embeddings, LayerNorm   embeddings.* (same)
//   [roberta.]encoder.layer.i.attention.self.{query,key,value}  encoder.layers.i.self_attn.in_proj_{weight,bias} (concatenated)
//   ….attention.output.dense / .LayerNorm               ….self_attn.out_proj / norm1
//   ….intermediate.dense / ….output.dense / .LayerNorm  ….linear1 / linear2 / norm2
//   classifier.{dense,out_proj}                         classifier.{dense,out_proj}
// Both are post-norm with exact GELU, so the forward is the same arithmetic; the pooler
// (RobertaModel) and lm_head (RobertaForMaskedLM) are not used by sequence classification and are
// reported unexpected, as transformers reports them.
import type * as nn from '../../lib/nn';
import type { Tensor } from '../../lib/tensor';
import { textClassifier } from '../text';
import { ConfigReader } from './config';
import { PretrainedError } from './errors';
import type { KeyRule } from './keys';

export interface RobertaSpec {
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  maxPositions: number;
  typeVocabSize: number;
  padTokenId: number;
  layerNormEps: number;
  hiddenDropout: number;
  attentionDropout: number;
  classifierDropout: number;
  initializerRange: number;
  /** The checkpoint's head size (num_labels), or null when it has no classifier. */
  numLabels: number | null;
}

/** The spec of a config.json (a RoBERTa one). */
export function robertaSpec(config: Record<string, unknown>, where: string): RobertaSpec {
  const c = new ConfigReader(config, where);
  c.only('position_embedding_type', 'absolute', ['absolute']);
  c.only('hidden_act', 'gelu', ['gelu']);
  if (config['is_decoder'] === true) throw new PretrainedError('UNKNOWN_ARCH', where, 'config.json: is_decoder is true; msam builds RoBERTa encoders only');
  const hiddenDropout = c.number('hidden_dropout_prob', 0.1, 0, 1);
  const numHeads = c.int('num_attention_heads');
  const hiddenSize = c.int('hidden_size');
  if (hiddenSize % numHeads !== 0) throw new PretrainedError('BAD_CONFIG', where, `config.json: num_attention_heads (${numHeads}) does not divide hidden_size (${hiddenSize})`);
  const archs = Array.isArray(config['architectures']) ? (config['architectures'] as unknown[]) : [];
  const hasHead = archs.includes('RobertaForSequenceClassification');
  const labels = config['id2label'] !== undefined && typeof config['id2label'] === 'object' ? Object.keys(config['id2label'] as object).length : c.int('num_labels', 2);
  return {
    vocabSize: c.int('vocab_size'),
    hiddenSize,
    numLayers: c.int('num_hidden_layers'),
    numHeads,
    intermediateSize: c.int('intermediate_size'),
    maxPositions: c.int('max_position_embeddings', 514),
    typeVocabSize: c.int('type_vocab_size', 1),
    padTokenId: c.int('pad_token_id', 1, 0),
    layerNormEps: c.number('layer_norm_eps', 1e-12, Number.MIN_VALUE, 1),
    hiddenDropout,
    attentionDropout: c.number('attention_probs_dropout_prob', 0.1, 0, 1),
    classifierDropout: config['classifier_dropout'] == null ? hiddenDropout : c.number('classifier_dropout', 0.1, 0, 1),
    initializerRange: c.number('initializer_range', 0.02, 0, Infinity),
    numLabels: hasHead ? labels : null,
  };
}

/**
 * A spec from a bare state dict's shapes (a single .safetensors file): everything but the number
 * of heads shows in the shapes; that comes from `config.num_attention_heads`, else hidden / 64
 * (RoBERTa-base and -large). Other config.json fields may be given in `config`.
 */
export function robertaSpecFromTensors(tensors: Map<string, Tensor>, config: Record<string, unknown>, where: string): { spec: RobertaSpec; config: Record<string, unknown> } {
  const prefix = robertaPrefix(tensors);
  const shape = (k: string): readonly number[] => {
    const t = tensors.get(prefix + k);
    if (t === undefined) throw new PretrainedError('UNKNOWN_ARCH', where, `not a RoBERTa state dict: no '${prefix + k}'`);
    return t.shape;
  };
  const [vocab, hidden] = shape('embeddings.word_embeddings.weight') as [number, number];
  let layers = 0;
  while (tensors.has(`${prefix}encoder.layer.${layers}.attention.self.query.weight`)) layers++;
  const out = tensors.get('classifier.out_proj.weight');
  const inferred: Record<string, unknown> = {
    vocab_size: vocab,
    hidden_size: hidden,
    num_hidden_layers: layers,
    num_attention_heads: hidden % 64 === 0 ? hidden / 64 : undefined,
    intermediate_size: shape('encoder.layer.0.intermediate.dense.weight')[0],
    max_position_embeddings: shape('embeddings.position_embeddings.weight')[0],
    type_vocab_size: tensors.get(prefix + 'embeddings.token_type_embeddings.weight')?.shape[0] ?? 1,
    pad_token_id: 1,
    layer_norm_eps: 1e-5,
    ...(out !== undefined ? { architectures: ['RobertaForSequenceClassification'], num_labels: out.shape[0] } : { architectures: ['RobertaModel'] }),
    model_type: 'roberta',
    ...config,
  };
  if (inferred['num_attention_heads'] === undefined) {
    throw new PretrainedError('BAD_OPTION', where, `the number of heads does not show in the weights and hidden size ${hidden} is no multiple of 64: give options.config.num_attention_heads`);
  }
  return { spec: robertaSpec(inferred, where), config: inferred };
}

/** 'roberta.' when the checkpoint is a model with a head (its encoder under roberta.), else ''. */
export function robertaPrefix(tensors: Map<string, Tensor>): string {
  for (const k of tensors.keys()) if (k.startsWith('roberta.')) return 'roberta.';
  return '';
}

export function buildRoberta(spec: RobertaSpec, numClasses: number): nn.Sequential {
  return textClassifier({
    vocabSize: spec.vocabSize,
    maxPositions: spec.maxPositions,
    hiddenDim: spec.hiddenSize,
    numLayers: spec.numLayers,
    numHeads: spec.numHeads,
    mlpDim: spec.intermediateSize,
    numClasses,
    dropout: spec.hiddenDropout,
    attentionDropout: spec.attentionDropout,
    classifierDropout: spec.classifierDropout,
    paddingIdx: spec.padTokenId,
    roberta: true,
    typeVocabSize: spec.typeVocabSize,
    layerNormEps: spec.layerNormEps,
    initStd: spec.initializerRange,
  });
}

/** The rules from a checkpoint whose encoder keys start with `prefix`. */
export function robertaRules(numLayers: number, prefix: string): KeyRule[] {
  const rules: KeyRule[] = [];
  const same = (k: string): KeyRule => ({ target: k, sources: [prefix + k] });
  for (const e of ['word_embeddings', 'position_embeddings', 'token_type_embeddings']) rules.push(same(`embeddings.${e}.weight`));
  rules.push(same('embeddings.LayerNorm.weight'), same('embeddings.LayerNorm.bias'));
  for (let i = 0; i < numLayers; i++) {
    const hf = `${prefix}encoder.layer.${i}.`;
    const ms = `encoder.layers.${i}.`;
    for (const w of ['weight', 'bias']) {
      rules.push({ target: `${ms}self_attn.in_proj_${w}`, sources: ['query', 'key', 'value'].map((q) => `${hf}attention.self.${q}.${w}`) });
      rules.push({ target: `${ms}self_attn.out_proj.${w}`, sources: [`${hf}attention.output.dense.${w}`] });
      rules.push({ target: `${ms}norm1.${w}`, sources: [`${hf}attention.output.LayerNorm.${w}`] });
      rules.push({ target: `${ms}linear1.${w}`, sources: [`${hf}intermediate.dense.${w}`] });
      rules.push({ target: `${ms}linear2.${w}`, sources: [`${hf}output.dense.${w}`] });
      rules.push({ target: `${ms}norm2.${w}`, sources: [`${hf}output.LayerNorm.${w}`] });
    }
  }
  for (const l of ['dense', 'out_proj']) for (const w of ['weight', 'bias']) rules.push({ target: `classifier.${l}.${w}`, sources: [`classifier.${l}.${w}`], head: true });
  return rules;
}

/** Checkpoint keys transformers itself ignores: the position_ids buffer of older checkpoints. */
export const ROBERTA_IGNORE = [/(^|\.)embeddings\.position_ids$/];

/** config.json for the fine-tuned model: the original's, now a sequence classifier with numClasses labels. */
export function robertaSavedConfig(config: Record<string, unknown>, numClasses: number, dtype: string): Record<string, unknown> {
  const id2label = Object.fromEntries(Array.from({ length: numClasses }, (_, i) => [String(i), `LABEL_${i}`]));
  const keep = config['id2label'] !== undefined && Object.keys(config['id2label'] as object).length === numClasses;
  return {
    ...config,
    architectures: ['RobertaForSequenceClassification'],
    model_type: config['model_type'] ?? 'roberta',
    id2label: keep ? config['id2label'] : id2label,
    label2id: keep ? config['label2id'] : Object.fromEntries(Object.entries(id2label).map(([i, l]) => [l, Number(i)])),
    torch_dtype: dtype,
  };
}

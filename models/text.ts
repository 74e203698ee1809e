// A RoBERTa-base-shaped sequence classifier: token + learned position embeddings, LayerNorm,
// dropout, post-norm transformer encoder layers (GELU, PyTorch's nn.TransformerEncoderLayer names)
// that take the attention mask as a second input, then RoBERTa's classification head on token 0
// (<s>): dropout, dense, tanh, dropout, out_proj.
//
//   const model = models.textClassifier({ vocabSize: 50265 });
//   const logits = model.forward(ids, mask);   // ids [N, S] int64; mask [N, S], 0 = padding
//
// Keys: embeddings.{word_embeddings, position_embeddings, LayerNorm}, encoder.layers.{i}.{self_attn
// (in_proj_weight, in_proj_bias, out_proj), linear1, linear2, norm1, norm2}, classifier.{dense,
// out_proj}. Positions are 0..S-1 by default; `roberta: true` makes the embeddings RoBERTa's
// (positions from paddingIdx + 1 over the non-padding tokens, and token_type_embeddings), which
// models.fromPretrained uses to load Hugging Face's RoBERTa checkpoints (models/pretrained/).
import { noGrad } from '../lib/autograd';
import * as nn from '../lib/nn';
import { namedModules, normal_, ones_, ownParameters, zeros_ } from './init';
import { ModelOptions } from './options';

export interface TextClassifierOptions {
  /** Vocabulary size (required; 50265 for RoBERTa's BPE). */
  vocabSize: number;
  /** Longest sequence; default 514 (RoBERTa's). */
  maxPositions?: number;
  /** Default 768. */
  hiddenDim?: number;
  /** Default 12. */
  numLayers?: number;
  /** Default 12; must divide hiddenDim. */
  numHeads?: number;
  /** The feed-forward width; default 3072. */
  mlpDim?: number;
  /** Default 2. */
  numClasses?: number;
  /** Embedding, attention, feed-forward and head dropout; default 0.1. */
  dropout?: number;
  /** The padding token, whose embedding starts at zero; default 1 (RoBERTa's <pad>). */
  paddingIdx?: number;
  /**
   * RoBERTa's embeddings, as transformers' RobertaEmbeddings: positions paddingIdx + 1, + 2, … over
   * the non-padding tokens (so maxPositions − paddingIdx − 1 tokens at most) and a token-type
   * table of typeVocabSize rows whose row 0 every token gets. Default false.
   */
  roberta?: boolean;
  /** Rows of token_type_embeddings with `roberta`; default 1. */
  typeVocabSize?: number;
  /** Every LayerNorm's ε; default 1e-5. */
  layerNormEps?: number;
  /** Dropout on the attention weights; default `dropout`. */
  attentionDropout?: number;
  /** Dropout in the classification head; default `dropout`. */
  classifierDropout?: number;
  /** The standard deviation of the N(0, σ²) initialization; default 0.02 (transformers' initializer_range). */
  initStd?: number;
}

/** RoBERTa-base by default; small ones for tests and quick runs, e.g. { vocabSize: 1000, hiddenDim: 64, numLayers: 2, numHeads: 4, mlpDim: 128 }. */
export function textClassifier(options: TextClassifierOptions): nn.Sequential {
  const o = new ModelOptions<TextClassifierOptions>('textClassifier', options, [
    'vocabSize', 'maxPositions', 'hiddenDim', 'numLayers', 'numHeads', 'mlpDim', 'numClasses', 'dropout', 'paddingIdx',
    'roberta', 'typeVocabSize', 'layerNormEps', 'attentionDropout', 'classifierDropout', 'initStd',
  ]);
  const vocabSize = o.int('vocabSize');
  const maxPositions = o.int('maxPositions', 514);
  const hiddenDim = o.int('hiddenDim', 768);
  const numLayers = o.int('numLayers', 12);
  const numHeads = o.int('numHeads', 12);
  if (hiddenDim % numHeads !== 0) o.fail('numHeads', `must divide hiddenDim (${hiddenDim}), got ${numHeads}`);
  const mlpDim = o.int('mlpDim', 3072);
  const numClasses = o.int('numClasses', 2);
  const dropout = o.number('dropout', 0.1, 0, 1);
  const paddingIdx = o.int('paddingIdx', 1, 0);
  if (paddingIdx >= vocabSize) o.fail('paddingIdx', `must be below vocabSize (${vocabSize}), got ${paddingIdx}`);
  const roberta = o.flag('roberta', false);
  const typeVocabSize = o.int('typeVocabSize', 1);
  const eps = o.number('layerNormEps', 1e-5, Number.MIN_VALUE, 1);
  const attentionDropout = o.number('attentionDropout', dropout, 0, 1);
  const classifierDropout = o.number('classifierDropout', dropout, 0, 1);
  const initStd = o.number('initStd', 0.02, 0, Infinity);
  if (roberta && paddingIdx + 1 >= maxPositions) o.fail('maxPositions', `must exceed paddingIdx + 1 (${paddingIdx + 1}) with roberta, got ${maxPositions}`);

  const layers = Array.from(
    { length: numLayers },
    () => new nn.TransformerEncoderLayer(hiddenDim, numHeads, { dimFeedforward: mlpDim, dropout, attentionDropout, activation: 'gelu', layerNormEps: eps }),
  );
  const model = new nn.Sequential([
    [
      'embeddings',
      new nn.Sequential([
        ['', new nn.TokenPositionEmbedding(vocabSize, maxPositions, hiddenDim, { paddingIdx, ...(roberta ? { paddingPositions: true, typeVocabSize } : {}) })],
        ['LayerNorm', new nn.LayerNorm(hiddenDim, { eps })],
        ['dropout', new nn.Dropout(dropout)],
      ]),
    ],
    ['encoder', new nn.Sequential([['layers', new nn.Sequential(...layers)]])],
    ['token', new nn.TokenSelect(0)],
    [
      'classifier',
      new nn.Sequential([
        ['dropout', new nn.Dropout(classifierDropout)],
        ['dense', new nn.Linear(hiddenDim, hiddenDim)],
        ['tanh', new nn.Tanh()],
        ['dropout', new nn.Dropout(classifierDropout)],
        ['out_proj', new nn.Linear(hiddenDim, numClasses)],
      ]),
    ],
  ]);
  initBert(model, paddingIdx, initStd, roberta);
  return model;
}

// BERT/RoBERTa's init: N(0, std²) for every weight matrix and embedding, zero biases, LayerNorm
// 1 and 0, and a zero embedding for the padding token (and RoBERTa's padding position).
export function initBert(model: nn.Module, paddingIdx: number, std = 0.02, paddedPositions = false): void {
  for (const [path, m] of namedModules(model)) {
    for (const [name, p] of ownParameters(m)) {
      if (m.typeName === 'LayerNorm') {
        if (name === 'weight') ones_(p);
        else zeros_(p);
      } else if (name === 'bias' || name === 'in_proj_bias') {
        zeros_(p);
      } else {
        normal_(p, 0, std);
        // transformers zeroes the padding row of every embedding with a padding_idx: RoBERTa's positions have one.
        if (path.endsWith('word_embeddings') || (paddedPositions && path.endsWith('position_embeddings'))) noGrad(() => p.select(0, paddingIdx).zero_().dispose());
      }
    }
  }
}

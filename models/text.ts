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
// out_proj}. Positions are 0..S-1 (RoBERTa's checkpoints count from paddingIdx + 1 and have
// token-type embeddings, so they do not load as they are).
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
}

/** RoBERTa-base by default; small ones for tests and quick runs, e.g. { vocabSize: 1000, hiddenDim: 64, numLayers: 2, numHeads: 4, mlpDim: 128 }. */
export function textClassifier(options: TextClassifierOptions): nn.Sequential {
  const o = new ModelOptions<TextClassifierOptions>('textClassifier', options, [
    'vocabSize', 'maxPositions', 'hiddenDim', 'numLayers', 'numHeads', 'mlpDim', 'numClasses', 'dropout', 'paddingIdx',
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

  const layers = Array.from(
    { length: numLayers },
    () => new nn.TransformerEncoderLayer(hiddenDim, numHeads, { dimFeedforward: mlpDim, dropout, activation: 'gelu', layerNormEps: 1e-5 }),
  );
  const model = new nn.Sequential([
    [
      'embeddings',
      new nn.Sequential([
        ['', new nn.TokenPositionEmbedding(vocabSize, maxPositions, hiddenDim, { paddingIdx })],
        ['LayerNorm', new nn.LayerNorm(hiddenDim, { eps: 1e-5 })],
        ['dropout', new nn.Dropout(dropout)],
      ]),
    ],
    ['encoder', new nn.Sequential([['layers', new nn.Sequential(...layers)]])],
    ['token', new nn.TokenSelect(0)],
    [
      'classifier',
      new nn.Sequential([
        ['dropout', new nn.Dropout(dropout)],
        ['dense', new nn.Linear(hiddenDim, hiddenDim)],
        ['tanh', new nn.Tanh()],
        ['dropout', new nn.Dropout(dropout)],
        ['out_proj', new nn.Linear(hiddenDim, numClasses)],
      ]),
    ],
  ]);
  initBert(model, paddingIdx);
  return model;
}

// BERT/RoBERTa's init: N(0, 0.02²) for every weight matrix and embedding, zero biases, LayerNorm
// 1 and 0, and a zero embedding for the padding token.
function initBert(model: nn.Module, paddingIdx: number): void {
  for (const [path, m] of namedModules(model)) {
    for (const [name, p] of ownParameters(m)) {
      if (m.typeName === 'LayerNorm') {
        if (name === 'weight') ones_(p);
        else zeros_(p);
      } else if (name === 'bias' || name === 'in_proj_bias') {
        zeros_(p);
      } else {
        normal_(p, 0, 0.02);
        if (path.endsWith('word_embeddings')) noGrad(() => p.select(0, paddingIdx).zero_().dispose());
      }
    }
  }
}

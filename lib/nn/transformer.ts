// Attention and the pieces of ViT and text transformers, native; TransformerEncoderLayer is
// assembled from them with PyTorch's (or torchvision ViT's) parameter names.
import { Dropout, GELU, LayerNorm, Linear, ReLU } from './layers';
import { NativeModule, createNative } from './native-module';
import { Residual, Sequential } from './containers';

/** Self-attention over [N, S, E] (batch first); a second input [N, S] masks padding (0 = padding). */
export class MultiheadAttention extends NativeModule {
  constructor(embedDim: number, numHeads: number, opts: { dropout?: number; bias?: boolean } = {}) {
    super(createNative('MultiheadAttention', { embedDim, numHeads, ...opts }));
  }
}
/** [N, C, H, W] → [N, (H/p)·(W/p), D] through a p×p, stride-p convolution (ViT's conv_proj). */
export class PatchEmbedding extends NativeModule {
  constructor(inChannels: number, embedDim: number, patchSize: number) {
    super(createNative('PatchEmbedding', { inChannels, embedDim, patchSize }));
  }
}
/** Prepends a learned token: [N, S, D] → [N, S + 1, D]. */
export class ClassToken extends NativeModule {
  constructor(embedDim: number) {
    super(createNative('ClassToken', { embedDim }));
  }
}
/** Adds a learned position embedding [1, S, D]. */
export class PositionEmbedding extends NativeModule {
  constructor(numPositions: number, embedDim: number) {
    super(createNative('PositionEmbedding', { numPositions, embedDim }));
  }
}
/** [N, S, D] → [N, D]: the token at `index`. */
export class TokenSelect extends NativeModule {
  constructor(index = 0) {
    super(createNative('TokenSelect', { index }));
  }
}
export interface TokenPositionEmbeddingOptions {
  /** The padding token (its embedding row starts at zero and gets no gradient). */
  paddingIdx?: number;
  /** RoBERTa's positions: paddingIdx + 1, + 2, … over the non-padding tokens, paddingIdx for padding; default false (0..S-1). */
  paddingPositions?: boolean;
  /** > 0 adds token_type_embeddings, of which every token gets row 0 (RoBERTa's); default 0 (none). */
  typeVocabSize?: number;
}
/** Token ids [N, S] (+ an attention mask, passed on) → token (+ token type) + learned position embeddings [N, S, D]. */
export class TokenPositionEmbedding extends NativeModule {
  constructor(vocabSize: number, maxPositions: number, embedDim: number, opts: TokenPositionEmbeddingOptions = {}) {
    super(createNative('TokenPositionEmbedding', { vocabSize, maxPositions, embedDim, ...opts }));
  }
}

export interface TransformerEncoderLayerOptions {
  dimFeedforward?: number;
  dropout?: number;
  /** On the attention weights; default `dropout` (as PyTorch's). */
  attentionDropout?: number;
  activation?: 'relu' | 'gelu';
  /** Pre-norm (LayerNorm before attention and MLP) instead of PyTorch's default post-norm. */
  normFirst?: boolean;
  layerNormEps?: number;
  /** Parameter names: PyTorch's nn.TransformerEncoderLayer, or torchvision ViT's EncoderBlock (pre-norm). */
  naming?: 'pytorch' | 'vit';
}

const ENCODER_OPTIONS = ['dimFeedforward', 'dropout', 'attentionDropout', 'activation', 'normFirst', 'layerNormEps', 'naming'];

/**
 * The layer is assembled in TypeScript, so its own options are checked here, as a native module's
 * are (an unknown or misspelt option, or an unsupported activation, must not pass silently), with
 * errors that name TransformerEncoderLayer rather than the inner module an option ends up in.
 */
function checkEncoderOptions(dModel: number, nhead: number, opts: TransformerEncoderLayerOptions): void {
  const fail = (name: string, why: string): never => {
    throw new TypeError(`TransformerEncoderLayer: option '${name}' ${why}`);
  };
  if (typeof opts !== 'object' || opts === null) throw new TypeError('TransformerEncoderLayer: options must be an object');
  for (const k of Object.keys(opts)) {
    if (!ENCODER_OPTIONS.includes(k)) throw new TypeError(`TransformerEncoderLayer: unknown option '${k}'`);
  }
  const size = (name: string, v: unknown): void => {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(name, 'must be an integer');
    if ((v as number) < 1) fail(name, `must be at least 1, got ${String(v)}`);
  };
  const fraction = (name: string, v: unknown): void => {
    if (v == null) return;
    if (typeof v !== 'number' || !Number.isFinite(v)) fail(name, 'must be a finite number');
    if ((v as number) < 0 || (v as number) > 1) fail(name, `must be in [0, 1], got ${String(v)}`);
  };
  const oneOf = (name: string, v: unknown, allowed: string[]): void => {
    if (v != null && !allowed.includes(v as string)) fail(name, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  };
  size('dModel', dModel);
  size('nhead', nhead);
  if (dModel % nhead !== 0) fail('nhead', `must divide dModel (${dModel}), got ${nhead}`);
  if (opts.dimFeedforward != null) size('dimFeedforward', opts.dimFeedforward);
  fraction('dropout', opts.dropout);
  fraction('attentionDropout', opts.attentionDropout);
  fraction('layerNormEps', opts.layerNormEps);
  oneOf('activation', opts.activation, ['relu', 'gelu']);
  oneOf('naming', opts.naming, ['pytorch', 'vit']);
  if (opts.normFirst != null && typeof opts.normFirst !== 'boolean') fail('normFirst', 'must be a boolean');
}

/**
 * A transformer encoder layer over [N, S, E] (+ an optional attention mask), as
 * nn.TransformerEncoderLayer(batch_first=True). With naming 'vit' it is torchvision's ViT
 * EncoderBlock (ln_1, self_attention, ln_2, mlp.0, mlp.3; always pre-norm, GELU).
 */
export class TransformerEncoderLayer extends NativeModule {
  constructor(dModel: number, nhead: number, opts: TransformerEncoderLayerOptions = {}) {
    checkEncoderOptions(dModel, nhead, opts);
    const ff = opts.dimFeedforward ?? 2048;
    const p = opts.dropout ?? 0.1;
    const eps = opts.layerNormEps ?? 1e-5;
    const act = () => ((opts.activation ?? (opts.naming === 'vit' ? 'gelu' : 'relu')) === 'gelu' ? new GELU() : new ReLU());
    const attention = new MultiheadAttention(dModel, nhead, { dropout: opts.attentionDropout ?? p });
    let block: Sequential;
    if (opts.naming === 'vit') {
      const mlp = new Sequential(new Linear(dModel, ff), act(), new Dropout(p), new Linear(ff, dModel), new Dropout(p));
      block = new Sequential([
        ['', new Residual({ body: [['ln_1', new LayerNorm(dModel, { eps })], ['self_attention', attention], ['dropout', new Dropout(p)]] })],
        ['', new Residual({ body: [['ln_2', new LayerNorm(dModel, { eps })], ['mlp', mlp]] })],
      ]);
    } else {
      const attn = new Residual({ body: [['self_attn', attention], ['dropout1', new Dropout(p)]] });
      const mlp = new Residual({
        body: [['linear1', new Linear(dModel, ff)], ['activation', act()], ['dropout', new Dropout(p)], ['linear2', new Linear(ff, dModel)], ['dropout2', new Dropout(p)]],
      });
      const norm1 = new LayerNorm(dModel, { eps });
      const norm2 = new LayerNorm(dModel, { eps });
      block = opts.normFirst
        ? new Sequential([
            ['', new Residual({ body: [['norm1', norm1], ...attn.namedChildren()] })],
            ['', new Residual({ body: [['norm2', norm2], ...mlp.namedChildren()] })],
          ])
        : new Sequential([['', attn], ['norm1', norm1], ['', mlp], ['norm2', norm2]]);
    }
    super(block.handle);
  }
}

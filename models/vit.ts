// Vision Transformer (Dosovitskiy et al. 2021) with torchvision's VisionTransformer names, shapes
// and initialization: class_token, conv_proj, encoder.pos_embedding, encoder.layers.encoder_layer_i
// .{ln_1, self_attention, ln_2, mlp.0, mlp.3}, encoder.ln, heads.head. Pre-norm blocks, GELU,
// LayerNorm eps 1e-6, dropout after adding the position embedding, the class token's output fed to
// the head. torchvision's vit_b_16 weights load as they are (at its image size, 224).
import * as nn from '../lib/nn';
import { normal_, parameter, truncNormal_, xavierUniform_, zeros_ } from './init';
import { ModelOptions } from './options';

export type ViTVariant = 'ti16' | 's16' | 'b16';

export interface ViTOptions {
  /** ti16 (ViT-Ti/16: 192 wide, 12 layers, 3 heads, MLP 768), s16 (384, 12, 6, 1536) or b16 (768, 12, 12, 3072). */
  variant?: ViTVariant;
  /** Square images of this side; default 224. Must be a multiple of patchSize. */
  imageSize?: number;
  /** Default 16. */
  patchSize?: number;
  /** Default 1000. */
  numClasses?: number;
  /** Default 3. */
  inChannels?: number;
  /** After the position embedding, after attention and in the MLP; default 0. */
  dropout?: number;
  /** On the attention weights; default 0. */
  attentionDropout?: number;
  /** Every LayerNorm's ε; default 1e-6 (torchvision's and timm's; Hugging Face's ViT configs say 1e-12). */
  layerNormEps?: number;
  /** Overrides of the variant's sizes (all four given: no variant needed). */
  hiddenDim?: number;
  numLayers?: number;
  numHeads?: number;
  mlpDim?: number;
}

const VARIANTS: Record<ViTVariant, { hiddenDim: number; numLayers: number; numHeads: number; mlpDim: number }> = {
  ti16: { hiddenDim: 192, numLayers: 12, numHeads: 3, mlpDim: 768 },
  s16: { hiddenDim: 384, numLayers: 12, numHeads: 6, mlpDim: 1536 },
  b16: { hiddenDim: 768, numLayers: 12, numHeads: 12, mlpDim: 3072 },
};


// torchvision's MLPBlock: Linear, GELU, Dropout, Linear, Dropout; xavier_uniform weights, N(0, 1e-6²) biases.
function mlpBlock(d: number, mlpDim: number, dropout: number): nn.Sequential {
  const fc1 = new nn.Linear(d, mlpDim);
  const fc2 = new nn.Linear(mlpDim, d);
  for (const fc of [fc1, fc2]) {
    xavierUniform_(parameter(fc, 'weight')!);
    normal_(parameter(fc, 'bias')!, 0, 1e-6);
  }
  return new nn.Sequential(fc1, new nn.GELU(), new nn.Dropout(dropout), fc2, new nn.Dropout(dropout));
}

// torchvision's EncoderBlock: x + dropout(attention(ln_1(x))), then + mlp(ln_2(·)).
function encoderBlock(d: number, heads: number, mlpDim: number, dropout: number, attentionDropout: number, eps: number): nn.Sequential {
  return new nn.Sequential([
    [
      '',
      new nn.Residual({
        body: [
          ['ln_1', new nn.LayerNorm(d, { eps })],
          ['self_attention', new nn.MultiheadAttention(d, heads, { dropout: attentionDropout })],
          ['dropout', new nn.Dropout(dropout)],
        ],
      }),
    ],
    ['', new nn.Residual({ body: [['ln_2', new nn.LayerNorm(d, { eps })], ['mlp', mlpBlock(d, mlpDim, dropout)]] })],
  ]);
}

/** A ViT classifier over [N, inChannels, imageSize, imageSize]; e.g. vit({ variant: 's16', imageSize: 32, patchSize: 4, numClasses: 10 }). */
export function vit(options?: ViTOptions): nn.Sequential {
  const o = new ModelOptions<ViTOptions>('vit', options, [
    'variant', 'imageSize', 'patchSize', 'numClasses', 'inChannels', 'dropout', 'attentionDropout', 'layerNormEps', 'hiddenDim', 'numLayers', 'numHeads', 'mlpDim',
  ]);
  const given = options ?? {};
  const custom = ['hiddenDim', 'numLayers', 'numHeads', 'mlpDim'].every((k) => (given as Record<string, unknown>)[k] !== undefined);
  const base = custom && given.variant === undefined ? VARIANTS.b16 : VARIANTS[o.choice('variant', ['ti16', 's16', 'b16'] as const)];
  const hiddenDim = o.int('hiddenDim', base.hiddenDim);
  const numLayers = o.int('numLayers', base.numLayers);
  const numHeads = o.int('numHeads', base.numHeads);
  const mlpDim = o.int('mlpDim', base.mlpDim);
  if (hiddenDim % numHeads !== 0) o.fail('numHeads', `must divide hiddenDim (${hiddenDim}), got ${numHeads}`);
  const imageSize = o.int('imageSize', 224);
  const patchSize = o.int('patchSize', 16);
  if (imageSize % patchSize !== 0) o.fail('imageSize', `must be a multiple of patchSize (${patchSize}), got ${imageSize}`);
  const numClasses = o.int('numClasses', 1000);
  const inChannels = o.int('inChannels', 3);
  const dropout = o.number('dropout', 0, 0, 1);
  const attentionDropout = o.number('attentionDropout', 0, 0, 1);
  const eps = o.number('layerNormEps', 1e-6, Number.MIN_VALUE, 1);

  const convProj = new nn.PatchEmbedding(inChannels, hiddenDim, patchSize);
  truncNormal_(parameter(convProj, 'weight')!, 0, Math.sqrt(1 / (inChannels * patchSize * patchSize)));
  zeros_(parameter(convProj, 'bias')!);
  const seqLength = (imageSize / patchSize) ** 2 + 1;
  const layers = Array.from({ length: numLayers }, (_, i): [string, nn.Module] => [
    `encoder_layer_${i}`,
    encoderBlock(hiddenDim, numHeads, mlpDim, dropout, attentionDropout, eps),
  ]);
  const head = new nn.Linear(hiddenDim, numClasses);
  zeros_(parameter(head, 'weight')!);
  zeros_(parameter(head, 'bias')!);

  return new nn.Sequential([
    ['conv_proj', convProj],
    ['class_token', new nn.ClassToken(hiddenDim)], // zeros, as torchvision
    [
      'encoder',
      new nn.Sequential([
        ['pos_embedding', new nn.PositionEmbedding(seqLength, hiddenDim)], // N(0, 0.02²)
        ['dropout', new nn.Dropout(dropout)],
        ['layers', new nn.Sequential(layers)],
        ['ln', new nn.LayerNorm(hiddenDim, { eps })],
      ]),
    ],
    ['token', new nn.TokenSelect(0)],
    ['heads', new nn.Sequential([['head', head]])],
  ]);
}

// ViT in three key layouts onto msam's vit() (torchvision's names): torchvision's
// VisionTransformer state dicts (as they are), timm's vit_base_patch16_224-style state dicts, and
// Hugging Face's ViTModel / ViTForImageClassification folders. All three are the same pre-norm
// network (class token, learned positions, exact GELU, the class token's output to the head);
// they differ in names, in fused or separate q/k/v, and in LayerNorm ε (HF configs: 1e-12).
//
//   torchvision                         timm                    Hugging Face ([vit.] prefix)
//   class_token                         cls_token               embeddings.cls_token
//   encoder.pos_embedding               pos_embed               embeddings.position_embeddings
//   conv_proj                           patch_embed.proj        embeddings.patch_embeddings.projection
//   ….encoder_layer_i.ln_1              blocks.i.norm1          encoder.layer.i.layernorm_before
//   ….self_attention.in_proj_*          blocks.i.attn.qkv       ….attention.attention.{query,key,value}
//   ….self_attention.out_proj           blocks.i.attn.proj      ….attention.output.dense
//   ….ln_2, mlp.0, mlp.3                norm2, mlp.fc1, fc2     layernorm_after, intermediate.dense, output.dense
//   encoder.ln, heads.head              norm, head              layernorm, classifier
import { ops } from '../../lib/ops';
import type * as nn from '../../lib/nn';
import { cat, type Tensor } from '../../lib/tensor';
import { parameter, truncNormal_ } from '../init';
import { vit } from '../vit';
import { ConfigReader } from './config';
import { PretrainedError } from './errors';
import type { KeyRule, LoadReport } from './keys';

export type ViTLayout = 'torchvision' | 'timm' | 'hf';

export interface ViTSpec {
  layout: ViTLayout;
  /** 'vit.' for a Hugging Face model with a head, else ''. */
  prefix: string;
  hidden: number;
  layers: number;
  heads: number;
  mlp: number;
  patch: number;
  channels: number;
  /** The image side the checkpoint's position embeddings are for. */
  imageSize: number;
  eps: number;
  dropout: number;
  attentionDropout: number;
  initializerRange: number;
  /** The checkpoint's classes, or null without a head. */
  numLabels: number | null;
}

/** A Hugging Face ViT config.json. */
export function vitSpecFromConfig(config: Record<string, unknown>, tensors: Map<string, Tensor>, where: string): ViTSpec {
  const c = new ConfigReader(config, where);
  c.only('hidden_act', 'gelu', ['gelu']);
  if (config['qkv_bias'] === false) throw new PretrainedError('UNKNOWN_ARCH', where, 'config.json: qkv_bias is false; msam builds ViTs with q/k/v biases');
  const hidden = c.int('hidden_size');
  const heads = c.int('num_attention_heads');
  if (hidden % heads !== 0) throw new PretrainedError('BAD_CONFIG', where, `config.json: num_attention_heads (${heads}) does not divide hidden_size (${hidden})`);
  const archs = Array.isArray(config['architectures']) ? (config['architectures'] as unknown[]) : [];
  const labels = config['id2label'] !== undefined && typeof config['id2label'] === 'object' ? Object.keys(config['id2label'] as object).length : c.int('num_labels', 2);
  return {
    layout: 'hf',
    prefix: [...tensors.keys()].some((k) => k.startsWith('vit.')) ? 'vit.' : '',
    hidden,
    layers: c.int('num_hidden_layers'),
    heads,
    mlp: c.int('intermediate_size'),
    patch: c.int('patch_size', 16),
    channels: c.int('num_channels', 3),
    imageSize: c.int('image_size', 224),
    eps: c.number('layer_norm_eps', 1e-12, Number.MIN_VALUE, 1),
    dropout: c.number('hidden_dropout_prob', 0, 0, 1),
    attentionDropout: c.number('attention_probs_dropout_prob', 0, 0, 1),
    initializerRange: c.number('initializer_range', 0.02, 0, Infinity),
    numLabels: archs.includes('ViTForImageClassification') ? labels : null,
  };
}

/** A bare state dict (a single file): its layout from its keys, its sizes from its shapes. */
export function vitSpecFromTensors(tensors: Map<string, Tensor>, config: Record<string, unknown>, where: string): ViTSpec {
  const has = (k: string): boolean => tensors.has(k);
  const hfPrefix = has('vit.embeddings.cls_token') ? 'vit.' : '';
  const layout: ViTLayout | null = has('cls_token') && has('pos_embed') ? 'timm' : has('class_token') && has('conv_proj.weight') ? 'torchvision' : has(`${hfPrefix}embeddings.cls_token`) ? 'hf' : null;
  if (layout === null) throw new PretrainedError('UNKNOWN_ARCH', where, 'not a ViT state dict in a layout msam knows (timm: cls_token, pos_embed; torchvision: class_token, conv_proj; Hugging Face: [vit.]embeddings.cls_token)');
  const k = KEYS[layout](hfPrefix);
  const shape = (key: string): readonly number[] => {
    const t = tensors.get(key);
    if (t === undefined) throw new PretrainedError('UNKNOWN_ARCH', where, `a ${layout} ViT state dict without '${key}'`);
    return t.shape;
  };
  const [hidden, channels, patch] = shape(k.conv + '.weight') as [number, number, number];
  let layers = 0;
  while (tensors.has(k.layer(layers) + k.ln1 + '.weight')) layers++;
  const grid = Math.round(Math.sqrt((shape(k.pos)[1] as number) - 1));
  const head = tensors.get(k.head + '.weight');
  const c = new ConfigReader(config, where);
  const heads = config['num_attention_heads'] !== undefined ? c.int('num_attention_heads') : hidden % 64 === 0 ? hidden / 64 : null;
  if (heads === null) throw new PretrainedError('BAD_OPTION', where, `the number of heads does not show in the weights and hidden size ${hidden} is no multiple of 64: give options.config.num_attention_heads`);
  return {
    layout,
    prefix: hfPrefix,
    hidden,
    layers,
    heads,
    mlp: shape(k.layer(0) + k.fc1 + '.weight')[0] as number,
    patch,
    channels,
    imageSize: grid * patch,
    eps: c.number('layer_norm_eps', layout === 'hf' ? 1e-12 : 1e-6, Number.MIN_VALUE, 1),
    dropout: 0,
    attentionDropout: 0,
    initializerRange: 0.02,
    numLabels: head === undefined ? null : (head.shape[0] as number),
  };
}

interface LayoutKeys {
  cls: string;
  pos: string;
  conv: string;
  layer: (i: number) => string;
  ln1: string;
  /** The fused in_proj weight's sources (one key: fused qkv; three: separate). */
  qkv: string[];
  proj: string;
  ln2: string;
  fc1: string;
  fc2: string;
  norm: string;
  head: string;
}

const KEYS: Record<ViTLayout, (prefix: string) => LayoutKeys> = {
  torchvision: () => ({
    cls: 'class_token',
    pos: 'encoder.pos_embedding',
    conv: 'conv_proj',
    layer: (i) => `encoder.layers.encoder_layer_${i}.`,
    ln1: 'ln_1',
    qkv: ['self_attention.in_proj'],
    proj: 'self_attention.out_proj',
    ln2: 'ln_2',
    fc1: 'mlp.0',
    fc2: 'mlp.3',
    norm: 'encoder.ln',
    head: 'heads.head',
  }),
  timm: () => ({
    cls: 'cls_token',
    pos: 'pos_embed',
    conv: 'patch_embed.proj',
    layer: (i) => `blocks.${i}.`,
    ln1: 'norm1',
    qkv: ['attn.qkv'],
    proj: 'attn.proj',
    ln2: 'norm2',
    fc1: 'mlp.fc1',
    fc2: 'mlp.fc2',
    norm: 'norm',
    head: 'head',
  }),
  hf: (p) => ({
    cls: `${p}embeddings.cls_token`,
    pos: `${p}embeddings.position_embeddings`,
    conv: `${p}embeddings.patch_embeddings.projection`,
    layer: (i) => `${p}encoder.layer.${i}.`,
    ln1: 'layernorm_before',
    qkv: ['attention.attention.query', 'attention.attention.key', 'attention.attention.value'],
    proj: 'attention.output.dense',
    ln2: 'layernorm_after',
    fc1: 'intermediate.dense',
    fc2: 'output.dense',
    norm: `${p}layernorm`,
    head: 'classifier',
  }),
};

export function vitRules(spec: ViTSpec): KeyRule[] {
  const k = KEYS[spec.layout](spec.prefix);
  const rules: KeyRule[] = [
    { target: 'conv_proj.weight', sources: [`${k.conv}.weight`] },
    { target: 'conv_proj.bias', sources: [`${k.conv}.bias`] },
    { target: 'class_token', sources: [k.cls] },
    { target: 'encoder.pos_embedding', sources: [k.pos] },
  ];
  for (let i = 0; i < spec.layers; i++) {
    const ms = `encoder.layers.encoder_layer_${i}.`;
    const src = k.layer(i);
    for (const w of ['weight', 'bias']) {
      rules.push({ target: `${ms}ln_1.${w}`, sources: [`${src}${k.ln1}.${w}`] });
      rules.push({ target: `${ms}self_attention.in_proj_${w}`, sources: k.qkv.length === 1 && spec.layout === 'torchvision' ? [`${src}self_attention.in_proj_${w}`] : k.qkv.map((q) => `${src}${q}.${w}`) });
      rules.push({ target: `${ms}self_attention.out_proj.${w}`, sources: [`${src}${k.proj}.${w}`] });
      rules.push({ target: `${ms}ln_2.${w}`, sources: [`${src}${k.ln2}.${w}`] });
      rules.push({ target: `${ms}mlp.0.${w}`, sources: [`${src}${k.fc1}.${w}`] });
      rules.push({ target: `${ms}mlp.3.${w}`, sources: [`${src}${k.fc2}.${w}`] });
    }
  }
  for (const w of ['weight', 'bias']) rules.push({ target: `encoder.ln.${w}`, sources: [`${k.norm}.${w}`] });
  for (const w of ['weight', 'bias']) rules.push({ target: `heads.head.${w}`, sources: [`${k.head}.${w}`], head: true });
  return rules;
}

export function buildViT(spec: ViTSpec, imageSize: number, numClasses: number): nn.Sequential {
  return vit({
    hiddenDim: spec.hidden,
    numLayers: spec.layers,
    numHeads: spec.heads,
    mlpDim: spec.mlp,
    patchSize: spec.patch,
    inChannels: spec.channels,
    imageSize,
    numClasses,
    dropout: spec.dropout,
    attentionDropout: spec.attentionDropout,
    layerNormEps: spec.eps,
  });
}

/**
 * timm's resample_abs_pos_embed (its checkpoint filter's, for another image size): the class
 * token's position kept, the grid's reshaped to an image and resized bicubically with antialiasing
 * (align_corners false), computed in float32 as timm does, then back to the dtype.
 */
export function resamplePositions(pos: Tensor, newGrid: number): Tensor {
  const [, n, d] = pos.shape as [number, number, number];
  const old = Math.round(Math.sqrt(n - 1));
  const prefix = pos.narrow(1, 0, 1);
  const grid = pos.narrow(1, 1, n - 1).float().reshape([1, old, old, d]).permute([0, 3, 1, 2]);
  const resized = ops.call('aten::_upsample_bicubic2d_aa', '', grid, [newGrid, newGrid], false) as Tensor;
  const back = resized.permute([0, 2, 3, 1]).reshape([1, newGrid * newGrid, d]).to(pos.dtype);
  const out = cat([prefix, back], 1);
  for (const t of [prefix, grid, resized, back]) t.dispose();
  return out;
}

/** A swapped head as its library initializes it: torchvision zeros (already so), timm trunc-normal(0.02), transformers trunc-normal(initializer_range); biases zero. */
export function initViTHead(model: nn.Module, spec: ViTSpec, report: LoadReport): void {
  if (spec.layout === 'torchvision' || !report.reinitialized.some((k) => k.endsWith('.weight') && (k.startsWith('head') || k.startsWith('classifier')))) return;
  const head = (model as nn.Sequential).namedChildren().find(([n]) => n === 'heads')?.[1] as nn.Module;
  const linear = head.namedChildren()[0]?.[1] as nn.Module;
  truncNormal_(parameter(linear, 'weight')!, 0, spec.layout === 'hf' ? spec.initializerRange : 0.02);
}

/** config.json for a Hugging Face ViT saved back: its classes and image size now the model's. */
export function vitSavedConfig(config: Record<string, unknown>, numClasses: number, imageSize: number, dtype: string): Record<string, unknown> {
  const id2label = Object.fromEntries(Array.from({ length: numClasses }, (_, i) => [String(i), `LABEL_${i}`]));
  const keep = config['id2label'] !== undefined && Object.keys(config['id2label'] as object).length === numClasses;
  return {
    ...config,
    architectures: ['ViTForImageClassification'],
    model_type: 'vit',
    image_size: imageSize,
    id2label: keep ? config['id2label'] : id2label,
    label2id: keep ? config['label2id'] : Object.fromEntries(Object.entries(id2label).map(([i, l]) => [l, Number(i)])),
    torch_dtype: dtype,
  };
}

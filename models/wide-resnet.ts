// Wide ResNet (Zagoruyko & Komodakis 2016), pre-activation, with the names and initialization of
// the widely used PyTorch implementation (xternalz/WideResNet-pytorch): conv1, block1..3 (each a
// NetworkBlock: .layer.0, .layer.1, ...), bn1, relu, fc. A block is bn1, relu1, conv1, bn2, relu2,
// [dropout], conv2, with a 1×1 convShortcut when its input and output widths differ; then the
// pre-activation relu(bn1(x)) feeds the shortcut too, otherwise the shortcut is x itself.
import * as nn from '../lib/nn';
import { normal_, parameter, zeros_ } from './init';
import { ModelOptions } from './options';

export interface WideResNetOptions {
  /** Total depth, 6n + 4 (n blocks per group); default 28. */
  depth?: number;
  /** Width multiplier k; default 10 (WRN-28-10). */
  widen?: number;
  /** Dropout between a block's two convolutions; default 0. */
  dropout?: number;
  /** Default 10 (CIFAR-10). */
  numClasses?: number;
  /** Default 3. */
  inChannels?: number;
}

// The reference init: N(0, 2/(k·k·out)) for convolutions, BN weight 1 and bias 0, Linear bias 0.
function conv(inC: number, outC: number, kernel: number, stride = 1): nn.Conv2d {
  const c = new nn.Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) / 2, bias: false });
  normal_(parameter(c, 'weight')!, 0, Math.sqrt(2 / (kernel * kernel * outC)));
  return c;
}
// BatchNorm2d starts at weight 1 and bias 0 already (PyTorch's default).
const bn = (channels: number): nn.BatchNorm2d => new nn.BatchNorm2d(channels);

function block(inC: number, outC: number, stride: number, dropout: number): nn.Residual {
  const body: [string, nn.Module][] = [['conv1', conv(inC, outC, 3, stride)], ['bn2', bn(outC)], ['relu2', new nn.ReLU()]];
  if (dropout > 0) body.push(['dropout', new nn.Dropout(dropout)]);
  body.push(['conv2', conv(outC, outC, 3)]);
  const equalInOut = inC === outC;
  return new nn.Residual({
    pre: [['bn1', bn(inC)], ['relu1', new nn.ReLU()]],
    body,
    ...(equalInOut ? {} : { shortcut: ['convShortcut', conv(inC, outC, 1, stride)] as [string, nn.Module] }),
  });
}

/** WRN-depth-widen for 32×32 images: e.g. wideResNet() is WRN-28-10 (36.5M parameters). */
export function wideResNet(options?: WideResNetOptions): nn.Sequential {
  const o = new ModelOptions<WideResNetOptions>('wideResNet', options, ['depth', 'widen', 'dropout', 'numClasses', 'inChannels']);
  const depth = o.int('depth', 28, 10);
  if ((depth - 4) % 6 !== 0) o.fail('depth', `must be 6n + 4 (10, 16, 22, 28, 34, 40, ...), got ${depth}`);
  const widen = o.int('widen', 10);
  const dropout = o.number('dropout', 0, 0, 1);
  const numClasses = o.int('numClasses', 10);
  const inChannels = o.int('inChannels', 3);

  const n = (depth - 4) / 6;
  const widths = [16, 16 * widen, 32 * widen, 64 * widen] as const;
  const layers: [string, nn.Module][] = [['conv1', conv(inChannels, widths[0], 3)]];
  for (let g = 0; g < 3; g++) {
    const [inC, outC] = [widths[g] as number, widths[g + 1] as number];
    const blocks: nn.Module[] = [];
    for (let i = 0; i < n; i++) blocks.push(block(i === 0 ? inC : outC, outC, i === 0 && g > 0 ? 2 : 1, dropout));
    layers.push([`block${g + 1}`, new nn.Sequential([['layer', new nn.Sequential(...blocks)]])]);
  }
  const fc = new nn.Linear(widths[3], numClasses);
  zeros_(parameter(fc, 'bias')!);
  // The reference's F.avg_pool2d(out, 8) on the 8×8 map of a 32×32 image; adaptive pooling is the
  // same there and also takes other sizes.
  layers.push(['bn1', bn(widths[3])], ['relu', new nn.ReLU()], ['avgpool', new nn.AdaptiveAvgPool2d(1)], ['flatten', new nn.Flatten(1)], ['fc', fc]);
  return new nn.Sequential(layers);
}

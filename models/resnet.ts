// ResNet-18/34/50/101 (He et al. 2016) with torchvision's module names, so torchvision's state
// dicts load as they are: conv1, bn1, relu, maxpool, layer1..layer4 (blocks named 0, 1, ...; a
// block's body conv1, bn1, relu, conv2, bn2[, relu, conv3, bn3], its projection downsample.0/.1),
// avgpool, flatten, fc. Bottlenecks stride in the 3×3 convolution (ResNet v1.5, as torchvision).
// The 'cifar' stem is a 3×3 stride-1 convolution with no max-pool, for 32×32 images.
import * as nn from '../lib/nn';
import { kaimingNormal_, parameter } from './init';
import { ModelOptions } from './options';

export interface ResNetOptions {
  /** Outputs of the final fc layer; default 1000. */
  numClasses?: number;
  /** 'imagenet' (default): 7×7 stride-2 conv + 3×3 max-pool, as torchvision. 'cifar': 3×3 stride-1 conv, no max-pool. */
  stem?: 'cifar' | 'imagenet';
  /** Image channels; default 3. */
  inChannels?: number;
}

type BlockKind = 'basic' | 'bottleneck';
const EXPANSION: Record<BlockKind, number> = { basic: 1, bottleneck: 4 };

// torchvision's init: kaiming_normal_(fan_out, relu) for convolutions, BN weight 1 and bias 0.
function conv(inC: number, outC: number, kernel: number, stride = 1): nn.Conv2d {
  const c = new nn.Conv2d(inC, outC, kernel, { stride, padding: (kernel - 1) / 2, bias: false });
  kaimingNormal_(parameter(c, 'weight')!, { mode: 'fanOut', nonlinearity: 'relu' });
  return c;
}
// BatchNorm2d starts at weight 1 and bias 0 already (PyTorch's default).
const bn = (channels: number): nn.BatchNorm2d => new nn.BatchNorm2d(channels);

function block(kind: BlockKind, inC: number, planes: number, stride: number): nn.Residual {
  const outC = planes * EXPANSION[kind];
  const body: [string, nn.Module][] =
    kind === 'basic'
      ? [
          ['conv1', conv(inC, planes, 3, stride)],
          ['bn1', bn(planes)],
          ['relu', new nn.ReLU()],
          ['conv2', conv(planes, planes, 3)],
          ['bn2', bn(planes)],
        ]
      : [
          ['conv1', conv(inC, planes, 1)],
          ['bn1', bn(planes)],
          ['relu', new nn.ReLU()],
          ['conv2', conv(planes, planes, 3, stride)],
          ['bn2', bn(planes)],
          ['relu', new nn.ReLU()],
          ['conv3', conv(planes, outC, 1)],
          ['bn3', bn(outC)],
        ];
  const projection = stride !== 1 || inC !== outC;
  return new nn.Residual({
    body,
    ...(projection ? { shortcut: ['downsample', new nn.Sequential(conv(inC, outC, 1, stride), bn(outC))] as [string, nn.Module] } : {}),
    post: [['relu', new nn.ReLU()]],
  });
}

function resnet(model: string, kind: BlockKind, depths: [number, number, number, number], options: ResNetOptions | undefined): nn.Sequential {
  const o = new ModelOptions<ResNetOptions>(model, options, ['numClasses', 'stem', 'inChannels']);
  const numClasses = o.int('numClasses', 1000);
  const stem = o.choice('stem', ['imagenet', 'cifar'] as const, 'imagenet');
  const inChannels = o.int('inChannels', 3);

  const layers: [string, nn.Module][] = [];
  if (stem === 'imagenet') {
    layers.push(['conv1', conv(inChannels, 64, 7, 2)], ['bn1', bn(64)], ['relu', new nn.ReLU()]);
    layers.push(['maxpool', new nn.MaxPool2d(3, { stride: 2, padding: 1 })]);
  } else {
    layers.push(['conv1', conv(inChannels, 64, 3, 1)], ['bn1', bn(64)], ['relu', new nn.ReLU()]);
  }
  let inC = 64;
  depths.forEach((n, i) => {
    const planes = 64 * 2 ** i;
    const blocks: nn.Module[] = [];
    for (let j = 0; j < n; j++) {
      blocks.push(block(kind, inC, planes, j === 0 && i > 0 ? 2 : 1));
      inC = planes * EXPANSION[kind];
    }
    layers.push([`layer${i + 1}`, new nn.Sequential(...blocks)]);
  });
  layers.push(['avgpool', new nn.AdaptiveAvgPool2d(1)], ['flatten', new nn.Flatten(1)], ['fc', new nn.Linear(inC, numClasses)]);
  return new nn.Sequential(layers);
}

/** ResNet-18 (BasicBlocks 2-2-2-2; 11.7M parameters with 1000 classes). */
export const resnet18 = (opts?: ResNetOptions): nn.Sequential => resnet('resnet18', 'basic', [2, 2, 2, 2], opts);
/** ResNet-34 (BasicBlocks 3-4-6-3). */
export const resnet34 = (opts?: ResNetOptions): nn.Sequential => resnet('resnet34', 'basic', [3, 4, 6, 3], opts);
/** ResNet-50 (Bottlenecks 3-4-6-3; 25.6M parameters with 1000 classes). */
export const resnet50 = (opts?: ResNetOptions): nn.Sequential => resnet('resnet50', 'bottleneck', [3, 4, 6, 3], opts);
/** ResNet-101 (Bottlenecks 3-4-23-3). */
export const resnet101 = (opts?: ResNetOptions): nn.Sequential => resnet('resnet101', 'bottleneck', [3, 4, 23, 3], opts);

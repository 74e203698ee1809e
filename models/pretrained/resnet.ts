// torchvision's ResNets: msam's resnet builders use torchvision's names (models/resnet.ts), so a
// torchvision state dict saved as safetensors maps one to one; only the head (fc) may be swapped.
import type * as nn from '../../lib/nn';
import type { Tensor } from '../../lib/tensor';
import { resnet18, resnet34, resnet50, resnet101 } from '../resnet';
import { PretrainedError } from './errors';
import type { KeyRule } from './keys';

export const RESNETS = ['resnet18', 'resnet34', 'resnet50', 'resnet101'] as const;
export type ResNetArch = (typeof RESNETS)[number];
const BUILDERS = { resnet18, resnet34, resnet50, resnet101 };

export function resnetFromTensors(
  arch: ResNetArch,
  tensors: Map<string, Tensor>,
  numClasses: number | undefined,
  where: string,
): { model: nn.Sequential; rules: KeyRule[]; ignore: RegExp[]; numClasses: number } {
  const fc = tensors.get('fc.weight');
  if (fc === undefined && numClasses === undefined) throw new PretrainedError('UNKNOWN_ARCH', where, `not a torchvision ${arch} state dict (no fc.weight); give numClasses to load one without its head`);
  const classes = numClasses ?? (fc as Tensor).shape[0] as number;
  const model = BUILDERS[arch]({ numClasses: classes });
  const own = [...model.namedParameters(), ...model.namedBuffers()].map(([k]) => k);
  const rules = own.map((k): KeyRule => ({ target: k, sources: [k], head: k.startsWith('fc.') }));
  // torchvision counts BatchNorm's batches; msam's BatchNorm has no such buffer when it is absent here.
  const ignore = own.some((k) => k.endsWith('num_batches_tracked')) ? [] : [/(^|\.)num_batches_tracked$/];
  return { model, rules, ignore, numClasses: classes };
}

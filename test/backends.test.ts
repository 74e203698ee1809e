// TF32 switches (msam.backends, set/getFloat32MatmulPrecision): the same defaults and the same
// interplay as PyTorch's, which runs the same sequence of settings in Python as the reference.
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { reference } from './helpers/reference';

type State = [boolean, boolean, string];
const ours = (): State => [msam.backends.cuda.matmul.allowTf32, msam.backends.cudnn.allowTf32, msam.getFloat32MatmulPrecision()];

// The sequence both sides run: defaults, then each setting in turn.
const STEPS: ((py: boolean) => string | void)[] = [
  (py) => (py ? 'pass' : undefined),
  (py) => (py ? 'torch.backends.cuda.matmul.allow_tf32 = True' : void (msam.backends.cuda.matmul.allowTf32 = true)),
  (py) => (py ? "torch.set_float32_matmul_precision('medium')" : msam.setFloat32MatmulPrecision('medium')),
  (py) => (py ? "torch.set_float32_matmul_precision('highest')" : msam.setFloat32MatmulPrecision('highest')),
  (py) => (py ? 'torch.backends.cudnn.allow_tf32 = False' : void (msam.backends.cudnn.allowTf32 = false)),
  (py) => (py ? 'torch.backends.cuda.matmul.allow_tf32 = True; torch.backends.cudnn.allow_tf32 = True' : void ((msam.backends.cuda.matmul.allowTf32 = true), (msam.backends.cudnn.allowTf32 = true))),
];

const defaults = ours();
afterEach(() => {
  msam.setFloat32MatmulPrecision(defaults[2] as msam.Float32MatmulPrecision);
  msam.backends.cuda.matmul.allowTf32 = defaults[0];
  msam.backends.cudnn.allowTf32 = defaults[1];
});

describe('TF32 switches', () => {
  const py = reference(['torch'], 'backends.test.ts (TF32 switches against PyTorch)').python;
  it.skipIf(py === null)("PyTorch's defaults, and the same state as PyTorch after each setting", () => {
    const script = [
      'import json, torch',
      'out = []',
      ...STEPS.flatMap((step) => [
        step(true) as string,
        'out.append([torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision()])',
      ]),
      'print(json.dumps(out))',
    ].join('\n');
    const reference = JSON.parse(execFileSync(py as string, ['-c', script], { encoding: 'utf8' }).trim().split('\n').pop() as string) as State[];
    const got: State[] = STEPS.map((step) => {
      step(false);
      return ours();
    });
    expect(got).toEqual(reference);
    expect(got[0]).toEqual([false, true, 'highest']); // what PyTorch documents as its defaults
  });

  it('bad values are refused, naming the switch', () => {
    expect(() => ((msam.backends.cuda.matmul as { allowTf32: unknown }).allowTf32 = 1)).toThrow(/backends\.cuda\.matmul\.allowTf32 must be a boolean/);
    expect(() => ((msam.backends.cudnn as { allowTf32: unknown }).allowTf32 = 'yes')).toThrow(/backends\.cudnn\.allowTf32 must be a boolean/);
    expect(() => msam.setFloat32MatmulPrecision('low' as msam.Float32MatmulPrecision)).toThrow(/'highest', 'high' or 'medium'/);
    expect(ours()).toEqual(defaults);
  });
});

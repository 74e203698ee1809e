// Bad input, case by case: every mistake reaches JS as an exception of the right class whose
// message names the op and the cause; the process survives, nothing leaks, and the next op works.
import { describe, it, expect } from 'vitest';
import * as msam from '../lib';
import { native } from '../lib/native';

type ErrorClass = typeof Error | typeof TypeError | typeof RangeError;

interface Case {
  name: string;
  run: () => unknown;
  /** The exact class: Error means a plain Error (neither TypeError nor RangeError). */
  type: ErrorClass;
  /** Names the op and the cause. */
  message: RegExp;
}

const { tensor, ones, zeros } = msam;

/** A tensor that has already been disposed. */
function disposed(shape: number[] = [2]): msam.Tensor {
  const t = ones(shape);
  t.dispose();
  return t;
}

const cases: Case[] = [
  // ---- shape mismatches ----
  {
    name: 'add of [2, 3] and [4]',
    run: () => ones([2, 3]).add(ones([4])),
    type: Error,
    message: /aten::add\.Tensor: The size of tensor a \(3\) must match the size of tensor b \(4\) at non-singleton dimension 1/,
  },
  {
    name: 'matmul of [2, 3] and [4, 5]',
    run: () => ones([2, 3]).matmul(ones([4, 5])),
    type: Error,
    message: /aten::matmul: (mm: )?mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/,
  },
  {
    name: 'cat of [2, 3] and [2, 4] along dim 0',
    run: () => msam.cat([ones([2, 3]), ones([2, 4])]),
    type: Error,
    message: /aten::cat: Sizes of tensors must match except in dimension 0\. Expected size 3 but got size 4/,
  },
  {
    name: 'conv2d with a 3-channel input and a 2-channel weight',
    run: () => msam.conv2d(ones([1, 3, 8, 8]), ones([4, 2, 3, 3])),
    type: Error,
    message: /aten::conv2d: .*expected input\[1, 3, 8, 8\] to have 2 channels, but got 3 channels/,
  },
  {
    name: 'view of 6 elements as [4]',
    run: () => ones([2, 3]).view([4]),
    type: Error,
    message: /aten::view: shape '\[4\]' is invalid for input of size 6/,
  },
  {
    name: 'reshape of 6 elements as [4]',
    run: () => ones([6]).reshape([4]),
    type: Error,
    message: /aten::reshape: shape '\[4\]' is invalid for input of size 6/,
  },
  {
    name: 'linear with in_features 3 and a [5, 4] weight',
    run: () => msam.linear(ones([2, 3]), ones([5, 4])),
    type: Error,
    message: /aten::linear: (mm: )?mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x5\)/,
  },

  // ---- wrong dtypes ----
  {
    name: 'matmul of int64 and float32',
    run: () => tensor([[1, 2]]).matmul(tensor([[1.5], [2.5]])),
    type: Error,
    // libtorch 1.13 / 2.x word it differently.
    message: /aten::matmul: (expected scalar type Long but found Float|expected m1 and m2 to have the same dtype, but got: long int != float)/,
  },
  {
    name: 'crossEntropy with float targets',
    run: () => msam.crossEntropy(ones([2, 3]), tensor([0.5, 1.5])),
    type: Error,
    message: /aten::cross_entropy_loss: (expected scalar type Long but found Float|expected target dtype to be Long or Byte, but got Float)/,
  },
  {
    name: 'requiresGrad option on an int64 tensor',
    run: () => tensor([1, 2], { requiresGrad: true }),
    type: Error,
    message: /requiresGrad.*: Only Tensors of floating point and complex dtype can require gradients/i,
  },
  {
    name: 'requiresGrad = true on an int64 tensor',
    run: () => {
      tensor([1, 2]).requiresGrad = true;
    },
    type: Error,
    message: /requiresGrad.*: Only Tensors of floating point and complex dtype can require gradients/i,
  },

  // ---- devices ----
  {
    name: "device 'cuda' on a CPU-only build",
    run: () => ones([2], { device: 'cuda' }),
    type: Error,
    message: /aten::ones: argument 'device': device 'cuda' is not available: this libtorch was built without CUDA/,
  },
  {
    name: "device 'cuda:7'",
    run: () => zeros([2], { device: 'cuda:7' }),
    type: Error,
    message: /aten::zeros: argument 'device': device 'cuda:7' (is not available|does not exist)/,
  },
  {
    name: "device 'tpu'",
    run: () => ones([2], { device: 'tpu' as msam.Device }),
    type: Error,
    message: /aten::ones: argument 'device': unknown device 'tpu' \(expected 'cpu', 'cuda' or 'cuda:N'\)/,
  },
  {
    name: "device 'cuda:x'",
    run: () => ones([2], { device: 'cuda:x' as msam.Device }),
    type: Error,
    message: /aten::ones: argument 'device': unknown device 'cuda:x'/,
  },
  {
    name: "tensor() on device 'cuda'",
    run: () => tensor([1, 2], { device: 'cuda' }),
    type: Error,
    message: /tensor: device 'cuda' is not available/,
  },
  {
    name: "to('cuda')",
    run: () => ones([2]).to('cuda'),
    type: Error,
    message: /aten::to\.device: argument 'device': device 'cuda' is not available/,
  },

  {
    name: "to('float128'), neither a dtype nor a device",
    run: () => ones([2]).to('float128' as msam.DType),
    type: TypeError,
    message: /to: 'float128' is neither a dtype \(float32, .*\) nor a device/,
  },
  {
    name: "to('tpu')",
    run: () => ones([2]).to('tpu' as msam.Device),
    type: TypeError,
    message: /to: 'tpu' is neither a dtype .* nor a device/,
  },

  // ---- dtype names ----
  {
    name: "unknown dtype 'float128' to a factory",
    run: () => ones([2], { dtype: 'float128' as msam.DType }),
    type: TypeError,
    message: /aten::ones: argument 'dtype': unknown dtype 'float128' \(expected float32, float64/,
  },
  {
    name: "unknown dtype 'complex64' to tensor()",
    run: () => tensor([1, 2], { dtype: 'complex64' as msam.DType }),
    type: TypeError,
    message: /tensor: unknown dtype 'complex64'/,
  },

  // ---- indices out of range ----
  {
    name: 'index(5) on a tensor of size 3',
    run: () => ones([3]).index(5),
    type: RangeError,
    message: /aten::select\.int: select\(\): index 5 out of range for tensor of size \[3\] at dimension 0/,
  },
  {
    name: 'select(0, 3) on [3, 2]',
    run: () => ones([3, 2]).select(0, 3),
    type: RangeError,
    message: /aten::select\.int: select\(\): index 3 out of range for tensor of size \[3, 2\] at dimension 0/,
  },
  {
    name: 'narrow(0, 2, 5) on size 3',
    run: () => ones([3]).narrow(0, 2, 5),
    type: Error,
    message: /aten::narrow: start \(2\) \+ length \(5\) exceeds dimension size \(3\)/,
  },
  {
    name: 'gather with an index of 7 on size 3',
    run: () => ones([3]).gather(0, tensor([0, 7])),
    type: Error,
    message: /aten::gather: index 7 is out of bounds for dimension 0 with size 3/,
  },
  {
    name: 'embedding index 10 into 5 rows',
    run: () => msam.embedding(tensor([0, 10]), ones([5, 2])),
    type: RangeError,
    message: /aten::embedding: index out of range/,
  },
  {
    name: 'indexSelect index 5 on size 3',
    run: () => ones([3]).indexSelect(0, tensor([5])),
    type: RangeError,
    message: /aten::index_select: index out of range/,
  },
  {
    name: 'sum over dim 2 of a 1-d tensor',
    run: () => ones([3]).sum(2),
    type: RangeError,
    message: /aten::sum\.dim_IntList: Dimension out of range \(expected to be in range of \[-1, 0\], but got 2\)/,
  },
  {
    name: 'index with more indices than dims',
    run: () => ones([3]).index(0, 0),
    type: RangeError,
    message: /index: too many indices \(2\) for a tensor of 1 dimension/,
  },

  // ---- disposed tensors ----
  {
    name: 'a method of a disposed tensor',
    run: () => disposed().add(1),
    type: Error,
    message: /aten::add\.Scalar: argument 'self' is a disposed tensor/,
  },
  {
    name: 'a disposed tensor as an argument',
    run: () => ones([2]).add(disposed()),
    type: Error,
    message: /aten::add\.Tensor: argument 'other' is a disposed tensor/,
  },
  {
    name: 'a disposed tensor inside an array argument (cat)',
    run: () => msam.cat([ones([2]), disposed()]),
    type: Error,
    message: /aten::cat: argument 'tensors'\[1\] is a disposed tensor/,
  },
  {
    name: 'item() of a disposed tensor',
    run: () => disposed([1]).item(),
    type: Error,
    message: /item.* disposed tensor/,
  },

  // ---- wrong JS argument types ----
  {
    name: 'a string where a tensor is expected',
    run: () => ones([2]).matmul('x' as unknown as msam.Tensor),
    type: TypeError,
    message: /matmul: argument 'other' must be a Tensor, got string/,
  },
  {
    name: 'a number where only a tensor is accepted',
    run: () => ones([2]).matmul(3 as unknown as msam.Tensor),
    type: TypeError,
    message: /matmul: argument 'other' must be a Tensor, got number/,
  },
  {
    name: 'null where a tensor is expected',
    run: () => ones([2]).matmul(null as unknown as msam.Tensor),
    type: TypeError,
    message: /matmul: argument 'other' must be a Tensor, got null/,
  },
  {
    name: 'a plain object where a tensor is expected',
    run: () => ones([2]).dot({ data: [1, 2] } as unknown as msam.Tensor),
    type: TypeError,
    message: /dot: argument 'tensor' must be a Tensor, got object/,
  },
  {
    name: 'an array where a tensor is expected',
    run: () => ones([2]).add([1, 2] as unknown as msam.Tensor),
    type: TypeError,
    message: /add: argument 'other' must be a Tensor, got an array/,
  },
  {
    name: 'a number inside a tensor-list argument (cat)',
    run: () => msam.cat([ones([2]), 3 as unknown as msam.Tensor]),
    type: TypeError,
    message: /aten::cat: argument 'tensors'\[1\] must be a Tensor, got a number/,
  },
  {
    name: 'a string as self through ops.call',
    run: () => msam.ops.call('aten::neg', '', 'x'),
    type: TypeError,
    message: /aten::neg: argument 'self' must be a Tensor, got a string/,
  },
  {
    name: 'a non-integer dim',
    run: () => ones([2, 3]).sum(0.5),
    type: TypeError,
    message: /aten::sum\.dim_IntList: argument 'dim'\[0\] must be an integer, got 0\.5/,
  },
  {
    name: 'a non-integer size',
    run: () => ones([2.5]),
    type: TypeError,
    message: /aten::ones: argument 'size'\[0\] must be an integer, got 2\.5/,
  },
  {
    name: 'a boolean where an integer dim is expected',
    run: () => ones([2, 3]).softmax(true as unknown as number),
    type: TypeError,
    message: /aten::softmax\.int: argument 'dim' must be an integer/,
  },
  {
    name: 'a boolean where a float is expected (dropout p)',
    run: () => msam.dropout(ones([2]), true as unknown as number),
    type: TypeError,
    message: /aten::dropout: argument 'p' must be a number/,
  },
  {
    name: 'a string shape',
    run: () => zeros('3' as unknown as number[]),
    type: TypeError,
    message: /aten::zeros: argument 'size' must be an array of integers/,
  },

  // ---- tensor() data ----
  {
    name: 'a ragged nested array',
    run: () => tensor([[1, 2], [3]]),
    type: TypeError,
    message: /tensor: ragged nested array at data\[1\]: expected 2 elements, got 1/,
  },
  {
    name: 'a number where a row is expected',
    run: () => tensor([[1, 2], 3] as unknown as number[][]),
    type: TypeError,
    message: /tensor: ragged nested array at data\[1\]: expected 2 elements, got number/,
  },
  {
    name: 'a string among the values',
    run: () => tensor([1, 'a'] as unknown as number[]),
    type: TypeError,
    message: /tensor: expected a number or boolean at data\[1\], got string/,
  },
  {
    name: 'data length not matching the shape (native fromData)',
    run: () => new msam.Tensor(native.fromData(new Float32Array(5), [2, 3], null, null, false)),
    type: RangeError,
    message: /tensor: 5 values do not fill shape \[2, 3\] \(6 elements\)/,
  },

  // ---- the ops bridge ----
  {
    name: 'an unknown operator',
    run: () => msam.ops.call('aten::frobnicate', ''),
    type: Error,
    message: /ops: unknown operator 'aten::frobnicate'/,
  },
  {
    name: 'an unknown overload',
    run: () => msam.ops.call('aten::add', 'Nope', ones([2]), ones([2])),
    type: Error,
    message: /ops: unknown operator 'aten::add\.Nope'/,
  },
  {
    name: 'an operator name without a namespace',
    run: () => msam.ops.call('add', 'Tensor'),
    type: TypeError,
    message: /ops\.call: operator name must look like 'aten::add', got "add"/,
  },
  {
    name: 'an unknown keyword argument',
    run: () => msam.ops.call('aten::add', 'Tensor', ones([2]), ones([2]), { beta: 2 }),
    type: TypeError,
    message: /aten::add\.Tensor: unknown keyword argument 'beta'/,
  },
  {
    name: 'an argument given both positionally and by keyword',
    run: () => msam.ops.call('aten::add', 'Tensor', ones([2]), ones([2]), { other: ones([2]) }),
    type: TypeError,
    message: /aten::add\.Tensor: argument 'other' given twice/,
  },
  {
    name: 'too many arguments',
    run: () => msam.ops.call('aten::neg', '', ones([2]), 1, 2),
    type: TypeError,
    message: /aten::neg: takes 1 arguments, got 3/,
  },
  {
    name: 'a missing required argument',
    run: () => msam.ops.call('aten::add', 'Tensor', ones([2])),
    type: TypeError,
    message: /aten::add\.Tensor: missing argument 'other'/,
  },

  {
    name: 'a 2-element padding for a 4-element int[4] argument',
    run: () => msam.ops.call('aten::reflection_pad2d', '', ones([1, 1, 3, 3]), [1, 2]),
    type: RangeError,
    message: /aten::reflection_pad2d: argument 'padding' must be an integer or a list of 4 integers, got a list of 2/,
  },
  {
    name: 'a 3-element stride for conv2d',
    run: () => msam.conv2d(ones([1, 1, 5, 5]), ones([1, 1, 3, 3]), null, { stride: [1, 1, 1] as unknown as [number, number] }),
    type: RangeError,
    message: /aten::conv2d: argument 'stride' must be an integer or a list of 2 integers, got a list of 3/,
  },

  // ---- option values ----
  {
    name: 'dropout p = 1.5',
    run: () => msam.dropout(ones([2]), 1.5),
    type: RangeError,
    message: /dropout: p must be in \[0, 1\], got 1\.5/,
  },
  {
    name: 'dropout p = -0.1 through ops.call (libtorch checks it)',
    run: () => msam.ops.call('aten::dropout', '', ones([2]), -0.1, true),
    type: Error,
    message: /aten::dropout: dropout probability has to be between 0 and 1, but got -0\.1/,
  },
  {
    name: "reduction 'avg'",
    run: () => msam.crossEntropy(ones([2, 3]), tensor([0, 1]), { reduction: 'avg' as msam.Reduction }),
    type: TypeError,
    message: /crossEntropy: reduction must be 'none', 'mean' or 'sum', got 'avg'/,
  },
  {
    name: "a slice string '1:x'",
    run: () => ones([3]).index('1:x'),
    type: TypeError,
    message: /index: bad slice '1:x': end 'x' is not an integer/,
  },
  {
    name: "a slice string with four parts '1:2:3:4'",
    run: () => ones([3]).index('1:2:3:4'),
    type: TypeError,
    message: /index: bad slice '1:2:3:4'/,
  },
  {
    name: "a slice step of 0 ('::0')",
    run: () => ones([3]).index('::0'),
    type: RangeError,
    message: /index: slice step must be positive, got 0/,
  },

  // ---- values and autograd ----
  {
    name: 'item() of a 3-element tensor',
    run: () => ones([3]).item(),
    type: Error,
    message: /item: a Tensor with 3 elements cannot be converted to Scalar/,
  },
  {
    name: 'backward() of a non-scalar without a gradient',
    run: () => ones([3], { requiresGrad: true }).mul(2).backward(),
    type: Error,
    message: /backward: grad can be implicitly created only for scalar outputs/,
  },
  {
    name: 'backward() of a tensor outside the graph',
    run: () => ones([3]).sum().backward(),
    type: Error,
    message: /backward: element 0 of tensors does not require grad and does not have a grad_fn/,
  },
  {
    name: 'backward() twice without retainGraph',
    run: () => {
      const x = ones([3], { requiresGrad: true });
      const y = x.mul(x).sum();
      y.backward();
      y.backward();
    },
    type: Error,
    message: /backward: Trying to backward through the graph a second time[\s\S]*retain_graph=True/,
  },
  {
    name: 'manualSeed(-1)',
    run: () => msam.manualSeed(-1),
    type: TypeError,
    message: /manualSeed: seed must be a non-negative integer/,
  },
  // ---- memory: libtorch's allocator assertion, said plainly ----
  {
    name: 'zeros of 10⁷ × 10⁷ float32 (out of memory)',
    run: () => zeros([1e7, 1e7]),
    type: Error,
    message: /^aten::zeros: out of memory on the CPU: tried to allocate 363\.8 TiB \(400000000000000 bytes\) at once/,
  },
  {
    name: 'manualSeed(1.5)',
    run: () => msam.manualSeed(1.5),
    type: TypeError,
    message: /manualSeed: seed must be a non-negative integer/,
  },
];

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe('errors: bad input throws a JS error naming the op and the cause', () => {
  it('has a case for every kind of mistake', () => {
    expect(cases.length).toBeGreaterThanOrEqual(35);
    expect(new Set(cases.map((c) => c.name)).size).toBe(cases.length);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const before = msam.memory().tensors;
    // tidy() disposes the inputs each case makes, on the way out of the throw.
    const err = caught(() => msam.tidy(() => c.run()));

    expect(err, 'it should throw').toBeInstanceOf(Error);
    expect((err as Error).constructor).toBe(c.type);
    expect((err as Error).message).toMatch(c.message);
    // Native detail stays out of the message.
    expect((err as Error).message).not.toMatch(/Exception raised from|\.cpp:\d+/);

    // The process survived: nothing leaked, and the next op works.
    expect(msam.memory().tensors).toBe(before);
    const a = msam.tensor([1, 2, 3]);
    const b = a.add(1);
    expect(b.toArray()).toEqual([2, 3, 4]);
    a.dispose();
    b.dispose();
    expect(msam.memory().tensors).toBe(before);
  });

  it('leaks no tensor when a factory fails after making it (requiresGrad on int64), outside tidy', () => {
    const before = msam.memory().tensors;
    expect(() => tensor([1, 2], { requiresGrad: true })).toThrow(/floating point/);
    expect(() => ones([2], { dtype: 'int64', requiresGrad: true })).toThrow(/floating point/);
    expect(msam.memory().tensors).toBe(before);
  });

  it('keeps working after a long run of errors', () => {
    for (let i = 0; i < 200; i++) {
      const c = cases[i % cases.length] as Case;
      expect(caught(() => msam.tidy(() => c.run()))).toBeInstanceOf(c.type);
    }
    const r = msam.tidy(() => msam.ones([2, 2]).matmul(msam.ones([2, 2])).sum().item());
    expect(r).toBe(8);
  });
});

describe("errors: a training step's batch, named in the user's terms", () => {
  const model = new msam.nn.Linear(4, 3);
  const sam = new msam.MSAM(model, new msam.optim.SGD(model.parameters(), { lr: 0.1 }), { m: 2, rho: 0.05 });
  it('a disposed input, a float target for cross-entropy, sizes that disagree', async () => {
    const gone = msam.randn([4, 4]);
    gone.dispose();
    await expect(sam.step({ input: gone, target: tensor([0, 1, 2, 0]) })).rejects.toThrow(/^MSAM: batch\.input was disposed before the step: keep a batch's tensors until its step\(\) has resolved$/);
    const x = msam.randn([4, 4]);
    await expect(sam.step({ input: x, target: tensor([0, 1.5, 2, 0]) })).rejects.toThrow(/^MSAM: batch\.target is float32 of shape \[4\]: cross-entropy takes class indices as an integer tensor; convert it with target\.to\('int64'\)$/);
    expect(() => sam.stepSync({ input: [x, msam.ones([3, 4])], target: tensor([0, 1, 2, 0]) })).toThrow(/^MSAM: batch\.input\[1\] has 3 examples \(shape \[3, 4\]\) but batch\.target has 4/);
    // mse takes float targets: the check is cross-entropy's.
    const stats = await sam.gradient({ input: x, target: msam.zeros([4, 3]) }, { loss: 'mse' });
    expect(stats.skipped).toBe(false);
  });
});

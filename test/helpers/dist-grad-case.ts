// The model and batch of the data-parallel gradient test, built the same way in every process.
import * as msam from '../../lib';

export const GRAD_CASE = { B: 11, m: 5, rho: 0.1 } as const;

/** A float64 CNN with BatchNorm (ghost statistics per shard make the shard split matter). */
export function gradModel(): msam.nn.Module {
  msam.manualSeed(11);
  const model = new msam.nn.Sequential(
    new msam.nn.Conv2d(1, 3, 3),
    new msam.nn.BatchNorm2d(3),
    new msam.nn.ReLU(),
    new msam.nn.Flatten(),
    new msam.nn.Linear(48, 4),
  );
  model.to('float64');
  model.train();
  return model;
}

export function gradBatch(): { x: msam.Tensor; y: msam.Tensor } {
  msam.manualSeed(5);
  return { x: msam.randn([GRAD_CASE.B, 1, 6, 6], { dtype: 'float64' }), y: msam.randint(0, 4, [GRAD_CASE.B]) };
}

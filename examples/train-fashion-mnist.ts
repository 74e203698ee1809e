// Build a small CNN from native modules and train it for one epoch on Fashion-MNIST with mSAM.
//   npx ts-node examples/train-fashion-mnist.ts        (or: node dist/examples/train-fashion-mnist.js)
import * as msam from 'msam';

const { nn } = msam;

async function main(): Promise<void> {
  msam.manualSeed(0);
  const train = msam.data.loadMnist({ split: 'train' });
  const test = msam.data.loadMnist({ split: 'test' });

  const model = new nn.Sequential({
    conv1: new nn.Conv2d(1, 32, 3, { padding: 1 }),
    bn1: new nn.BatchNorm2d(32),
    relu1: new nn.ReLU(),
    pool1: new nn.MaxPool2d(2),
    conv2: new nn.Conv2d(32, 64, 3, { padding: 1 }),
    bn2: new nn.BatchNorm2d(64),
    relu2: new nn.ReLU(),
    pool2: new nn.MaxPool2d(2),
    flatten: new nn.Flatten(),
    fc: new nn.Linear(64 * 7 * 7, 10),
  });
  console.log(String(model), `\n${model.numParameters()} parameters`);

  const batchSize = 128;
  const steps = Math.floor(train.labels.shape[0]! / batchSize);
  const opt = new msam.optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 5e-4 });
  const lr = msam.schedule.oneCycle({ maxLr: 0.05, totalSteps: steps });
  const sam = new msam.MSAM(model, opt, { m: 4, rho: 0.05 });
  // Pixels to [0, 1], normalized by the data set's mean and standard deviation.
  const prepare = (images: msam.Tensor) => images.float().div(255).sub(0.286).div(0.353);

  const order = msam.randperm(train.labels.shape[0]!);
  const started = Date.now();
  for (let step = 0; step < steps; step++) {
    opt.setLr(lr(step));
    const stats = await msam.tidy(async () => {
      const idx = order.narrow(0, step * batchSize, batchSize);
      const batch = { input: prepare(train.images.indexSelect(0, idx)), target: train.labels.indexSelect(0, idx) };
      return sam.step(batch, { loss: 'cross_entropy', labelSmoothing: 0.1 });
    });
    if (step % 50 === 0 || step === steps - 1) {
      const rate = ((step + 1) * batchSize) / ((Date.now() - started) / 1000);
      console.log(`step ${step + 1}/${steps}  loss ${stats.loss.toFixed(4)}  ${rate.toFixed(0)} examples/s`);
    }
  }

  model.eval();
  const correct = msam.noGrad(() =>
    msam.tidy(() => {
      let right = 0;
      for (let i = 0; i < test.labels.shape[0]!; i += 1000) {
        const logits = model.forward(prepare(test.images.narrow(0, i, 1000)));
        right += logits.argmax(1).eq(test.labels.narrow(0, i, 1000)).sum().item();
      }
      return right;
    }),
  );
  console.log(`test accuracy after one epoch: ${((100 * correct) / test.labels.shape[0]!).toFixed(2)}%`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});

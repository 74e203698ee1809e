// models.fromPretrained / savePretrained for RoBERTa against transformers itself:
// test/fixtures/pretrained_ref.py (run with the reference venv, scripts/reference-venv.sh) saves
// small random-weight RobertaForSequenceClassification and RobertaModel checkpoints (2 layers,
// hidden 32, random LayerNorm affines and biases), one sharded, with a trained byte-level BPE
// tokenizer, and transformers' logits on padded inputs and its loading reports. msam must give
// the same logits (≤ 1e-4 float32, ≤ 1e-10 float64), the same report, and a saved model that
// transformers loads to the same logits. Then bad checkpoints: each a named PretrainedError.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { noGrad } from '../lib/autograd';
import { reference } from './helpers/reference';

const { models } = msam;
const SCRIPT = path.join(__dirname, 'fixtures', 'pretrained_ref.py');
const ref = reference(['torch', 'transformers', 'tokenizers', 'safetensors'], 'pretrained-roberta.test.ts (parity with transformers; bash scripts/reference-venv.sh makes it)');

interface Expected {
  inputs: { ids: number[][]; mask: number[][] };
  logits: Record<string, { float32: number[][]; float64: number[][] }>;
  loading: Record<string, { missing_keys: string[]; unexpected_keys: string[]; mismatched_keys: string[] }>;
}

const run = promisify(execFile);
async function py<T>(...args: string[]): Promise<T> {
  const { stdout } = await run(ref.python as string, [SCRIPT, ...args], { maxBuffer: 64 << 20, timeout: 300_000 });
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}

const maxDiff = (a: number[][], b: number[][]): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => (m = Math.max(m, Math.abs(v - (b[i] as number[])[j]!)))));
  return m;
};

function logitsOf(model: msam.nn.Module, inputs: Expected['inputs']): number[][] {
  const ids = msam.tensor(inputs.ids, { dtype: 'int64' });
  const mask = msam.tensor(inputs.mask, { dtype: 'int64' });
  const out = noGrad(() => model.forward(ids, mask));
  const rows = out.double().toArray() as number[][];
  for (const t of [ids, mask, out]) t.dispose();
  return rows;
}

async function rejects(p: Promise<unknown>, code: string, ...mentions: string[]): Promise<string> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(models.PretrainedError);
  const err = e as msam.models.PretrainedError;
  expect(err.name).toBe('PretrainedError');
  expect(err.code).toBe(code);
  for (const m of mentions) expect(err.message).toContain(m);
  return err.message;
}

describe.skipIf(!ref.ok)(`RoBERTa from transformers checkpoints${ref.ok ? '' : ` (skipped: ${ref.reason})`}`, () => {
  let root: string;
  let expected: Expected;
  const measured: string[] = [];
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-pretrained-'));
    await py('make', root);
    expected = JSON.parse(fs.readFileSync(path.join(root, 'expected.json'), 'utf8')) as Expected;
  }, 300_000);
  afterAll(() => {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
    if (measured.length) console.log(`max |logit difference| vs transformers:\n  ${measured.join('\n  ')}`);
  });

  it('a RobertaForSequenceClassification folder: its logits, padding included, in float32 and float64', async () => {
    const ref32 = expected.logits['roberta-cls']!;
    const a = await models.fromPretrained(path.join(root, 'roberta-cls'));
    expect(a.arch).toBe('roberta');
    expect(a.report).toEqual({ missing: [], unexpected: [], reinitialized: [] });
    const d32 = maxDiff(logitsOf(a.model, expected.inputs), ref32.float32);
    measured.push(`roberta-cls float32: ${d32.toExponential(2)}`);
    expect(d32).toBeLessThanOrEqual(1e-4);
    const b = await models.fromPretrained(path.join(root, 'roberta-cls'), { dtype: 'float64' });
    const p = b.model.parameters()[0]!;
    expect(p.dtype).toBe('float64');
    const d64 = maxDiff(logitsOf(b.model, expected.inputs), ref32.float64);
    measured.push(`roberta-cls float64: ${d64.toExponential(2)}`);
    expect(d64).toBeLessThanOrEqual(1e-10);
    // The logits are no constant: a model that ignored its input could not pass.
    const rows = ref32.float32;
    expect(Math.abs(rows[0]![0]! - rows[1]![0]!)).toBeGreaterThan(0.01);
  });

  it('padding changes nothing: a row alone equals the row padded in a batch', async () => {
    const { model } = await models.fromPretrained(path.join(root, 'roberta-cls'), { dtype: 'float64' });
    const n = expected.inputs.mask[1]!.reduce((s, v) => s + v, 0);
    const alone = logitsOf(model, { ids: [expected.inputs.ids[1]!.slice(0, n)], mask: [expected.inputs.mask[1]!.slice(0, n)] });
    expect(maxDiff(alone, [expected.logits['roberta-cls']!.float64[1]!])).toBeLessThanOrEqual(1e-10);
  });

  it('a sharded checkpoint (model.safetensors.index.json) and a single file with arch load the same weights', async () => {
    const whole = logitsOf((await models.fromPretrained(path.join(root, 'roberta-cls'))).model, expected.inputs);
    const sharded = await models.fromPretrained(path.join(root, 'roberta-sharded'));
    expect(fs.readdirSync(path.join(root, 'roberta-sharded')).filter((f) => /^model-\d+-of-\d+\.safetensors$/.test(f)).length).toBeGreaterThan(1);
    expect(logitsOf(sharded.model, expected.inputs)).toEqual(whole);
    const file = path.join(root, 'roberta-cls', 'model.safetensors');
    const single = await models.fromPretrained(file, { arch: 'roberta', config: { num_attention_heads: 4 } });
    expect(single.config['num_hidden_layers']).toBe(2);
    expect(single.config['num_labels']).toBe(3);
    expect(logitsOf(single.model, expected.inputs)).toEqual(whole);
    // Heads do not show in the weights, and 32 is no multiple of 64: the error says what to give.
    await rejects(models.fromPretrained(file, { arch: 'roberta' }), 'BAD_OPTION', 'num_attention_heads');
    await rejects(models.fromPretrained(file), 'BAD_OPTION', 'options.arch');
  });

  it("a head swap reports exactly what transformers' from_pretrained reports", async () => {
    const base = await models.fromPretrained(path.join(root, 'roberta-base'), { numClasses: 3 });
    const tf = expected.loading['roberta-base']!;
    expect(base.report.missing).toEqual(tf.missing_keys);
    expect(base.report.unexpected).toEqual(tf.unexpected_keys);
    expect(base.report.reinitialized).toEqual([...tf.missing_keys, ...tf.mismatched_keys].sort());
    expect(base.report.missing.length).toBe(4);

    const five = await models.fromPretrained(path.join(root, 'roberta-cls'), { numClasses: 5 });
    const tf5 = expected.loading['roberta-cls:5']!;
    expect(five.report).toEqual({ missing: tf5.missing_keys, unexpected: tf5.unexpected_keys, reinitialized: [...tf5.missing_keys, ...tf5.mismatched_keys].sort() });
    expect(five.report.reinitialized).toEqual(['classifier.out_proj.bias', 'classifier.out_proj.weight']);
    const logits = logitsOf(five.model, expected.inputs);
    expect(logits[0]!.length).toBe(5);
    // The kept part of the head is the checkpoint's: its dense layer equals the 3-class model's.
    const three = await models.fromPretrained(path.join(root, 'roberta-cls'));
    const dense = (m: msam.nn.Module): number[] => (m.stateDict()['classifier.dense.weight'] as msam.Tensor).flatten().toArray() as number[];
    expect(dense(five.model)).toEqual(dense(three.model));
    // The new out_proj as transformers initializes it: bias 0, weight N(0, initializer_range²).
    const sd = five.model.stateDict();
    expect(sd['classifier.out_proj.bias']!.toArray()).toEqual([0, 0, 0, 0, 0]);
    const w = sd['classifier.out_proj.weight']!.flatten().toArray() as number[];
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    expect(std).toBeGreaterThan(0.15); // the fixture's initializer_range is 0.3
    expect(std).toBeLessThan(0.45);
  });

  it('strict refuses any mismatch and names every key; it is the default without numClasses', async () => {
    const msg = await rejects(models.fromPretrained(path.join(root, 'roberta-base')), 'KEY_MISMATCH', 'classifier.dense.weight', 'classifier.out_proj.bias', 'pooler.dense.weight');
    expect(msg).toContain('numClasses');
    await rejects(models.fromPretrained(path.join(root, 'roberta-base'), { numClasses: 3, strict: true }), 'KEY_MISMATCH', 'classifier.dense.bias', 'pooler.dense.bias');
    await rejects(models.fromPretrained(path.join(root, 'roberta-cls'), { numClasses: 5, strict: true }), 'KEY_MISMATCH', 'classifier.out_proj.weight');
    // No mismatch: strict passes.
    expect((await models.fromPretrained(path.join(root, 'roberta-cls'), { numClasses: 3, strict: true })).report.reinitialized).toEqual([]);
  });

  it('savePretrained writes a folder transformers loads, to the same logits', async () => {
    const loaded = await models.fromPretrained(path.join(root, 'roberta-base'), { numClasses: 3 });
    // Fine-tuned: every weight moved, so that a stale or misplaced tensor shows.
    msam.manualSeed(3);
    noGrad(() => {
      for (const p of loaded.model.parameters()) {
        const r = msam.randn(p.shape).mul(0.05);
        p.add_(r);
        r.dispose();
      }
    });
    const out = path.join(root, 'saved');
    await models.savePretrained(loaded.model, out);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    const inputsFile = path.join(root, 'inputs.json');
    fs.writeFileSync(inputsFile, JSON.stringify(expected.inputs));
    const back = await py<{ logits: number[][]; loading: Expected['loading'][string]; architectures: string[]; num_labels: number }>('logits', out, inputsFile);
    expect(back.architectures).toEqual(['RobertaForSequenceClassification']);
    expect(back.num_labels).toBe(3);
    expect(back.loading).toEqual({ missing_keys: [], unexpected_keys: [], mismatched_keys: [] });
    const d = maxDiff(logitsOf(loaded.model, expected.inputs), back.logits);
    measured.push(`round trip (msam → transformers) float32: ${d.toExponential(2)}`);
    expect(d).toBeLessThanOrEqual(1e-4);
    // And msam reads its own save strictly, to identical logits.
    const again = await models.fromPretrained(out);
    expect(logitsOf(again.model, expected.inputs)).toEqual(logitsOf(loaded.model, expected.inputs));
  });

  it('glue-mrpc-roberta --pretrained: the paper\'s preset fine-tunes the checkpoint end to end, with its tokenizer', async () => {
    expect(msam.train === undefined).toBe(false);
    const { presets } = await import('../lib/train');
    expect([presets['glue-cola-roberta'], presets['glue-mrpc-roberta'], presets['glue-sst2-roberta'], presets['glue-qqp-roberta']].map((p) => p.config.rho)).toEqual([0.01, 0.01, 0.05, 0.05]);
    const data = path.join(root, 'MRPC');
    fs.mkdirSync(data, { recursive: true });
    const pairs = ['The quick brown fox.', 'A man is playing a guitar.', 'Stocks fell sharply.', 'The movie was wonderful.'];
    const tsv = (n: number, off: number): string =>
      `Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n${Array.from({ length: n }, (_, i) => `${(i + off) % 2}\t${i}\t${i + 1000}\t${pairs[i % 4]} ${'é'.repeat(i % 3)}\t${pairs[(i + off) % 4]}`).join('\n')}\n`;
    fs.writeFileSync(path.join(data, 'train.tsv'), tsv(36, 0));
    fs.writeFileSync(path.join(data, 'dev.tsv'), tsv(12, 1));
    const out = path.join(root, 'run-mrpc');
    const lines: string[] = [];
    const r = await msam.train(
      { preset: 'glue-mrpc-roberta', pretrained: path.join(root, 'roberta-base'), data: { dir: data }, m: 2, epochs: 1, batchSize: 16, device: 'cpu', outDir: out, log: { progress: 'plain' } },
      { handleSigint: false, log: (l) => void lines.push(l) },
    );
    expect(r.interrupted).toBe(false);
    expect(r.steps).toBe(2);
    expect(r.metric).toBe('f1');
    expect(lines.join('\n')).toContain(`text encoded by tokenizer ${path.join(root, 'roberta-base', 'tokenizer.json')}`);
    // The fine-tuned model is also written in transformers' layout, and loads strictly.
    const tuned = await models.fromPretrained(path.join(out, 'pretrained'));
    expect(tuned.config['architectures']).toEqual(['RobertaForSequenceClassification']);
    expect(tuned.tokenizer).not.toBeNull();
  }, 120_000);

  describe('bad checkpoints: a named error, nothing loaded', () => {
    const copy = (from: string, to: string): string => {
      fs.cpSync(path.join(root, from), path.join(root, to), { recursive: true });
      return path.join(root, to);
    };
    const editConfig = (dir: string, edit: (c: Record<string, unknown>) => void): void => {
      const f = path.join(dir, 'config.json');
      const c = JSON.parse(fs.readFileSync(f, 'utf8')) as Record<string, unknown>;
      edit(c);
      fs.writeFileSync(f, JSON.stringify(c));
    };

    it('a folder without config.json', async () => {
      const dir = copy('roberta-cls', 'no-config');
      fs.rmSync(path.join(dir, 'config.json'));
      await rejects(models.fromPretrained(dir), 'NO_CONFIG', 'config.json');
    });
    it('an unknown architecture, or one of RoBERTa whose variant msam does not build', async () => {
      const dir = copy('roberta-cls', 'gpt2');
      editConfig(dir, (c) => {
        c['model_type'] = 'gpt2';
        c['architectures'] = ['GPT2LMHeadModel'];
      });
      await rejects(models.fromPretrained(dir), 'UNKNOWN_ARCH', 'gpt2');
      const rel = copy('roberta-cls', 'relative');
      editConfig(rel, (c) => (c['position_embedding_type'] = 'relative_key'));
      await rejects(models.fromPretrained(rel), 'UNKNOWN_ARCH', 'relative_key');
      await rejects(models.fromPretrained(path.join(root, 'roberta-cls'), { arch: 'bert' as never }), 'UNKNOWN_ARCH', 'bert');
    });
    it('shapes that disagree with the config', async () => {
      const dir = copy('roberta-cls', 'wide');
      editConfig(dir, (c) => (c['intermediate_size'] = 128));
      await rejects(models.fromPretrained(dir), 'SHAPE_MISMATCH', 'encoder.layer.0.intermediate.dense.weight', 'encoder.layer.1.output.dense.weight');
      // A head swap does not excuse a body that disagrees.
      await rejects(models.fromPretrained(dir, { numClasses: 2 }), 'SHAPE_MISMATCH', 'intermediate.dense');
    });
    it('a truncated shard, and an index that names a missing shard', async () => {
      const dir = copy('roberta-sharded', 'truncated');
      const shard = fs.readdirSync(dir).filter((f) => f.startsWith('model-')).sort()[1] as string;
      const bytes = fs.readFileSync(path.join(dir, shard));
      fs.writeFileSync(path.join(dir, shard), bytes.subarray(0, bytes.length - 100));
      await rejects(models.fromPretrained(dir), 'BAD_WEIGHTS', shard);
      const gone = copy('roberta-sharded', 'missing-shard');
      fs.rmSync(path.join(gone, shard));
      await rejects(models.fromPretrained(gone), 'BAD_WEIGHTS', shard);
    });
    it('no weights, a pickle only, bad options', async () => {
      const dir = copy('roberta-cls', 'pickle');
      fs.renameSync(path.join(dir, 'model.safetensors'), path.join(dir, 'pytorch_model.bin'));
      await rejects(models.fromPretrained(dir), 'NO_WEIGHTS', 'pytorch_model.bin');
      await rejects(models.fromPretrained(path.join(root, 'nowhere')), 'NO_WEIGHTS', 'nowhere');
      await rejects(models.fromPretrained(path.join(root, 'roberta-cls'), { numClasses: 0 }), 'BAD_OPTION', 'numClasses');
      await rejects(models.fromPretrained(path.join(root, 'roberta-cls'), { numLabels: 2 } as never), 'BAD_OPTION', 'numLabels');
      await rejects(models.savePretrained(models.textClassifier({ vocabSize: 10, hiddenDim: 8, numHeads: 2, numLayers: 1, mlpDim: 8 }), path.join(root, 'x')), 'BAD_OPTION', 'fromPretrained');
    });
  });
});

// GLUE CoLA, MRPC, SST-2 and QQP: the tests write tiny TSV files in the real layouts, load and
// tokenize them (the word-level fallback and a tokenizer.json) and check every id; each bad-data
// case and its message; the metrics against hand-computed values; and tiny training runs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { loadGlue, readGlueTsv } from '../lib/data/glue';
import { accuracy, f1Score, matthewsCorrcoef } from '../lib/data/metrics';
import { encodeTexts } from '../lib/data/tokenizer';
import { WordVocab, words } from '../lib/data/vocab';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-glue-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const rows = (t: msam.Tensor): number[][] => {
  const [n, l] = t.shape as [number, number];
  const v = Array.from(t.data(), Number);
  return Array.from({ length: n }, (_, i) => v.slice(i * l, (i + 1) * l));
};

function task(name: string, train: string, dev: string): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'train.tsv'), train);
  fs.writeFileSync(path.join(dir, 'dev.tsv'), dev);
  return dir;
}

describe('reading the GLUE TSV layouts', () => {
  it('CoLA: no header; source, label, original label, sentence', () => {
    const dir = task('CoLA', 'gj04\t1\t\tThe cat sat.\ngj04\t0\t*\tCat the sat.\n', 'gj04\t1\t\tA dog sat.\n');
    const r = readGlueTsv('cola', path.join(dir, 'train.tsv'));
    expect(r).toEqual({ texts: [['The cat sat.'], ['Cat the sat.']], labels: [1, 0] });
  });

  it('SST-2, MRPC and QQP: their headers and columns (CRLF line ends too)', () => {
    const sst = task('SST-2', 'sentence\tlabel\r\nit is good \t1\r\nbad , bad\t0\r\n', 'sentence\tlabel\ngood\t1\n');
    expect(readGlueTsv('sst2', path.join(sst, 'train.tsv'))).toEqual({ texts: [['it is good '], ['bad , bad']], labels: [1, 0] });
    const mrpc = task('MRPC', 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t702876\t702977\tHe said so.\tSo he said.\n', 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n0\t1\t2\ta\tb\n');
    expect(readGlueTsv('mrpc', path.join(mrpc, 'train.tsv'))).toEqual({ texts: [['He said so.', 'So he said.']], labels: [1] });
    const qqp = task('QQP', 'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n5\t11\t12\tHow old?\tWhat age?\t1\n', 'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t1\t2\tx\ty\t0\n');
    expect(readGlueTsv('qqp', path.join(qqp, 'train.tsv'))).toEqual({ texts: [['How old?', 'What age?']], labels: [1] });
  });

  it('a missing file names it and the expected layout', () => {
    const dir = path.join(tmp, 'only-train');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'train.tsv'), 'sentence\tlabel\na\t1\n');
    expect(() => loadGlue({ task: 'sst2', dir })).toThrow(/GLUE SST-2: .*only-train\/dev\.tsv not found; expected dev\.tsv with a header "sentence<TAB>label", then sentence, label \(0\/1\)/);
    expect(() => loadGlue({ task: 'cola', dir: path.join(tmp, 'absent') })).toThrow(
      /GLUE CoLA not found: the directory .*absent does not exist; it should hold train\.tsv and dev\.tsv \(no header; 4 tab-separated columns: source, label \(0\/1\), original label, sentence\)/,
    );
  });

  it('a malformed row names the file and the line; a wrong header names the expected one', () => {
    const dir = task('bad-rows', 'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\ta\tb\n0\t3\tonly three\n', 'x');
    expect(() => readGlueTsv('mrpc', path.join(dir, 'train.tsv'))).toThrow(/bad-rows\/train\.tsv: line 3: 3 tab-separated fields, expected 5 \(GLUE MRPC: /);
    const d2 = task('bad-header', 'question1\tquestion2\tis_duplicate\nx\ty\t1\n', 'x');
    expect(() => readGlueTsv('qqp', path.join(d2, 'train.tsv'))).toThrow(/bad-header\/train\.tsv: line 1: expected the header "id\\tqid1\\tqid2\\tquestion1\\tquestion2\\tis_duplicate"/);
  });

  it('labels out of range are rejected with file and line', () => {
    const dir = task('bad-label', 'src\t1\t\tok\nsrc\t2\t\tno\n', 'src\tx\t\tno\n');
    expect(() => readGlueTsv('cola', path.join(dir, 'train.tsv'))).toThrow(/bad-label\/train\.tsv: line 2: label "2" is not a class in \[0, 2\)/);
    expect(() => readGlueTsv('cola', path.join(dir, 'dev.tsv'))).toThrow(/dev\.tsv: line 1: label "x" is not a class/);
  });
});

describe('tokenization', () => {
  it('the fallback: lowercased words, ids by frequency after <s> <pad> </s> <unk>', () => {
    expect(words("It's GOOD, isn't it?")).toEqual(["it's", 'good', ',', "isn't", 'it', '?']);
    const v = WordVocab.build(['good movie', 'bad movie', 'Good good']);
    expect(v.tokens).toEqual(['<s>', '<pad>', '</s>', '<unk>', 'good', 'movie', 'bad']);
    expect(v.encode('Good unknown')).toEqual([0, 4, 3, 2]);
    expect(v.encode('good', 'bad movie')).toEqual([0, 4, 2, 2, 6, 5, 2]);
  });

  it('ids and masks padded with <pad> = 1 to the longest example, truncated to maxLength keeping </s>', () => {
    const v = WordVocab.build(['a b c d e f']);
    const e = encodeTexts(v, [['a'], ['a b c'], ['a b c d e f']], 6);
    expect(rows(e.ids)).toEqual([
      [0, 4, 2, 1, 1, 1],
      [0, 4, 5, 6, 2, 1],
      [0, 4, 5, 6, 7, 2],
    ]);
    expect(rows(e.mask)).toEqual([
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 1, 0],
      [1, 1, 1, 1, 1, 1],
    ]);
    expect([e.ids.dtype, e.mask.dtype, e.length, e.truncated]).toEqual(['int64', 'int64', 6, 1]);
  });

  it('loadGlue (MRPC pairs): the vocabulary from the training set, dev words outside it are <unk>', () => {
    const dir = task(
      'MRPC-load',
      'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t1\t2\tthe cat\tthe dog\n0\t3\t4\tA cat\tno\n',
      'Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n1\t5\t6\tthe bird\tcat\n',
    );
    const g = loadGlue({ task: 'mrpc', dir });
    // counts: cat 2, the 2, a 1, dog 1, no 1 (ties in code-point order) → cat 4, the 5, a 6, dog 7, no 8
    expect(rows(g.train.ids)).toEqual([
      [0, 5, 4, 2, 2, 5, 7, 2],
      [0, 6, 4, 2, 2, 8, 2, 1],
    ]);
    expect(rows(g.test.ids)).toEqual([[0, 5, 3, 2, 2, 4, 2]]);
    expect(Array.from(g.train.labels.data(), Number)).toEqual([1, 0]);
    expect([g.metric, g.numClasses, g.tokenizer.vocabSize]).toEqual(['f1', 2, 9]);
  });

  it('a tokenizer.json (through @huggingface/tokenizers)', () => {
    const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
    const file = path.join(tmp, 'tokenizer.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        version: '1.0',
        truncation: null,
        padding: null,
        added_tokens: [special(0, '<s>'), special(1, '<pad>'), special(2, '</s>'), special(3, '<unk>')],
        normalizer: { type: 'Lowercase' },
        pre_tokenizer: { type: 'Whitespace' },
        post_processor: { type: 'RobertaProcessing', sep: ['</s>', 2], cls: ['<s>', 0], trim_offsets: true, add_prefix_space: false },
        decoder: null,
        model: { type: 'WordLevel', vocab: { '<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3, good: 4, movie: 5, bad: 6 }, unk_token: '<unk>' },
      }),
    );
    const dir = task('SST-2-tok', 'sentence\tlabel\nGood movie\t1\nbad zzz\t0\n', 'sentence\tlabel\nmovie\t1\n');
    const g = loadGlue({ task: 'sst2', dir, tokenizer: file, maxLength: 8 });
    expect(rows(g.train.ids)).toEqual([
      [0, 4, 5, 2],
      [0, 6, 3, 2],
    ]);
    expect(rows(g.test.ids)).toEqual([[0, 5, 2]]);
    expect([g.tokenizer.vocabSize, g.tokenizer.padId, g.metric]).toEqual([7, 1, 'accuracy']);
    expect(() => loadGlue({ task: 'sst2', dir, tokenizer: path.join(tmp, 'none.json') })).toThrow(/tokenizer .*none\.json not found/);
  });
});

describe('DataLoader with [ids, mask]', () => {
  it('batches carry both inputs, indexed together; lengths must agree', () => {
    const ids = msam.tensor(Int32Array.from({ length: 12 }, (_, i) => i)).long().reshape([6, 2]);
    const mask = msam.tensor(Int32Array.from({ length: 12 }, (_, i) => 100 + i)).long().reshape([6, 2]);
    const targets = msam.tensor(Int32Array.from([0, 1, 0, 1, 0, 1])).long();
    const loader = new msam.data.DataLoader({ inputs: [ids, mask], targets, numClasses: 2 }, { batchSize: 4, seed: 5 });
    const b = loader.batch(0, 0);
    expect(Array.isArray(b.input)).toBe(true);
    const [bi, bm] = b.input as msam.Tensor[];
    expect([bi!.dtype, bm!.dtype, ...bi!.shape]).toEqual(['int64', 'int64', 4, 2]);
    const order = Array.from(loader.order(0)).slice(0, 4);
    expect(rows(bi!)).toEqual(order.map((k) => [2 * k, 2 * k + 1]));
    expect(rows(bm!)).toEqual(order.map((k) => [100 + 2 * k, 101 + 2 * k]));
    expect(Array.from(b.target.data(), Number)).toEqual(order.map((k) => k % 2));
    msam.data.disposeBatch(b);
    loader.dispose();
    expect(() => new msam.data.DataLoader({ inputs: [ids, mask.narrow(0, 0, 5)], targets }, { batchSize: 2 })).toThrow(/DataLoader: inputs\[1\] has 5 examples, inputs\[0\] 6/);
  });
});

describe('metrics (scikit-learn definitions)', () => {
  const pred = [1, 1, 0, 0, 1, 0];
  const target = [1, 0, 0, 1, 1, 0];
  it('hand-computed: TP 2, FP 1, FN 1, TN 2', () => {
    expect(accuracy(pred, target)).toBeCloseTo(4 / 6, 12);
    expect(f1Score(pred, target)).toBeCloseTo(4 / 6, 12); // 2·2 / (2·2 + 1 + 1)
    expect(matthewsCorrcoef(pred, target)).toBeCloseTo(3 / 9, 12); // (2·2 − 1·1) / √(3·3·3·3)
  });

  it('MCC: perfect 1, inverted −1, a constant prediction 0; F1 with no positives 0', () => {
    expect(matthewsCorrcoef([0, 1, 1, 0], [0, 1, 1, 0])).toBeCloseTo(1, 12);
    expect(matthewsCorrcoef([1, 0, 0, 1], [0, 1, 1, 0])).toBeCloseTo(-1, 12);
    expect(matthewsCorrcoef([1, 1, 1, 1], [0, 1, 1, 0])).toBe(0);
    expect(f1Score([0, 0], [0, 0])).toBe(0);
  });

  it('MCC matches the binary formula on random labels; CoLA-like numbers', () => {
    const rng = new msam.data.Rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const p = Array.from({ length: 50 }, () => rng.int(2));
      const t = Array.from({ length: 50 }, () => rng.int(2));
      let tp = 0, tn = 0, fp = 0, fn = 0;
      p.forEach((v, i) => (v === 1 ? (t[i] === 1 ? tp++ : fp++) : t[i] === 1 ? fn++ : tn++));
      const d = Math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn));
      expect(matthewsCorrcoef(p, t)).toBeCloseTo(d === 0 ? 0 : (tp * tn - fp * fn) / d, 12);
    }
    // tp 10, fp 3, fn 2, tn 5: (50 − 6) / √(13·12·8·7)
    const p = [...Array(10).fill(1), ...Array(3).fill(1), ...Array(2).fill(0), ...Array(5).fill(0)];
    const t = [...Array(10).fill(1), ...Array(3).fill(0), ...Array(2).fill(1), ...Array(5).fill(0)];
    expect(matthewsCorrcoef(p, t)).toBeCloseTo(44 / Math.sqrt(13 * 12 * 8 * 7), 12);
    expect(f1Score(p, t)).toBeCloseTo(20 / 25, 12);
  });
});

describe('GLUE presets train on a data directory', () => {
  const tiny = { hiddenDim: 16, numLayers: 1, numHeads: 2, mlpDim: 32, maxPositions: 32, vocabSize: 64, dropout: 0 };
  const sentences = (n: number, seed: number) => {
    const rng = new msam.data.Rng(seed);
    const good = ['good', 'great', 'fine'];
    const bad = ['bad', 'awful', 'poor'];
    const filler = ['the', 'movie', 'was', 'plot', 'very'];
    return Array.from({ length: n }, () => {
      const label = rng.int(2);
      const ws = Array.from({ length: 3 + rng.int(4) }, () => filler[rng.int(filler.length)]!);
      ws.splice(rng.int(ws.length), 0, (label ? good : bad)[rng.int(3)]!);
      return { text: ws.join(' '), label };
    });
  };

  it('glue-sst2-roberta with a tiny textClassifier: input [ids, mask], 1 epoch, accuracy', async () => {
    const toTsv = (xs: { text: string; label: number }[]) => `sentence\tlabel\n${xs.map((x) => `${x.text}\t${x.label}`).join('\n')}\n`;
    const dir = task('SST-2-run', toTsv(sentences(64, 1)), toTsv(sentences(24, 2)));
    const epochs: msam.EpochMetrics[] = [];
    const r = await msam.train(
      { preset: 'glue-sst2-roberta', data: { dir, maxLength: 16 }, model: { options: tiny }, m: 2, epochs: 1, batchSize: 16, optimizer: { lr: 1e-3 }, device: 'cpu', outDir: path.join(tmp, 'run-sst2'), log: { progress: 'none' } },
      { handleSigint: false, log: () => {}, onEpoch: (m) => void epochs.push(m) },
    );
    expect(r.interrupted).toBe(false);
    expect(r.steps).toBe(3); // 64 sentences, 6 held out for validation: 58 train in 3 batches of 16
    expect(r.valExamples).toBe(6);
    expect(r.metric).toBe('accuracy');
    expect(r.testMetric).toBe(r.testAccuracy);
    expect(epochs[0]!.metric).toBe('accuracy');
  });

  it('glue-mrpc-roberta (pairs) reports F1', async () => {
    const xs = sentences(40, 3);
    const toTsv = (ys: typeof xs) => `Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n${ys.map((x, i) => `${x.label}\t${i}\t${i + 1000}\t${x.text}\tthe movie`).join('\n')}\n`;
    const dir = task('MRPC-run', toTsv(xs.slice(0, 32)), toTsv(xs.slice(32)));
    const r = await msam.train(
      { preset: 'glue-mrpc-roberta', data: { dir, maxLength: 24 }, model: { options: tiny }, m: 2, epochs: 1, batchSize: 16, device: 'cpu', outDir: path.join(tmp, 'run-mrpc'), log: { progress: 'none' } },
      { handleSigint: false, log: () => {} },
    );
    expect(r.metric).toBe('f1');
    expect(r.testMetric).toBeGreaterThanOrEqual(0);
    expect(r.testMetric).toBeLessThanOrEqual(1);
    const lines = fs.readFileSync(path.join(tmp, 'run-mrpc', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l['type'] === 'epoch')).toMatchObject({ metric: 'f1', valMetric: r.bestValMetric });
    expect(lines.at(-1)).toMatchObject({ type: 'test', metric: 'f1', testMetric: r.bestTestMetric });
  });

  it('a vocabSize smaller than the vocabulary, and no data directory, are errors', async () => {
    const dir = path.join(tmp, 'SST-2-run');
    await expect(
      msam.train({ preset: 'glue-sst2-roberta', data: { dir }, model: { options: { ...tiny, vocabSize: 5 } }, epochs: 1, batchSize: 16, device: 'cpu', outDir: path.join(tmp, 'run-x') }, { handleSigint: false, log: () => {} }),
    ).rejects.toThrow(/model\.options\.vocabSize: 5 is smaller than the tokenizer's vocabulary \(\d+ ids\)/);
    await expect(msam.train({ preset: 'glue-cola-roberta', epochs: 1, device: 'cpu' }, { handleSigint: false })).rejects.toThrow(/data\.dir: GLUE CoLA has no standard place/);
  });
});

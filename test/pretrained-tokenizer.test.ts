// The tokenizer fromPretrained returns (lib/data/pretrained-tokenizer.ts, over
// @huggingface/tokenizers) against transformers' RobertaTokenizerFast on the same tokenizer.json
// (a byte-level BPE trained by test/fixtures/pretrained_ref.py): GLUE-like singles and pairs with
// Unicode, long inputs, truncation at odd and even lengths, and padding to the longest.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { longestFirst } from '../lib/data';
import { reference } from './helpers/reference';

const SCRIPT = path.join(__dirname, 'fixtures', 'pretrained_ref.py');
const ref = reference(['torch', 'transformers', 'tokenizers', 'safetensors'], 'pretrained-tokenizer.test.ts (parity with transformers; bash scripts/reference-venv.sh makes it)');
const run = promisify(execFile);

const LONG = 'Stocks fell sharply after the company reported weaker earnings, and analysts said the outlook was grim. '.repeat(6);
const PAIRS: [string, string?][] = [
  ['The quick brown fox jumps over the lazy dog.', 'A lazy dog sleeps.'],
  ['Naïve café owners serve crème brûlée — très délicieux!', 'Émilie a mangé 3 crêpes.'],
  ['日本語のテキストも少しだけ含めます。', 'Emoji 🙂 and symbols ∑ ∞ ≠ appear sometimes.'],
  ['  leading and trailing spaces  ', 'tabs\tand\nnewlines'],
  [LONG, 'Short one.'],
  ['Short one.', LONG],
  [LONG, LONG.slice(0, 200)],
  ['', 'An empty first sentence.'],
  ["It's a <mask> test, isn't it?", 'Yes… “quotes” and ‘apostrophes’.'],
];
const SINGLES: [string][] = [['Is this sentence grammatical? Maybe not.'], [LONG], ['🙂🙂🙂 ∑'], ['The movie was wonderful, moving and far too long.']];
const BATCHES = [
  { examples: PAIRS, max_length: 38 },
  { examples: PAIRS, max_length: 37 },
  { examples: PAIRS, max_length: 12 },
  { examples: PAIRS, max_length: 11 },
  { examples: PAIRS, max_length: 512 },
  { examples: SINGLES, max_length: 38 },
  { examples: SINGLES, max_length: 9 },
];

describe('longestFirst: tokenizers\' pair truncation', () => {
  it('keeps the shorter whole when the longer can give way, else halves (the extra one to the longer)', () => {
    expect(longestFirst(3, 30, 20)).toEqual([3, 17]);
    expect(longestFirst(30, 3, 20)).toEqual([17, 3]);
    expect(longestFirst(15, 15, 20)).toEqual([10, 10]);
    expect(longestFirst(11, 12, 21)).toEqual([10, 11]);
    expect(longestFirst(12, 11, 21)).toEqual([11, 10]);
    expect(longestFirst(5, 5, 20)).toEqual([5, 5]);
  });
});

describe.skipIf(!ref.ok)(`tokenizer.json as transformers' RobertaTokenizerFast${ref.ok ? '' : ` (skipped: ${ref.reason})`}`, () => {
  let root: string;
  beforeAll(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-tokenizer-'));
    await run(ref.python as string, [SCRIPT, 'make', root], { timeout: 300_000 });
  }, 300_000);
  afterAll(() => {
    if (root !== undefined) fs.rmSync(root, { recursive: true, force: true });
  });

  it('the same ids and attention masks, batch by batch', async () => {
    const dir = path.join(root, 'roberta-cls');
    const { tokenizer } = await msam.models.fromPretrained(dir);
    expect(tokenizer).not.toBeNull();
    const tok = tokenizer as msam.data.PretrainedTokenizer;
    expect(tok.maxLength).toBe(38); // max_position_embeddings 40 − (padding_idx 1 + 1)
    const cases = path.join(root, 'cases.json');
    fs.writeFileSync(cases, JSON.stringify(BATCHES.map((b) => ({ max_length: b.max_length, examples: b.examples.map(([a, bb]) => ({ a, ...(bb === undefined ? {} : { b: bb }) })) }))));
    const { stdout } = await run(ref.python as string, [SCRIPT, 'tokenize', dir, cases], { maxBuffer: 64 << 20 });
    const theirs = JSON.parse(stdout.trim().split('\n').pop() as string) as { ids: number[][]; mask: number[][] }[];
    let truncatedSomewhere = false;
    BATCHES.forEach((b, i) => {
      const enc = tok.encodeBatch(b.examples, { maxLength: b.max_length });
      const ours = { ids: enc.ids.toArray() as number[][], mask: enc.mask.toArray() as number[][] };
      expect(ours, `batch ${i} (max_length ${b.max_length})`).toEqual(theirs[i]);
      if (enc.truncated > 0) truncatedSomewhere = true;
      enc.ids.dispose();
      enc.mask.dispose();
    });
    expect(truncatedSomewhere).toBe(true);
    // RoBERTa's pair layout, <s> A </s></s> B </s>, and its padding id.
    const first = theirs[0]!.ids[0]!;
    expect(first[0]).toBe(0);
    expect(first.filter((id) => id === 2).length).toBe(3);
    expect(tok.padId).toBe(1);
  });
});

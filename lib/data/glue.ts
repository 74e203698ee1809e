// GLUE CoLA, MRPC, SST-2 and QQP from the TSV files of the GLUE distribution (train.tsv, dev.tsv in
// one directory per task), with their real column layouts:
//
//   CoLA   no header; source, label, original label, sentence
//   SST-2  header "sentence\tlabel"
//   MRPC   header "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String" (Quality is the label)
//   QQP    header "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate"
//
// Every task here is binary (labels 0 and 1). The GLUE test splits have no labels: the dev split is
// the evaluation set. Fields are tab-separated with no quoting (as the files are written).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tensor } from '../tensor/creation';
import type { Tensor } from '../tensor/core';
import { DataFileError } from './idx';
import { encodeTexts, JsonTokenizer, type TextTokenizer } from './tokenizer';
import { WordVocab } from './vocab';

export type GlueTask = 'cola' | 'mrpc' | 'sst2' | 'qqp';
export type GlueMetric = 'mcc' | 'f1' | 'accuracy';

interface Layout {
  title: string;
  /** The header's columns, or null (CoLA has none). */
  header: string[] | null;
  columns: number;
  label: number;
  a: number;
  b: number | null;
  /** GLUE's reported metric (the paper's Table 3): Matthews correlation for CoLA, F1 for MRPC and QQP. */
  metric: GlueMetric;
  describe: string;
}

export const GLUE_TASKS: Record<GlueTask, Layout> = {
  cola: { title: 'CoLA', header: null, columns: 4, label: 1, a: 3, b: null, metric: 'mcc', describe: 'no header; 4 tab-separated columns: source, label (0/1), original label, sentence' },
  sst2: { title: 'SST-2', header: ['sentence', 'label'], columns: 2, label: 1, a: 0, b: null, metric: 'accuracy', describe: 'a header "sentence<TAB>label", then sentence, label (0/1)' },
  mrpc: {
    title: 'MRPC',
    header: ['Quality', '#1 ID', '#2 ID', '#1 String', '#2 String'],
    columns: 5,
    label: 0,
    a: 3,
    b: 4,
    metric: 'f1',
    describe: 'a header "Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String", then label (0/1), two ids, two sentences',
  },
  qqp: {
    title: 'QQP',
    header: ['id', 'qid1', 'qid2', 'question1', 'question2', 'is_duplicate'],
    columns: 6,
    label: 5,
    a: 3,
    b: 4,
    metric: 'f1',
    describe: 'a header "id<TAB>qid1<TAB>qid2<TAB>question1<TAB>question2<TAB>is_duplicate", then three ids, two questions, label (0/1)',
  },
};

const NUM_CLASSES = 2;
const FILES = { train: 'train.tsv', dev: 'dev.tsv' } as const;

export interface GlueRows {
  texts: [string, string?][];
  labels: number[];
}

/** Reads one TSV file of `task`; errors name the file, the line (1-based) and the expected layout. */
export function readGlueTsv(task: GlueTask, file: string): GlueRows {
  const layout = GLUE_TASKS[task];
  if (layout === undefined) throw new RangeError(`readGlueTsv: task must be one of ${Object.keys(GLUE_TASKS).join(', ')}, got ${String(task)}`);
  if (!fs.existsSync(file)) {
    throw new Error(`GLUE ${layout.title}: ${file} not found; expected ${path.basename(file)} with ${layout.describe}. GLUE's data (https://gluebenchmark.com/tasks) unpacks to one directory per task; pass that directory.`);
  }
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const texts: [string, string?][] = [];
  const labels: number[] = [];
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const lineNo = i + 1;
    const fields = line.split('\t');
    if (i === 0 && layout.header !== null) {
      if (fields.length !== layout.header.length || fields.some((f, k) => f.trim() !== layout.header![k])) {
        throw new DataFileError(file, `line 1: expected the header ${JSON.stringify(layout.header.join('\t'))}, got ${JSON.stringify(line.slice(0, 120))} (GLUE ${layout.title}: ${layout.describe})`);
      }
      return;
    }
    if (fields.length !== layout.columns) {
      throw new DataFileError(file, `line ${lineNo}: ${fields.length} tab-separated field${fields.length === 1 ? '' : 's'}, expected ${layout.columns} (GLUE ${layout.title}: ${layout.describe})`);
    }
    const text = fields[layout.label]!.trim();
    const label = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(label >= 0 && label < NUM_CLASSES)) {
      throw new DataFileError(file, `line ${lineNo}: label ${JSON.stringify(text)} is not a class in [0, ${NUM_CLASSES})`);
    }
    labels.push(label);
    texts.push(layout.b === null ? [fields[layout.a]!] : [fields[layout.a]!, fields[layout.b]!]);
  });
  if (labels.length === 0) throw new DataFileError(file, `no examples (GLUE ${layout.title}: ${layout.describe})`);
  return { texts, labels };
}

export interface TextSplit {
  /** [N, L] int64 token ids. */
  ids: Tensor;
  /** [N, L] int64 attention mask (0 = padding). */
  mask: Tensor;
  /** [N] int64. */
  labels: Tensor;
}

export interface GlueData {
  train: TextSplit;
  /** The dev split (GLUE's test labels are not public). */
  test: TextSplit;
  numClasses: number;
  /** The task's metric. */
  metric: GlueMetric;
  tokenizer: TextTokenizer;
}

export interface GlueOptions {
  task: GlueTask;
  /** The task's directory: train.tsv and dev.tsv. */
  dir: string;
  /** A tokenizer.json; default: a lowercased word-level vocabulary from the training set (vocab.ts). */
  tokenizer?: string;
  /** Longest sequence, special tokens included (default 128). */
  maxLength?: number;
}

/** Loads a GLUE task's training and dev splits, tokenized to ids, masks and labels. */
export function loadGlue(opts: GlueOptions): GlueData {
  const layout = GLUE_TASKS[opts.task];
  if (layout === undefined) throw new RangeError(`loadGlue: task must be one of ${Object.keys(GLUE_TASKS).join(', ')}, got ${String(opts.task)}`);
  const dir = opts.dir;
  if (typeof dir !== 'string' || !fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new Error(
      `GLUE ${layout.title} not found: the directory ${String(dir)} does not exist; it should hold ${FILES.train} and ${FILES.dev} (${layout.describe}). GLUE's data (https://gluebenchmark.com/tasks) unpacks to one directory per task; pass that directory (nothing is downloaded at run time).`,
    );
  }
  const train = readGlueTsv(opts.task, path.join(dir, FILES.train));
  const dev = readGlueTsv(opts.task, path.join(dir, FILES.dev));
  let tokenizer: TextTokenizer;
  if (opts.tokenizer !== undefined) {
    if (!fs.existsSync(opts.tokenizer)) throw new Error(`tokenizer ${opts.tokenizer} not found (a Hugging Face tokenizer.json, e.g. roberta-base's)`);
    tokenizer = new JsonTokenizer(opts.tokenizer);
  } else {
    tokenizer = WordVocab.build(train.texts.flatMap(([a, b]) => (b === undefined ? [a] : [a, b])));
  }
  const maxLength = opts.maxLength ?? 128;
  const split = (rows: GlueRows): TextSplit => {
    const { ids, mask } = encodeTexts(tokenizer, rows.texts, maxLength);
    return { ids, mask, labels: tensor(Int32Array.from(rows.labels)).long() };
  };
  return { train: split(train), test: split(dev), numClasses: NUM_CLASSES, metric: layout.metric, tokenizer };
}

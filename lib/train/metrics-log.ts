// A run's metrics: metrics.jsonl (one JSON object a line) and metrics.csv beside it (the same
// lines as rows of fixed columns, for spreadsheets and pandas). A resumed run first cuts both
// back to the lines its checkpoint had seen, then rewrites what came after, so that a stopped and
// resumed run ends with the same files as one that was never stopped.
import * as fs from 'node:fs';


/** metrics.csv's columns: every field any line type has (a line leaves the others empty). */
export const CSV_COLUMNS = [
  'type', 'epoch', 'step', 'lr', 'phase', 'shards', 'loss', 'perturbedLoss', 'gradNorm', 'skipped',
  'trainLoss', 'trainPerturbedLoss', 'skippedSteps', 'sharpSteps', 'trainAccuracy', 'trainEvalExamples', 'valLoss', 'valAccuracy', 'valMetric',
  'best', 'model', 'testLoss', 'testAccuracy', 'testMetric', 'metric', 'seconds', 'examplesPerSecond',
] as const;

const cell = (v: unknown): string => {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : String(v); // NaN, Infinity as such
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
};

export class MetricsLog {
  /** Lines written to metrics.jsonl (and rows to metrics.csv), over resumes. */
  lines: number;

  constructor(
    readonly jsonl: string,
    readonly csv: string,
    /** Only rank 0 writes. */
    readonly writes: boolean,
    /** Lines to keep from an earlier session (0: start both files afresh). */
    keep: number,
  ) {
    this.lines = keep;
    if (!writes) return;
    if (keep === 0) {
      fs.rmSync(jsonl, { force: true });
      fs.writeFileSync(csv, `${CSV_COLUMNS.join(',')}\n`);
      return;
    }
    keepLines(jsonl, keep);
    keepLines(csv, keep + 1, `${CSV_COLUMNS.join(',')}\n`);
  }

  write(line: Record<string, unknown>): void {
    this.lines++;
    if (!this.writes) return;
    fs.appendFileSync(this.jsonl, `${JSON.stringify(line)}\n`);
    fs.appendFileSync(this.csv, `${CSV_COLUMNS.map((c) => cell(line[c])).join(',')}\n`);
  }
}

/** Keeps the first `lines` lines of `file`; a missing file becomes `missing`. */
function keepLines(file: string, lines: number, missing = ''): void {
  if (!fs.existsSync(file)) {
    fs.writeFileSync(file, missing);
    return;
  }
  const kept = fs.readFileSync(file, 'utf8').split('\n').slice(0, lines);
  fs.writeFileSync(file, kept.length > 0 && lines > 0 ? `${kept.join('\n')}\n` : '');
}

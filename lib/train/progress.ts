// Progress of a training run: a bar (cli-progress) on a terminal, plain lines otherwise, or
// nothing. Everything goes to stderr, so that stdout holds only what the CLI prints at the end.
import { MultiBar, type SingleBar } from 'cli-progress';

export interface ProgressState {
  epoch: number;
  epochs: number;
  /** Steps done, over the whole run. */
  step: number;
  totalSteps: number;
  stepInEpoch: number;
  stepsPerEpoch: number;
  /** Running mean training loss of the epoch so far (NaN before the first step). */
  loss: number;
  lr: number;
  /** The last evaluation's validation accuracy in [0, 1], or null before the first (or without a validation set). */
  valAccuracy: number | null;
  /** Steps skipped as non-finite so far in the run. */
  skippedSteps: number;
  examplesPerSecond: number;
  /** Seconds left, estimated; null when unknown. */
  etaSeconds: number | null;
}

export interface Progress {
  update(s: ProgressState): void;
  /** A line above the bar (epoch summaries, notices). */
  log(line: string): void;
  stop(): void;
}

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '–';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

const pct = (a: number | null): string => (a === null ? '–' : `${(100 * a).toFixed(2)}%`);
/** Skipped (non-finite) steps, shown only when there are any. */
const skipped = (n: number): string => (n > 0 ? ` (${n} skipped)` : '');

class BarProgress implements Progress {
  readonly #multi: MultiBar;
  #bar: SingleBar | null = null;
  constructor(stream: NodeJS.WriteStream) {
    this.#multi = new MultiBar(
      {
        stream,
        format: 'epoch {epochText} |{bar}| {percentage}% | loss {lossText}{skippedText} | val acc {accText} | {speedText} ex/s | ETA {etaText}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      undefined,
    );
  }
  update(s: ProgressState): void {
    const payload = {
      epochText: `${s.epoch}/${s.epochs}`,
      lossText: Number.isFinite(s.loss) ? s.loss.toFixed(4) : '–',
      accText: pct(s.valAccuracy),
      skippedText: skipped(s.skippedSteps),
      speedText: s.examplesPerSecond > 0 ? s.examplesPerSecond.toFixed(0) : '–',
      etaText: formatDuration(s.etaSeconds),
    };
    if (this.#bar === null) this.#bar = this.#multi.create(s.totalSteps, s.step, payload);
    else this.#bar.update(s.step, payload);
  }
  log(line: string): void {
    this.#multi.log(`${line}\n`);
  }
  stop(): void {
    this.#multi.stop();
  }
}

class PlainProgress implements Progress {
  #last = -1;
  constructor(
    readonly write: (line: string) => void,
    /** A line every this many steps. */
    readonly every: number,
  ) {}
  update(s: ProgressState): void {
    if (s.step === this.#last || s.stepInEpoch === 0 || (s.stepInEpoch % this.every !== 0 && s.stepInEpoch !== s.stepsPerEpoch)) return;
    this.#last = s.step;
    const loss = Number.isFinite(s.loss) ? s.loss.toFixed(4) : '–';
    this.write(
      `epoch ${s.epoch}/${s.epochs} step ${s.stepInEpoch}/${s.stepsPerEpoch}  loss ${loss}${skipped(s.skippedSteps)}  lr ${s.lr.toPrecision(3)}  ${s.examplesPerSecond.toFixed(0)} ex/s  ETA ${formatDuration(s.etaSeconds)}`,
    );
  }
  log(line: string): void {
    this.write(line);
  }
  stop(): void {}
}

const silent: Progress = { update() {}, log() {}, stop() {} };

/** The reporter for `mode` ('auto': a bar when stderr is a terminal, plain lines otherwise). */
export function makeProgress(mode: 'auto' | 'bar' | 'plain' | 'none', stepsPerEpoch: number, everySteps: number, write?: (line: string) => void): Progress {
  const stream = process.stderr;
  const out = write ?? ((line: string) => void stream.write(`${line}\n`));
  if (mode === 'none') return silent;
  if (mode === 'bar' || (mode === 'auto' && stream.isTTY === true && write === undefined)) return new BarProgress(stream);
  return new PlainProgress(out, everySteps > 0 ? everySteps : Math.max(1, Math.ceil(stepsPerEpoch / 10)));
}

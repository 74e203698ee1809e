// The command-line side of the experiment commands: the train flags they share (all of
// `msam train`'s but those the experiment sets itself), --quick, and the layers they make.
import type { Command } from 'commander';
import { FLAGS, trainLayersFromOptions } from '../train/flags';
import type { ConfigLayer } from '../train/resolve';

/** --quick: one epoch (a full compare of 3 methods × 3 seeds on fashion-mnist: 7:21 on 2 shared CPU cores, README "CLI"). */
export const QUICK = { epochs: 1 } as const;

/** Adds --preset, --config, --set and the train flags but `exclude` (which the experiment sets) to `cmd`. */
export function addTrainOptions(cmd: Command, exclude: string[]): Command {
  cmd
    .option('--preset <name>', 'a named preset (default fashion-mnist; `msam presets` lists them)')
    .option('--config <file>', 'a JSON file of settings (fields as in README, "Training"); flags override it')
    .option('--set <path=value...>', 'set any field of every run: --set model.options.width=8')
    .option('--quick', `a smaller budget: ${JSON.stringify(QUICK)} unless flags say otherwise`)
    .option('--out-dir <dir>', "the experiment's directory (default runs/<command>-<time>); each run writes into <dir>/runs/");
  const skip = new Set([...exclude, '--out-dir', '--seed']);
  for (const f of FLAGS) if (!skip.has(f.flag.split(' ')[0] as string)) cmd.option(f.flag, f.help);
  return cmd;
}

/**
 * The layers every run of an experiment starts from: the preset and config file, then `defaults`
 * (the command's own, e.g. bench's one epoch) and --quick, then the flags and --set items.
 */
export function experimentLayers(opts: Record<string, unknown>, defaults: Record<string, unknown> = {}): ConfigLayer[] {
  const { outDir: _outDir, quick, ...rest } = opts;
  const layers = trainLayersFromOptions(rest);
  const base = layers.filter((l) => l.source === '--preset' || l.source.startsWith('config file')).length;
  const middle: ConfigLayer[] = [];
  if (Object.keys(defaults).length > 0) middle.push({ source: 'the command\'s defaults', values: defaults });
  if (quick === true) middle.push({ source: '--quick', values: { ...QUICK } });
  return [...layers.slice(0, base), ...middle, ...layers.slice(base)];
}

#!/usr/bin/env node
// The `msam` command line. Each command has --help.
import { Command } from 'commander';
import { cuda, getNumThreads, version } from './runtime';

const program = new Command();
program.name('msam').description('m-sharpness-aware minimization (mSAM) on libtorch, from Node.js');

program
  .command('info')
  .description('versions, devices and threads of the loaded libtorch')
  .option('--json', 'print JSON')
  .action((opts: { json?: boolean }) => {
    const v = version();
    const info = {
      ...v,
      cudaAvailable: cuda.isAvailable(),
      cudaDevices: cuda.isAvailable() ? cuda.deviceCount() : 0,
      threads: getNumThreads(),
      node: process.version,
    };
    if (opts.json) {
      console.log(JSON.stringify(info, null, 2));
      return;
    }
    console.log(`msam ${info.msam} · libtorch ${info.libtorch} · CUDA ${info.cuda ?? 'none'} (${info.cudaDevices} device(s)) · ${info.threads} CPU threads · node ${info.node}`);
  });

program.parseAsync(process.argv).catch((e: unknown) => {
  console.error(`msam: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});

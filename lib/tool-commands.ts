// The commands that look after the installation: `msam repl` and `msam doctor`.
import type { Command } from 'commander';
import { formatDoctor, runDoctor } from './doctor';
import { startRepl } from './repl';

export function addToolCommands(program: Command): void {
  program
    .command('repl')
    .description('a Node.js REPL with msam loaded as `msam` (top-level await works)')
    .action(() => {
      startRepl();
    });

  program
    .command('doctor')
    .description('versions, the binary loaded, libtorch and CUDA, a matmul and one mSAM step on each device, and advice')
    .option('--json', 'print the report as JSON')
    .action(async (opts: { json?: boolean }) => {
      const report = await runDoctor();
      console.log(opts.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
      if (!report.ok) process.exitCode = 1;
    });
}

// The README's REPL sessions, run as shown: each ```console block that starts with `$ npx ts-node`
// or `$ npx msam repl` is typed into that REPL line by line, and what it prints must be what the
// README says it prints.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { driveRepl, replSessions } from './helpers/repl-driver';

const root = path.join(__dirname, '..');
const sessions = replSessions(fs.readFileSync(path.join(root, 'README.md'), 'utf8'));
// Piped stdin makes ts-node read a script; -i keeps it a REPL, as it is in a terminal.
const commands: Record<string, [string, string[]]> = {
  'npx ts-node': [path.join(root, 'node_modules', '.bin', 'ts-node'), ['-i']],
  'npx msam repl': [process.execPath, [path.join(root, 'dist', 'lib', 'cli.js'), 'repl']],
};
// The README shows the session on Debian's CPU libtorch; the banner's versions and flavour follow the build.
const versionsMasked = (s: string) => s.replace(/\d+\.\d+\.\d+/g, 'X.Y.Z').replace(/ \((CPU|CUDA \d+\.\d+)\);/, ' (FLAVOUR);');

describe('the README\'s REPL sessions', () => {
  it('has one session for each REPL', () => {
    expect(sessions.map((s) => s.command).sort()).toEqual(Object.keys(commands).sort());
  });

  for (const session of sessions) {
    it(`${session.command}: prints what the README shows`, async () => {
      const [cmd, args] = commands[session.command] ?? [];
      expect(cmd, `no way to run ${session.command}`).toBeDefined();
      const t = await driveRepl(cmd!, args!, session.inputs, { cwd: root });
      expect(t.stderr).toBe('');
      if (session.banner !== null) expect(versionsMasked(t.banner)).toBe(versionsMasked(session.banner));
      for (let i = 0; i < session.inputs.length; i++) {
        expect(t.outputs[i], `after > ${session.inputs[i]}`).toBe(session.outputs[i]);
      }
    }, 120_000);
  }
});

describe('msam repl', () => {
  it('prints tensors and modules readably, awaits a step at the prompt, and reports errors without dying', async () => {
    const t = await driveRepl(process.execPath, [path.join(root, 'dist', 'lib', 'cli.js'), 'repl'], [
      'msam.tensor([[1, 2], [3, 4]], { dtype: "float64" })',
      'new msam.nn.Linear(3, 2)',
      'msam.tensor(new Float32Array([1.5, 2.5])).sum().item()',
      'msam.tensor([1, 2]).add("x")',
      'await msam.ops.callAsync("aten::mul", "Tensor", msam.tensor([2, 3]), msam.tensor([4, 5]))',
    ], { cwd: root });
    expect(t.outputs[0]).toBe('tensor([[1., 2.],\n        [3., 4.]], shape=[2, 2], dtype=float64, device=cpu)');
    expect(t.outputs[1]).toBe('Linear(inFeatures=3, outFeatures=2, bias=true)\n8 parameters');
    expect(t.outputs[2]).toBe('4');
    expect(t.outputs[3]).toMatch(/^Uncaught TypeError: aten::add(\.Tensor)?: argument 'other' must be a Tensor, got (a )?string/);
    expect(t.outputs[4]).toBe('tensor([ 8, 15], shape=[2], dtype=int64, device=cpu)');
  }, 60_000);
});

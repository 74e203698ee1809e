// The README's TypeScript snippets and the examples compile against the published types: the
// package's own `types` entry (dist/lib/index.d.ts, through package.json's exports, as a user's
// `import * as msam from 'msam'` resolves it), with the project's strict compiler options.
//
// README snippets are fragments: each is checked as the body of an async function (top-level
// await in a CommonJS script), after `import * as msam from 'msam'` and declarations of the free
// names the snippets use (a batch x, y, a model, an optimizer, ...), typed as msam's own classes.
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
// Inside the package, so that 'msam' resolves to this package by its name (a self-reference).
const dir = fs.mkdtempSync(path.join(root, '.type-check-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const PREAMBLE = `import * as msam from 'msam';
declare const x: msam.Tensor, y: msam.Tensor, x1: msam.Tensor, y1: msam.Tensor, x2: msam.Tensor, y2: msam.Tensor, v: msam.Tensor[];
declare const model: msam.nn.Module, opt: msam.optim.SGD, params: msam.Tensor[], weights: msam.Tensor[], biasesAndNorms: msam.Tensor[];
declare const batch: msam.Batch, loss: (b: msam.Batch) => msam.Tensor, epoch: number, k: number;
declare const controller: AbortController, config: msam.TrainInput, tensors: msam.Tensor[];
`;

/** The ```ts blocks of a Markdown file with the line each starts on. */
function tsBlocks(file: string): { line: number; code: string }[] {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const blocks: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]?.trim() !== '```ts') continue;
    const end = lines.findIndex((l, j) => j > i && l.trim() === '```');
    blocks.push({ line: i + 2, code: lines.slice(i + 1, end).join('\n') });
    i = end;
  }
  return blocks;
}

/** A snippet as a module: its imports first (the preamble has msam's), the rest inside an async function. */
function asModule(code: string): string {
  const lines = code.split('\n');
  const imports = lines.filter((l) => /^import /.test(l) && !/from 'msam'/.test(l));
  const body = lines.filter((l) => !/^import /.test(l));
  return `${PREAMBLE}${imports.join('\n')}\nexport async function snippet(): Promise<void> {\n${body.join('\n')}\n}\n`;
}

/** Type-checks the files with tsconfig.json's options: the diagnostics as 'file:line: message', and the files read. */
function typeCheck(files: string[]): { diagnostics: string[]; sources: string[] } {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(root, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => { throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n')); } });
  if (config === undefined) throw new Error('tsconfig.json: could not be read');
  // Without outDir: with it, TypeScript maps a self-reference that lands in outDir (dist/) back to
  // the project's sources (lib/), and the published declarations would go unchecked.
  const { outDir: _out, rootDir: _root, declaration: _d, sourceMap: _s, ...options } = config.options;
  const program = ts.createProgram(files, { ...options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file !== undefined && d.start !== undefined ? `${path.relative(root, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  return { diagnostics, sources: program.getSourceFiles().map((f) => path.resolve(f.fileName)) };
}

describe("the README's snippets and the examples, against the published types", () => {
  const published = path.join(root, 'dist', 'lib', 'index.d.ts');

  it('the package publishes its types where package.json says', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { types: string; exports: { '.': { types: string } } };
    expect(path.resolve(root, pkg.exports['.'].types)).toBe(published);
    expect(fs.existsSync(published), `${published} is missing: run npm run build:ts`).toBe(true);
  });

  it('every ```ts block of README.md and every example compiles (strict), and a wrong type does not', () => {
    const blocks = tsBlocks(path.join(root, 'README.md'));
    expect(blocks.length).toBeGreaterThanOrEqual(8);
    const files = blocks.map((b) => {
      const file = path.join(dir, `readme-line-${b.line}.ts`);
      fs.writeFileSync(file, asModule(b.code));
      return file;
    });
    // The control: a snippet that misuses the API must fail, or the check checks nothing.
    const wrong = path.join(dir, 'wrong.ts');
    fs.writeFileSync(wrong, asModule("const t: msam.Tensor = msam.tensor([1, 2]);\nt.view('a');\nmsam.saveCheckpoint('f', { module: opt });"));
    const examples = fs.readdirSync(path.join(root, 'examples')).filter((f) => f.endsWith('.ts')).map((f) => path.join(root, 'examples', f));
    expect(examples.length).toBeGreaterThan(0);
    for (const e of examples) expect(fs.readFileSync(e, 'utf8')).toMatch(/from 'msam'/);
    const { diagnostics, sources } = typeCheck([...files, wrong, ...examples]);
    const wrongOnes = diagnostics.filter((d) => d.includes('wrong.ts'));
    expect(wrongOnes, wrongOnes.join('\n')).toHaveLength(2);
    expect(diagnostics.filter((d) => !d.includes('wrong.ts'))).toEqual([]);
    // 'msam' resolved to the published declarations, not to the sources in lib/.
    expect(sources).toContain(published);
    expect(sources.filter((f) => f.startsWith(path.join(root, 'lib')))).toEqual([]);
  }, 120_000);
});

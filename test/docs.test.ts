// `npm run docs`: typedoc generates the API reference from the TypeScript types and doc comments.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, it } from 'vitest';

const root = path.join(__dirname, '..');

it('typedoc writes the API reference with the public classes and their documented members, without warnings', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-docs-'));
  try {
    const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out, '--treatWarningsAsErrors'], { cwd: root, encoding: 'utf8' });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const page = (rel: string) => fs.readFileSync(path.join(out, rel), 'utf8');
    expect(page('index.html')).toContain('msam');
    const msamPage = page('classes/MSAM.html');
    expect(msamPage).toContain('step');
    expect(msamPage).toContain('gradient');
    expect(page('classes/Tensor.html')).toContain('backward');
    expect(fs.readdirSync(path.join(out, 'classes'))).toEqual(expect.arrayContaining(['nn.Linear.html', 'optim.SGD.html', 'optim.AdamW.html']));
    expect(page('functions/version.html')).toContain('VersionInfo');
    expect(page('interfaces/BinaryInfo.html')).toContain('libtorchDir');
  } finally {
    fs.rmSync(out, { recursive: true, force: true });
  }
}, 180_000);

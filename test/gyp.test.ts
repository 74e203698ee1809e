// The second build path (node-gyp, binding.gyp) against whichever libtorch this checkout is built
// for: configured from the same discovery as CMakeLists.txt, it compiles a translation unit that
// includes ATen's CUDA headers in a CUDA build (csrc/runtime.cc) with the standard libtorch needs
// (C++20 for PyTorch >= 2.13), libtorch's and CUDA's headers as system headers, and no warning; its
// link line keeps torch_cuda (--no-as-needed). One unit, not the whole addon: a full gyp build is a
// second full compile (minutes here), which .ci/run cannot afford for both generations.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');
const lt = JSON.parse(execFileSync(process.execPath, [path.join(root, 'scripts', 'find-libtorch.js'), '--json'], { encoding: 'utf8' })) as {
  version: string;
  cuda: boolean;
  cxxStandard: number;
  includeDirs: string[];
};
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-gyp-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe(`node-gyp against libtorch ${lt.version} (${lt.cuda ? 'CUDA' : 'CPU'})`, () => {
  it('configures, and compiles csrc/runtime.cc without a warning', () => {
    for (const f of ['binding.gyp', 'package.json']) fs.copyFileSync(path.join(root, f), path.join(tmp, f));
    for (const d of ['csrc', 'scripts', 'node_modules']) fs.symlinkSync(path.join(root, d), path.join(tmp, d));
    // Node's own headers, from the running node's prefix: node-gyp would otherwise download them.
    const nodedir = path.resolve(process.execPath, '..', '..');
    const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    execFileSync(process.execPath, [gyp, 'configure', `--nodedir=${nodedir}`], { cwd: tmp, stdio: 'pipe' });
    // gyp writes one quoted flag a line: join them back into a command line.
    const mk = fs.readFileSync(path.join(tmp, 'build', 'msam.target.mk'), 'utf8').replace(/'/g, '').replace(/\s*\\\n\s*/g, ' ');
    expect(mk).toContain(`-std=c++${lt.cxxStandard}`);
    const { DEFAULT_INCLUDES } = require('../scripts/find-libtorch.js') as { DEFAULT_INCLUDES: string[] };
    for (const dir of lt.includeDirs.filter((d) => !DEFAULT_INCLUDES.includes(d))) expect(mk).toContain(`-isystem ${dir}`);
    if (lt.cuda) expect(mk).toMatch(/-Wl,--no-as-needed -ltorch_cuda -lc10_cuda .*-Wl,--as-needed/);

    const r = spawnSync('make', ['-C', path.join(tmp, 'build'), 'V=1', 'Release/obj.target/msam/csrc/runtime.o'], { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/warning:/);
    expect(r.stdout).toContain(`-std=c++${lt.cxxStandard}`);
    expect(fs.existsSync(path.join(tmp, 'build', 'Release', 'obj.target', 'msam', 'csrc', 'runtime.o'))).toBe(true);
  }, 360_000);
});

// `npm pack` and `npm install` of the tarball into an empty project on a PATH with no compiler:
// the install must pick the prebuilt binary (nothing to build), and one mSAM training step must
// give the numbers worked out by hand below. The prebuild is the one for this checkout's libtorch:
// the CPU one in .ci/run's libtorch 1.13 run, the CUDA one in its 2.x run (where the empty project
// finds the same torch through PYTHON, as a user's would, and no GPU is visible).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compilerFreeBin, ensureDist, ensurePrebuild, repoRoot, type PrebuildFiles } from './helpers/package-build';

let tmp = '';
let prebuild: PrebuildFiles;
let tarball = '';
let packed: string[] = [];
let project = '';
let env: NodeJS.ProcessEnv = {};
let installLog = '';

beforeAll(() => {
  prebuild = ensurePrebuild();
  ensureDist();
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'msam-install-'));
  // prepack would rebuild dist/ and the prebuild; both are in place, and other test files read dist/.
  const out = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: repoRoot, encoding: 'utf8' });
  const info = (JSON.parse(out) as { filename: string; files: { path: string }[] }[])[0]!;
  tarball = path.join(tmp, info.filename);
  packed = info.files.map((f) => f.path);

  project = path.join(tmp, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'empty-project', version: '1.0.0', private: true }));
  env = { ...process.env, PATH: compilerFreeBin(path.join(tmp, 'bin')), npm_config_update_notifier: 'false' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') && k !== 'npm_config_update_notifier' && k !== 'npm_config_cache') delete env[k];
  delete env['MSAM_BINARY'];
  delete env['LIBTORCH'];
  // The empty project finds the libtorch the prebuild was made for: a Python's torch through PYTHON.
  if (prebuild.python !== null) env['PYTHON'] = prebuild.python;
  else delete env['PYTHON'];
  const r = spawnSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', tarball], { cwd: project, env, encoding: 'utf8' });
  installLog = `${r.stdout}\n${r.stderr}`;
  if (r.status !== 0) throw new Error(`npm install of the tarball failed (${r.status}):\n${installLog}`);
}, 600_000);

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs a script in the project with the compiler-free PATH; returns its JSON output. */
function runInProject(code: string, extraEnv: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const file = path.join(project, `run-${Math.random().toString(36).slice(2)}.js`);
  fs.writeFileSync(file, code);
  const r = spawnSync('node', [file], { cwd: project, env: { ...env, ...extraEnv }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the npm tarball', () => {
  it('holds the prebuild with its manifest, the compiled TypeScript and the install scripts, and no build folder', () => {
    const rel = (f: string) => path.relative(repoRoot, f);
    expect(packed).toContain(rel(prebuild.node));
    expect(packed).toContain(rel(prebuild.json));
    for (const f of ['dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lib/cli.js', 'scripts/install.js', 'scripts/find-libtorch.js', 'scripts/prebuilds.js', 'CMakeLists.txt', 'csrc/addon.cc']) {
      expect(packed).toContain(f);
    }
    expect(packed.filter((f) => f.startsWith('build/') || f.startsWith('node_modules/') || f.startsWith('.venv/'))).toEqual([]);
  });

  it.runIf(process.env['MSAM_REQUIRE_CUDA_BUILD'] === '1')('carries a CPU prebuild and a CUDA prebuild, each with its manifest', () => {
    const manifests = packed.filter((f) => /^prebuilds\/.*\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(path.join(repoRoot, f), 'utf8')) as PrebuildFiles['manifest']);
    expect(manifests.some((m) => !m.libtorch.cuda)).toBe(true);
    expect(manifests.some((m) => m.libtorch.cuda)).toBe(true);
    for (const m of manifests) expect(packed).toContain(`prebuilds/${process.platform}-${process.arch}/${m.name}.glibc.node`);
  });
});

describe('npm install of the tarball with no compiler on PATH', () => {
  it('has no compiler or build tool on the PATH it runs with', () => {
    for (const cmd of ['cc', 'c++', 'g++', 'gcc', 'clang', 'cmake', 'make', 'ninja']) {
      const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { env, encoding: 'utf8' });
      expect(r.status, `${cmd} found at ${r.stdout}`).not.toBe(0);
    }
  });

  it('picks the prebuilt binary in the install hook and builds nothing', () => {
    expect(installLog).toContain(`msam: using the prebuilt binary prebuilds/${process.platform}-${process.arch}/${path.basename(prebuild.node)} for libtorch ${prebuild.manifest.libtorch.version}`);
    expect(installLog).not.toContain('building from source');
    expect(fs.existsSync(path.join(project, 'node_modules', 'msam', 'build'))).toBe(false);
  });

  it('loads the prebuild and takes one mSAM step that matches the hand computation', () => {
    // A one-weight linear model (no bias), float64, MSE, m = 2 shards of two examples, SGD without momentum.
    const xs = [1, 2, -1, 0.5];
    const ys = [2, 1, 0, 3];
    const w0 = 0.5;
    const rho = 0.1;
    const lr = 0.1;
    const r = runInProject(`
      const msam = require('msam');
      (async () => {
        const model = new msam.nn.Linear(1, 1, { bias: false }).to('float64');
        msam.noGrad(() => model.parameters()[0].fill_(${w0}));
        const opt = new msam.optim.SGD(model.parameters(), { lr: ${lr} });
        const sam = new msam.MSAM(model, opt, { m: 2, rho: ${rho} });
        const input = msam.tensor(${JSON.stringify(xs.map((x) => [x]))}, { dtype: 'float64' });
        const target = msam.tensor(${JSON.stringify(ys.map((y) => [y]))}, { dtype: 'float64' });
        const stats = await sam.step({ input, target }, { loss: 'mse' });
        console.log(JSON.stringify({ binary: msam.version().binary, cuda: msam.version().cuda, gpu: msam.cuda.isAvailable(), w: model.parameters()[0].item(), stats }));
      })().catch((e) => { console.error(e); process.exit(1); });
    `);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { binary: { kind: string; path: string; libtorchDir: string }; cuda: string | null; gpu: boolean; w: number; stats: { loss: number; perturbedLoss: number; shards: number; skipped: boolean } };
    expect(out.binary.kind).toBe('prebuild');
    expect(out.cuda).toBe(prebuild.manifest.libtorch.cudaVersion);
    if (!fs.existsSync('/dev/nvidia0')) expect(out.gpu).toBe(false); // asked without throwing
    expect(out.binary.path).toBe(path.join(fs.realpathSync(project), 'node_modules', 'msam', path.relative(repoRoot, prebuild.node)));

    // By hand: L_S(w) = mean over S of (w x - y)², g_S(w) = mean over S of 2 (w x - y) x,
    // ε = ρ g / (|g| + 1e-12), h = g_S(w + ε); the gradient is Σ |S|/B h_S and w1 = w0 - lr · gradient.
    const shards = [[0, 1], [2, 3]];
    const loss = (w: number, s: number[]) => s.reduce((a, i) => a + (w * xs[i]! - ys[i]!) ** 2, 0) / s.length;
    const grad = (w: number, s: number[]) => s.reduce((a, i) => a + 2 * (w * xs[i]! - ys[i]!) * xs[i]!, 0) / s.length;
    let gradient = 0;
    let perturbed = 0;
    for (const s of shards) {
      const g = grad(w0, s);
      const eps = (rho * g) / (Math.abs(g) + 1e-12);
      gradient += (s.length / xs.length) * grad(w0 + eps, s);
      perturbed += (s.length / xs.length) * loss(w0 + eps, s);
    }
    expect(out.stats.shards).toBe(2);
    expect(out.stats.skipped).toBe(false);
    expect(out.stats.loss).toBeCloseTo(loss(w0, [0, 1, 2, 3]), 12);
    expect(out.stats.perturbedLoss).toBeCloseTo(perturbed, 12);
    expect(out.w).toBeCloseTo(w0 - lr * gradient, 12);
    expect(out.w).not.toBeCloseTo(w0 - lr * grad(w0, [0, 1, 2, 3]), 6); // not the vanilla step
  });

  it('`msam doctor` in the project reports the prebuild and passes its checks', () => {
    const r = spawnSync('node', [path.join(project, 'node_modules', '.bin', 'msam'), 'doctor', '--json'], { cwd: project, env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as { binary: { kind: string; name: string }; prebuilds: { name: string; fits: boolean }[]; devices: { device: string }[]; ok: boolean };
    expect(report.binary.kind).toBe('prebuild');
    expect(report.binary.name).toBe(path.basename(prebuild.node, '.node'));
    expect(report.prebuilds).toContainEqual({ name: report.binary.name, fits: true, why: [] });
    expect(report.devices.map((d) => d.device)).toContain('cpu');
    expect(report.ok).toBe(true);
    if (prebuild.manifest.libtorch.cuda && !fs.existsSync('/dev/nvidia0')) {
      const text = spawnSync('node', [path.join(project, 'node_modules', '.bin', 'msam'), 'doctor'], { cwd: project, env, encoding: 'utf8' });
      expect(text.stdout).toContain(`CUDA binary, CUDA ${prebuild.manifest.libtorch.cudaVersion}, no GPU visible`);
    }
  });

  it('refuses a libtorch no prebuild fits, saying why and how to build from source', () => {
    // A libtorch folder that claims to be 2.5.1: the loader must not load the 1.13 prebuild against it.
    const fake = path.join(tmp, 'libtorch-2.5.1');
    fs.mkdirSync(path.join(fake, 'share', 'cmake', 'Torch'), { recursive: true });
    fs.mkdirSync(path.join(fake, 'lib'), { recursive: true });
    fs.writeFileSync(path.join(fake, 'share', 'cmake', 'Torch', 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")\n');
    fs.writeFileSync(path.join(fake, 'share', 'cmake', 'Torch', 'TorchConfigVersion.cmake'), 'set(PACKAGE_VERSION "2.5.1")\n');
    const r = runInProject("require('msam');", { LIBTORCH: fake });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`no prebuilt binary fits libtorch 2.5.1 (cpu) from LIBTORCH at ${path.join(fake, 'lib')}`);
    expect(r.stderr).toContain(`it is built for libtorch ${prebuild.manifest.libtorch.version}, this is 2.5.1`);
    expect(r.stderr).toContain('npm rebuild msam');
  });
});

// `msam doctor`: what is installed and whether it works — the binary loaded, the libtorch it runs
// on and the one discovery finds now, CUDA, a matmul and one mSAM step on every device — and
// advice for what is missing or mismatched.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { execFileSync } from 'node:child_process';
import { MSAM } from './msam';
import { packageRoot, prebuildScripts, type FoundLibtorch } from './native';
import { Linear, ReLU, Sequential } from './nn';
import { SGD } from './optim';
import { cuda, version, type BinaryInfo } from './runtime';
import { manualSeed, randn, tensor } from './tensor';
import type { Device } from './types';

export interface DeviceCheck {
  device: string;
  name: string;
  /** A 48×48 float64 matmul against the same product computed in JS: the largest absolute difference. */
  matmul: { ok: boolean; maxError: number; ms: number } | { ok: false; error: string };
  /** One mSAM step (m = 4) of a small MLP with SGD: finite losses and changed weights. */
  msamStep: { ok: boolean; ms: number; loss: number; perturbedLoss: number; weightsChanged: boolean } | { ok: false; error: string };
}

export interface PrebuildFit {
  name: string;
  fits: boolean;
  why: string[];
}

export interface DoctorReport {
  msam: string;
  node: string;
  platform: string;
  glibc: string | null;
  binary: BinaryInfo;
  libtorch: { version: string; cuda: string | null; loadedFrom: string | null };
  /** What scripts/find-libtorch.js finds now (LIBTORCH, python3's torch, the system's), or why it finds nothing. */
  discovered: FoundLibtorch | null;
  discoveryError: string | null;
  /** The driver's CUDA version from nvidia-smi, when there is one. */
  driverCuda: string | null;
  /** The BLAS library libtorch's CPU matmuls run on. */
  blas: BlasInfo;
  prebuilds: PrebuildFit[];
  devices: DeviceCheck[];
  advice: string[];
  /** Every device check passed. */
  ok: boolean;
}

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';

function realDir(dir: string | null): string | null {
  if (dir === null) return null;
  try {
    return fs.realpathSync(dir);
  } catch {
    return dir;
  }
}

export interface BlasInfo {
  /** The BLAS shared library this process loaded (resolved path), or null: built into libtorch (pip's torch links MKL statically). */
  library: string | null;
  /** Netlib's reference BLAS (Debian's libblas3 without OpenBLAS): correct, about 10× slower on matmuls. */
  reference: boolean;
}

/**
 * Which BLAS this process runs libtorch's CPU matmuls on: Debian's libtorch links libblas.so.3,
 * which the alternatives system points at OpenBLAS or at netlib's reference BLAS (in a folder
 * named blas/). Read from the libraries mapped into this process, so it is what runs, not what is installed.
 */
export function loadedBlas(): BlasInfo {
  let maps = '';
  try {
    maps = fs.readFileSync('/proc/self/maps', 'utf8');
  } catch {
    return { library: null, reference: false };
  }
  const files = [...new Set(maps.split('\n').map((l) => l.slice(l.indexOf('/'))).filter((f) => f.startsWith('/')))];
  // The libblas.so.3 libtorch's NEEDED entry resolved to is the one whose dgemm runs (an OpenBLAS
  // may be mapped beside netlib's, pulled in by liblapack.so.3); else a BLAS mapped by its own name.
  const library = files.find((f) => /\/libblas\.so[.\d]*$/.test(f)) ?? files.find((f) => /\/lib(openblas|mkl_rt)[^/]*\.so/.test(f)) ?? null;
  return { library, reference: library !== null && !/openblas|mkl|blis|atlas/i.test(library) };
}

/** The driver's CUDA version ("12.4") from `nvidia-smi`, or null without one. */
function driverCudaVersion(): string | null {
  try {
    const out = execFileSync('nvidia-smi', [], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
    return /CUDA Version:\s*([\d.]+)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

const nvidiaGpuPresent = (): boolean => fs.existsSync('/dev/nvidia0') || fs.existsSync('/proc/driver/nvidia/version');

function checkMatmul(device: Device): DeviceCheck['matmul'] {
  try {
    const n = 48;
    const a = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.sin(i * n + j)));
    const b = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => Math.cos(i - 2 * j)));
    const start = performance.now();
    const ta = tensor(a, { dtype: 'float64', device });
    const tb = tensor(b, { dtype: 'float64', device });
    const tc = ta.matmul(tb);
    const c = tc.cpu().toArray() as number[][];
    const ms = performance.now() - start;
    for (const t of [ta, tb, tc]) t.dispose();
    let maxError = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += (a[i]?.[k] ?? 0) * (b[k]?.[j] ?? 0);
        maxError = Math.max(maxError, Math.abs(s - (c[i]?.[j] ?? NaN)));
      }
    }
    return { ok: Number.isFinite(maxError) && maxError < 1e-9, maxError, ms };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

async function checkMsamStep(device: Device): Promise<DeviceCheck['msamStep']> {
  try {
    manualSeed(0);
    const model = new Sequential(new Linear(32, 64), new ReLU(), new Linear(64, 4)).to(device);
    const opt = new SGD(model.parameters(), { lr: 0.1, momentum: 0.9 });
    const sam = new MSAM(model, opt, { m: 4, rho: 0.05 });
    const input = randn([64, 32], { device });
    const target = tensor(Array.from({ length: 64 }, (_, i) => i % 4), { device });
    const before = model.parameters()[0]?.cpu().toArray();
    const start = performance.now();
    const stats = await sam.step({ input, target }, { loss: 'cross_entropy' });
    if (device.startsWith('cuda')) cuda.synchronize();
    const ms = performance.now() - start;
    const after = model.parameters()[0]?.cpu().toArray();
    const weightsChanged = JSON.stringify(before) !== JSON.stringify(after);
    const ok = !stats.skipped && Number.isFinite(stats.loss) && Number.isFinite(stats.perturbedLoss) && weightsChanged;
    return { ok, ms, loss: stats.loss, perturbedLoss: stats.perturbedLoss, weightsChanged };
  } catch (e) {
    return { ok: false, error: errorMessage(e) };
  }
}

/** Runs every check; nothing here throws for a broken installation, it reports it. */
export async function runDoctor(): Promise<DoctorReport> {
  const v = version();
  const scripts = prebuildScripts();
  let discovered: FoundLibtorch | null = null;
  let discoveryError: string | null = null;
  try {
    discovered = scripts.find();
  } catch (e) {
    discoveryError = (e as Error).message;
  }
  const glibc = scripts.runtimeGlibc();
  const root = packageRoot();
  let prebuilds: PrebuildFit[];
  if (discovered === null) {
    prebuilds = scripts.listPrebuilds(root).map((p) => ({ name: p.name, fits: false, why: ['no libtorch found to match it against'] }));
  } else {
    const sel = scripts.selectPrebuild(root, discovered, glibc);
    prebuilds = [...(sel.prebuild ? [{ name: sel.prebuild.name, fits: true, why: [] }] : []), ...sel.rejected.map((r) => ({ name: r.name, fits: false, why: r.why }))];
  }

  const devices: DeviceCheck[] = [];
  const deviceList: Device[] = ['cpu'];
  if (cuda.isAvailable()) for (let i = 0; i < cuda.deviceCount(); i++) deviceList.push(`cuda:${i}` as Device);
  for (const device of deviceList) {
    const name = device === 'cpu' ? (os.cpus()[0]?.model ?? 'cpu') : (cuda.deviceName(Number(device.slice(5))) ?? device);
    devices.push({ device, name, matmul: checkMatmul(device), msamStep: await checkMsamStep(device) });
  }

  const driverCuda = driverCudaVersion();
  const report: DoctorReport = {
    msam: v.msam,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    glibc,
    binary: v.binary,
    libtorch: { version: v.libtorch, cuda: v.cuda, loadedFrom: v.binary.libtorchDir },
    discovered,
    discoveryError,
    driverCuda,
    blas: loadedBlas(),
    prebuilds,
    devices,
    advice: [],
    ok: devices.every((d) => d.matmul.ok && d.msamStep.ok),
  };
  report.advice = advise(report);
  return report;
}

const major = (v: string): number => Number(v.split('.')[0]);
const versionAtLeast = (have: string, want: string): boolean => {
  const [ha = 0, hb = 0] = have.split('.').map(Number);
  const [wa = 0, wb = 0] = want.split('.').map(Number);
  return ha > wa || (ha === wa && hb >= wb);
};

/** What to do about each problem the report shows. */
export function advise(r: DoctorReport): string[] {
  const advice: string[] = [];
  if (r.blas.reference) {
    advice.push(
      `libtorch's matmuls run on netlib's reference BLAS (${r.blas.library}), about 10× slower than OpenBLAS: ` +
        '`sudo apt-get install libopenblas0-pthread` (scripts/setup.sh installs it).',
    );
  }
  if (r.discoveryError !== null) {
    advice.push(`libtorch discovery finds nothing now (${r.discoveryError.split('\n')[0]}). ` + 'This process runs on the libtorch its binary was built against; set LIBTORCH, install PyTorch for python3, or `apt-get install libtorch-dev` before rebuilding or reinstalling.');
  } else if (r.discovered !== null) {
    const d = r.discovered;
    const loaded = realDir(r.libtorch.loadedFrom);
    if (r.binary.kind === 'source' && loaded !== null && realDir(d.libdir) !== loaded) {
      advice.push(`this build of msam runs on the libtorch at ${r.libtorch.loadedFrom} (where it was built), but discovery now finds ${d.source} at ${d.libdir}: \`npm rebuild msam\` to build against it.`);
    }
    if (d.version !== null && d.version.split('.').slice(0, 2).join('.') !== r.libtorch.version.split('.').slice(0, 2).join('.')) {
      advice.push(`libtorch ${r.libtorch.version} is loaded but discovery finds libtorch ${d.version}: a rebuild (\`npm rebuild msam\`) makes them agree.`);
    }
  }
  const gpu = nvidiaGpuPresent();
  if (r.libtorch.cuda === null && gpu) {
    advice.push('an NVIDIA GPU is present but this libtorch is CPU-only: install PyTorch with CUDA for python3 (pip install torch) or set LIBTORCH to a CUDA libtorch, then `npm rebuild msam` (or install a CUDA prebuild).');
  }
  if (r.libtorch.cuda !== null && !cuda.isAvailable()) {
    advice.push(`this libtorch is built for CUDA ${r.libtorch.cuda} but sees no GPU: check \`nvidia-smi\`, the driver (it must support CUDA ${r.libtorch.cuda}) and CUDA_VISIBLE_DEVICES.`);
  }
  if (r.libtorch.cuda !== null && r.driverCuda !== null && !versionAtLeast(r.driverCuda, r.libtorch.cuda)) {
    const hint = major(r.driverCuda) === major(r.libtorch.cuda) ? 'minor-version compatibility may cover it, but a newer driver is safer' : 'update the driver or use a libtorch built for an older CUDA';
    advice.push(`the driver supports CUDA ${r.driverCuda}, older than this libtorch's CUDA ${r.libtorch.cuda}: ${hint}.`);
  }
  if (r.binary.kind !== 'source' && r.prebuilds.length > 0 && !r.prebuilds.some((p) => p.fits)) {
    advice.push('no prebuilt binary fits the libtorch found now: `npm rebuild msam` builds from source (cmake and a C++17 compiler).');
  }
  for (const p of r.prebuilds) {
    const glibcWhy = p.why.find((w) => w.includes('glibc'));
    if (glibcWhy) advice.push(`${p.name}: ${glibcWhy}; build from source (\`npm rebuild msam\`) on this system.`);
  }
  for (const d of r.devices) {
    if (!d.matmul.ok) advice.push(`${d.device}: the matmul check failed (${'error' in d.matmul ? d.matmul.error : `max error ${d.matmul.maxError}`}).`);
    if (!d.msamStep.ok) advice.push(`${d.device}: the mSAM step failed (${'error' in d.msamStep ? d.msamStep.error : 'non-finite loss or unchanged weights'}).`);
  }
  return advice;
}

/** The report as the terminal shows it. */
export function formatDoctor(r: DoctorReport): string {
  const row = (k: string, v: string) => `  ${k.padEnd(11)}${v}`;
  const lines = ['msam doctor'];
  lines.push(row('msam', `${r.msam} (node ${r.node}, ${r.platform}${r.glibc ? `, glibc ${r.glibc}` : ''})`));
  lines.push(row('binary', `${r.binary.kind === 'source' ? 'built from source on this machine' : r.binary.kind === 'prebuild' ? `prebuilt ${r.binary.name}` : `MSAM_BINARY ${r.binary.name}`} (${r.binary.flavour}): ${r.binary.path}`));
  lines.push(row('libtorch', `${r.libtorch.version} (${r.libtorch.cuda === null ? 'CPU' : `CUDA ${r.libtorch.cuda}`}), loaded from ${r.libtorch.loadedFrom ?? 'an unknown folder'}`));
  lines.push(
    row(
      'discovery',
      r.discovered === null
        ? `nothing found: ${(r.discoveryError ?? '').split('\n')[0]}`
        : `${r.discovered.source}: ${r.discovered.libdir} (libtorch ${r.discovered.version ?? '?'}, ${r.discovered.cuda ? `CUDA ${r.discovered.cudaVersion ?? '?'}` : 'CPU'})`,
    ),
  );
  lines.push(
    row(
      'CUDA',
      r.libtorch.cuda === null
        ? 'CPU binary (a CPU-only libtorch)'
        : `CUDA binary, CUDA ${r.libtorch.cuda}, ${cuda.isAvailable() ? `${cuda.deviceCount()} GPU(s) visible` : 'no GPU visible'}${r.driverCuda ? `, driver supports CUDA ${r.driverCuda}` : ''}`,
    ),
  );
  lines.push(row('BLAS', r.blas.library === null ? 'built into libtorch' : `${r.blas.library}${r.blas.reference ? ' (netlib reference BLAS: slow)' : ''}`));
  lines.push(row('prebuilds', r.prebuilds.length === 0 ? 'none in this package' : r.prebuilds.map((p) => `${p.name}: ${p.fits ? 'fits' : p.why.join('; ')}`).join('\n' + ' '.repeat(13))));
  lines.push('  devices');
  for (const d of r.devices) {
    const mm = 'error' in d.matmul ? `matmul FAILED: ${d.matmul.error}` : `matmul ${d.matmul.ok ? 'ok' : 'WRONG'} (max error ${d.matmul.maxError.toExponential(1)}, ${d.matmul.ms.toFixed(1)} ms)`;
    const st =
      'error' in d.msamStep
        ? `mSAM step FAILED: ${d.msamStep.error}`
        : `mSAM step ${d.msamStep.ok ? 'ok' : 'FAILED'} (m = 4, loss ${d.msamStep.loss.toFixed(4)}, perturbed ${d.msamStep.perturbedLoss.toFixed(4)}, ${d.msamStep.ms.toFixed(1)} ms)`;
    lines.push(`    ${d.device.padEnd(9)}${d.name}\n${' '.repeat(13)}${mm}\n${' '.repeat(13)}${st}`);
  }
  if (r.advice.length > 0) {
    lines.push('  advice');
    for (const a of r.advice) lines.push(`    - ${a}`);
  }
  lines.push(r.ok ? 'all checks passed' : 'some checks FAILED');
  return lines.join('\n');
}

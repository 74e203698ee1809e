// `msam doctor`: the versions and binary it reports are the loaded ones, its checks pass on the
// CPU (and on each CUDA device where there is one), and it gives advice when discovery and the
// loaded libtorch disagree.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as msam from '../lib';
import { advise, type DoctorReport } from '../lib/doctor';

const cli = path.join(__dirname, '..', 'dist', 'lib', 'cli.js');

function doctor(extraEnv: NodeJS.ProcessEnv = {}, json = true): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'doctor', ...(json ? ['--json'] : [])], { encoding: 'utf8', env: { ...process.env, ...extraEnv } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let plain: ReturnType<typeof doctor> | null = null;
const plainReport = () => (plain ??= doctor());

describe('msam doctor', () => {
  it('reports the loaded versions and binary, and a matmul and an mSAM step that pass on every device', () => {
    const r = plainReport();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as DoctorReport;
    const v = msam.version();
    expect(report.msam).toBe(v.msam);
    expect(report.libtorch.version).toBe(v.libtorch);
    expect(report.libtorch.cuda).toBe(v.cuda);
    expect(report.binary.kind).toBe(v.binary.kind);
    expect(report.binary.path).toBe(v.binary.path);
    expect(report.libtorch.loadedFrom).toBe(v.binary.libtorchDir);
    expect(report.devices.map((d) => d.device)).toEqual(['cpu', ...Array.from({ length: msam.cuda.isAvailable() ? msam.cuda.deviceCount() : 0 }, (_, i) => `cuda:${i}`)]);
    for (const d of report.devices) {
      expect(d.matmul.ok, JSON.stringify(d.matmul)).toBe(true);
      if ('maxError' in d.matmul) expect(d.matmul.maxError).toBeLessThan(1e-9);
      expect(d.msamStep.ok, JSON.stringify(d.msamStep)).toBe(true);
      if ('loss' in d.msamStep) {
        // 4 classes, small random weights: the loss starts near ln 4, and the perturbation (ascent) raises it.
        expect(d.msamStep.loss).toBeGreaterThan(1.0);
        expect(d.msamStep.loss).toBeLessThan(2.0);
        expect(d.msamStep.perturbedLoss).toBeGreaterThan(d.msamStep.loss);
      }
    }
    expect(report.ok).toBe(true);
    expect(report.discovered?.version).toBe(v.libtorch);
    // Nothing to advise, except (a CUDA binary on this GPU-less machine) where the GPU is.
    const noGpu = v.cuda !== null && !msam.cuda.isAvailable() ? [expect.stringContaining(`this libtorch is built for CUDA ${v.cuda} but sees no GPU`)] : [];
    expect(report.advice).toEqual(noGpu);
  });

  it('prints a readable summary', () => {
    const r = doctor({}, false);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^msam doctor\n {2}msam {7}\d+\.\d+\.\d+ \(node v/);
    expect(r.stdout).toContain(`libtorch   ${msam.version().libtorch}`);
    expect(r.stdout).toMatch(/\n {4}cpu {6}.+\n {13}matmul ok \(max error .+\)\n {13}mSAM step ok \(m = 4, loss /);
    expect(r.stdout.trimEnd().endsWith('all checks passed')).toBe(true);
    const v = msam.version();
    if (v.cuda === null) expect(r.stdout).toContain('CUDA       CPU binary (a CPU-only libtorch)');
    else if (!msam.cuda.isAvailable()) expect(r.stdout).toContain(`CUDA       CUDA binary, CUDA ${v.cuda}, no GPU visible`);
  });

  it('names the BLAS libtorch runs on', () => {
    const report = JSON.parse(plainReport().stdout) as DoctorReport;
    expect(report.blas.reference).toBe(false);
    // Debian's libtorch runs on libblas.so.3, which setup.sh makes OpenBLAS; pip's torch has MKL inside libtorch_cpu.
    if (msam.version().libtorch.startsWith('1.')) expect(report.blas.library).toMatch(/openblas/);
    else expect(report.blas.library).toBeNull();
  });

  const netlib = '/usr/lib/x86_64-linux-gnu/blas/libblas.so.3';
  it.runIf(msam.version().libtorch.startsWith('1.') && fs.existsSync(netlib))('warns when libtorch runs on the reference BLAS', () => {
    // The dynamic loader takes libblas.so.3 from LD_LIBRARY_PATH first: netlib's reference BLAS.
    const r = doctor({ LD_LIBRARY_PATH: path.dirname(netlib) });
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.blas).toEqual({ library: fs.realpathSync(netlib), reference: true });
    expect(report.advice.join('\n')).toContain("libtorch's matmuls run on netlib's reference BLAS");
    expect(report.advice.join('\n')).toContain('sudo apt-get install libopenblas0-pthread');
  });

  it('gives OpenBLAS one thread unless the user set OPENBLAS_NUM_THREADS (libtorch parallelizes above it)', () => {
    const probe = "require('./dist/lib'); console.log(process.env.OPENBLAS_NUM_THREADS)";
    const env = { ...process.env };
    delete env['OPENBLAS_NUM_THREADS'];
    const run = (e: NodeJS.ProcessEnv) => spawnSync(process.execPath, ['-e', probe], { cwd: path.join(__dirname, '..'), env: e, encoding: 'utf8' }).stdout.trim();
    expect(run(env)).toBe('1');
    expect(run({ ...env, OPENBLAS_NUM_THREADS: '2' })).toBe('2');
  });

  it('says what to do when discovery finds nothing (a LIBTORCH that is not a libtorch folder)', () => {
    const r = doctor({ LIBTORCH: '/nonexistent/libtorch' });
    expect(r.status).toBe(0); // this machine's build still runs on the libtorch it was linked with
    const report = JSON.parse(r.stdout) as DoctorReport;
    expect(report.discovered).toBeNull();
    expect(report.discoveryError).toContain('LIBTORCH=/nonexistent/libtorch has no share/cmake/Torch/TorchConfig.cmake');
    expect(report.advice.join('\n')).toContain('libtorch discovery finds nothing now (LIBTORCH=/nonexistent/libtorch has no');
  });

  it('advises on a CUDA libtorch whose driver is older, and on a discovered libtorch that differs from the loaded one', () => {
    const base = JSON.parse(plainReport().stdout) as DoctorReport;
    const mismatched: DoctorReport = {
      ...base,
      libtorch: { ...base.libtorch, version: '2.5.1', cuda: '12.4' },
      driverCuda: '11.8',
      advice: [],
    };
    const advice = advise(mismatched).join('\n');
    expect(advice).toContain(`libtorch 2.5.1 is loaded but discovery finds libtorch ${base.discovered?.version}`);
    expect(advice).toContain('the driver supports CUDA 11.8, older than this libtorch\'s CUDA 12.4: update the driver or use a libtorch built for an older CUDA.');
  });
});

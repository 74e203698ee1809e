#!/usr/bin/env node
// `npm run prebuild`: a prebuilt binary of the addon for the libtorch this checkout is built
// against, under prebuilds/<platform>-<arch>/, with its manifest beside it (scripts/prebuilds.js
// reads both). prebuildify names, strips and places the binary; its build step is
// scripts/prebuild-backend.js, which links CMake's msam_portable target (the objects of
// build/Release/msam.node linked without RPATH/RUNPATH), so nothing is compiled twice.
//   node scripts/prebuild.js               # build (if needed), link, place, write the manifest
//   node scripts/prebuild.js --if-needed   # only when the prebuild is missing or older than the sources
// MSAM_BUILD_DIR names another build folder than build/ (scripts/prebuild-cuda.sh builds for a
// second libtorch there, leaving this checkout's own build alone).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { prebuildDir } = require('./prebuilds');

const root = path.resolve(__dirname, '..');
const buildDir = path.resolve(root, process.env.MSAM_BUILD_DIR || 'build');

/** The prebuild's name: libtorch's version and flavour, e.g. msam-torch1.13.0-cpu, msam-torch2.5.1-cu124. */
function prebuildName(lt) {
  const flavour = lt.cuda ? `cu${(lt.cudaVersion || '').replace('.', '')}` : 'cpu';
  return `msam-torch${lt.version}-${flavour}${lt.cxx11Abi === 0 ? '-abi0' : ''}`;
}

function newestSource() {
  const walk = (dir) =>
    fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
  return Math.max(...[...walk(path.join(root, 'csrc')), path.join(root, 'CMakeLists.txt')].map((f) => fs.statSync(f).mtimeMs));
}

function readelf(args, file) {
  try {
    return execFileSync('readelf', [...args, file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`prebuild: readelf (binutils) failed on ${file}: ${e.message}`);
  }
}

/** What the binary asks of the dynamic loader: NEEDED sonames, RPATH/RUNPATH, the newest GLIBC_ and GLIBCXX_ versions. */
function dynamicInfo(file) {
  const dyn = readelf(['-d'], file);
  const needed = [...dyn.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const paths = [...dyn.matchAll(/\((RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[([^\]]*)\]/g)].map((m) => `${m[1]}=${m[2]}`);
  const versions = readelf(['-V'], file);
  const newest = (prefix) => {
    const found = [...versions.matchAll(new RegExp(`Name: ${prefix}_(\\d+(?:\\.\\d+)+)`, 'g'))].map((m) => m[1]);
    return found.sort((a, b) => require('./prebuilds').compareVersions(b, a))[0] || null;
  };
  return { needed, paths, glibc: newest('GLIBC'), glibcxx: newest('GLIBCXX') };
}

function runPrebuildify(name, stage) {
  // prebuildify moves the binary out of <cwd>/build/Release: a staging folder keeps this
  // checkout's own build/Release/msam.node in place.
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(path.join(stage, 'build', 'Release'), { recursive: true });
  process.env.MSAM_ROOT = root;
  process.env.MSAM_BUILD_DIR = buildDir;
  const prebuildify = require('prebuildify');
  return new Promise((resolve, reject) => {
    prebuildify(
      {
        cwd: stage,
        out: root,
        name,
        napi: true,
        strip: true,
        tagLibc: true,
        nodeGyp: path.join(__dirname, 'prebuild-backend.js'),
        targets: [{ runtime: 'node', target: process.versions.node }],
      },
      (err) => (err ? reject(err) : resolve()),
    );
  });
}

/**
 * One prebuild at a time per checkout (test files that need the prebuild may ask for it at once):
 * a lock folder holding the owner's pid; a lock whose owner is gone is taken over.
 */
async function withLock(fn) {
  const lock = path.join(buildDir, 'prebuild.lock');
  fs.mkdirSync(buildDir, { recursive: true });
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let owner = NaN;
      try {
        owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
      } catch {
        // being written: wait
      }
      let alive = true;
      if (Number.isInteger(owner) && owner > 0) {
        try {
          process.kill(owner, 0);
        } catch {
          alive = false;
        }
      }
      if (!alive) fs.rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`prebuild: ${lock} is held by process ${owner}`);
      else await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

async function main() {
  await withLock(makePrebuild);
}

async function makePrebuild() {
  const ifNeeded = process.argv.includes('--if-needed');
  // This checkout's build first (a no-op when it is up to date): the prebuild links its objects.
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  const ltFile = path.join(buildDir, 'libtorch.json');
  if (!fs.existsSync(ltFile) || !ifNeeded) {
    execFileSync(process.execPath, [cmakeJs, 'compile', '--out', buildDir, '--CDCMAKE_BUILD_TYPE=Release'], { cwd: root, stdio: 'inherit' });
  }
  const lt = JSON.parse(fs.readFileSync(ltFile, 'utf8'));
  if (!lt.version) throw new Error(`prebuild: ${ltFile} does not say which libtorch version the build used: reconfigure (rm -rf build; npm run build:native)`);
  const name = prebuildName(lt);
  const libc = process.platform === 'linux' ? (fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc') : null;
  const base = path.join(prebuildDir(root), libc ? `${name}.${libc}` : name);
  if (ifNeeded && fs.existsSync(`${base}.node`) && fs.existsSync(`${base}.json`) && fs.statSync(`${base}.node`).mtimeMs > newestSource()) {
    console.log(`prebuild: ${path.relative(root, base)}.node is up to date`);
    return;
  }
  const stage = path.join(buildDir, 'prebuild-stage');
  await runPrebuildify(name, stage);
  fs.rmSync(stage, { recursive: true, force: true });

  const info = dynamicInfo(`${base}.node`);
  if (info.paths.length > 0) throw new Error(`prebuild: ${base}.node still has ${info.paths.join(', ')}: it would look for libtorch on the build machine`);
  const manifest = {
    name,
    libtorch: { version: lt.version, cuda: lt.cuda, cudaVersion: lt.cudaVersion, cxx11Abi: lt.cxx11Abi },
    needed: info.needed,
    glibc: info.glibc,
    glibcxx: info.glibcxx,
    libc,
    platform: process.platform,
    arch: process.arch,
    napi: 8,
    builtFrom: `${lt.source}: ${lt.libdir}`,
    builtWith: { node: process.version, date: new Date().toISOString().slice(0, 10) },
  };
  const tmp = `${base}.json.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(manifest, null, 2)}\n`);
  fs.renameSync(tmp, `${base}.json`);
  console.log(`prebuild: ${path.relative(root, base)}.node (libtorch ${lt.version}, ${lt.cuda ? `CUDA ${lt.cudaVersion}` : 'cpu'}, glibc ≥ ${info.glibc}) and its manifest`);
}

if (require.main === module) {
  main().catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
module.exports = { prebuildName, dynamicInfo };

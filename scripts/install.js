#!/usr/bin/env node
// npm's install hook. In order:
//   1. a build of this machine already there (build/Release/msam.node): nothing to do;
//   2. a prebuilt binary that fits the libtorch scripts/find-libtorch.js finds (its version, CPU or
//      CUDA, C++ ABI, glibc; scripts/prebuilds.js): use it, nothing is compiled;
//   3. otherwise build from source with cmake-js, after saying why no prebuild fits.
// `--dry-run` prints the decision and builds nothing. npm shows an install script's output only
// when it fails (or with --foreground-scripts); `npx msam doctor` says the same afterwards.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { find } = require('./find-libtorch');
const { selectPrebuild, explainNoMatch, flavour } = require('./prebuilds');

const root = path.resolve(__dirname, '..');
const dryRun = process.argv.includes('--dry-run');
const say = (line) => process.stderr.write(`msam: ${line}\n`);

function onPath(cmd) {
  return (process.env.PATH || '').split(path.delimiter).some((dir) => dir && fs.existsSync(path.join(dir, cmd)));
}

function buildFromSource() {
  const missing = ['cmake', 'c++'].filter((cmd) => !onPath(cmd));
  if (missing.length > 0) {
    throw new Error(
      `building from source needs cmake and a C++17 compiler; ${missing.join(' and ')} not on PATH ` +
        '(Debian/Ubuntu: sudo apt-get install cmake g++)',
    );
  }
  const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
  execFileSync(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release'], { cwd: root, stdio: 'inherit' });
}

function main() {
  if (fs.existsSync(path.join(root, 'build', 'Release', 'msam.node'))) {
    say('using the existing build (build/Release/msam.node)');
    return;
  }
  const lt = find(); // throws the three ways to get libtorch when there is none
  const selection = selectPrebuild(root, lt);
  if (selection.prebuild) {
    say(`using the prebuilt binary ${path.relative(root, selection.prebuild.file)} for libtorch ${lt.version} (${flavour(lt)}) from ${lt.source} at ${lt.libdir}`);
    return;
  }
  say(`${explainNoMatch(selection, lt)}\nmsam: building from source with cmake-js`);
  if (!dryRun) buildFromSource();
}

try {
  main();
} catch (e) {
  say(e.message);
  process.exit(1);
}

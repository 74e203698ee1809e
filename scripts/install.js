#!/usr/bin/env node
// npm's install hook: use a prebuilt binary when one matches this platform, else build the addon
// from source with cmake-js against the libtorch that scripts/find-libtorch.js finds.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
try {
  require('node-gyp-build').resolve(root);
  process.exit(0); // a prebuild or an earlier local build is there
} catch {
  // nothing to load yet: build it
}
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
execFileSync(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release'], { cwd: root, stdio: 'inherit' });

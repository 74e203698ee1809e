#!/usr/bin/env node
// npm's install hook: use a prebuilt binary when one matches this platform, else build the addon
// from source with cmake-js against the libtorch that scripts/find-libtorch.js finds.
'use strict';
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const fs = require('node:fs');
const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const hasPrebuild = fs.existsSync(prebuilds) && fs.readdirSync(prebuilds).some((f) => f.endsWith('.node'));
if (hasPrebuild || fs.existsSync(path.join(root, 'build', 'Release', 'msam.node'))) process.exit(0);
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
execFileSync(process.execPath, [cmakeJs, 'compile', '--CDCMAKE_BUILD_TYPE=Release'], { cwd: root, stdio: 'inherit' });

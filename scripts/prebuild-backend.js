#!/usr/bin/env node
// prebuildify's build step for msam (it calls this in place of node-gyp, with node-gyp's
// arguments, which do not apply: the binary is Node-API and its build is CMake's). Links CMake's
// msam_portable target in the checkout's build folder (configured by scripts/prebuild.js) and
// puts it where prebuildify looks: <cwd>/build/Release/msam.node.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = process.env.MSAM_ROOT || path.resolve(__dirname, '..');
const buildDir = process.env.MSAM_BUILD_DIR || path.join(root, 'build');
execFileSync('cmake', ['--build', buildDir, '--config', 'Release', '--target', 'msam_portable'], { stdio: 'inherit' });
const out = path.join(process.cwd(), 'build', 'Release');
fs.mkdirSync(out, { recursive: true });
fs.copyFileSync(path.join(buildDir, 'Portable', 'msam.node'), path.join(out, 'msam.node'));

// The two builds compile the same sources: CMakeLists.txt globs csrc/, binding.gyp lists them, so
// a file added to csrc/ must be added to binding.gyp too (prebuildify builds through node-gyp).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(__dirname, '..');

function ccFiles(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return ccFiles(rel);
    return e.name.endsWith('.cc') ? [rel] : [];
  });
}

describe('binding.gyp', () => {
  it('lists every C++ source under csrc/, and nothing else', () => {
    // gyp files are Python literals: drop the comments, then read the source list.
    const text = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8').replace(/^\s*#.*$/gm, '');
    const sources = JSON.parse(text).targets[0].sources as string[];
    expect([...sources].sort()).toEqual(ccFiles('csrc').sort());
  });
});

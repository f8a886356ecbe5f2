#!/usr/bin/env node
// Builds the native addon with cmake-js into build/Release/mathrl.node.
// CUDA kernels are included when nvcc is found; set MATHRL_NO_CUDA=1 for a CPU-only build.
'use strict';
const { spawnSync } = require('child_process');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const args = [cmakeJs, 'compile', '--directory', root, '--parallel', jobs, ...process.argv.slice(2)];
console.log(`mathrl: building native addon (${jobs} jobs${process.env.MATHRL_NO_CUDA ? ', CUDA off' : ''})`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (r.error) {
  console.error(`mathrl: could not run cmake-js: ${r.error.message}`);
  process.exit(1);
}
process.exit(r.status === null ? 1 : r.status);

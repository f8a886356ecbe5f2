#!/usr/bin/env node
// Stands in for node-gyp when prebuildify runs (`npm run prebuild`): prebuildify calls
// `<node-gyp> rebuild --target=… --devdir=… --release`, and this builds the addon with cmake-js
// instead (same CMakeLists.txt as `npm run build:native`), leaving build/Release/mathrl.node for
// prebuildify to copy into prebuilds/<platform>-<arch>/.
'use strict';
const { spawnSync } = require('child_process');
const path = require('path');

const debug = process.argv.includes('--debug');
const script = path.join(__dirname, 'build-native.js');
const args = [script, '--CDCMAKE_BUILD_TYPE=' + (debug ? 'Debug' : 'Release')];
const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);

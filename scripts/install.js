#!/usr/bin/env node
// npm install hook: use a prebuilt binary (prebuilds/<platform>-<arch>/) when one loads on this
// machine; otherwise build the addon from source with cmake-js (scripts/build-native.js).
// MATHRL_BUILD_FROM_SOURCE=1 forces the source build.
'use strict';
const path = require('path');

const root = path.resolve(__dirname, '..');
if (!process.env.MATHRL_BUILD_FROM_SOURCE) {
  try {
    const prebuilt = require('node-gyp-build').resolve(root);
    require(prebuilt);
    console.log(`mathrl: using ${path.relative(root, prebuilt)}`);
    process.exit(0);
  } catch {
    // no loadable binary yet: build it
  }
}
require('./build-native.js');

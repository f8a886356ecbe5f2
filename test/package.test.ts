// The published entry points: `import … from 'mathrl'` (ESM) and `require('mathrl')` (CJS) resolve
// through package.json "exports" to the built dist/ and share one module instance.
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const root = path.resolve(__dirname, '..');
const run = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

describe('package entry points', () => {
  beforeAll(() => {
    if (!fs.existsSync(path.join(root, 'dist/cjs/index.js')) || !fs.existsSync(path.join(root, 'dist/esm/index.mjs')))
      throw new Error('dist/ is missing: run `npm run build:ts` (npm install does it)');
  });

  test('ESM import and CJS require expose the same API and one instance', () => {
    const out = run([
      '--input-type=module',
      '-e',
      `import * as esm from 'mathrl';
       import { createRequire } from 'node:module';
       const cjs = createRequire(import.meta.url)('mathrl');
       const t = esm.Tensor.fromArray([1, 2, 3]);
       const doubled = cjs.add(t, t).toArray();
       console.log(JSON.stringify({ esm: Object.keys(esm).filter((k) => k !== 'default').sort(),
         cjs: Object.keys(cjs).sort(), same: esm.Tensor === cjs.Tensor, doubled: Array.from(doubled) }));`,
    ]);
    const r = JSON.parse(out);
    expect(r.esm).toEqual(r.cjs);
    expect(r.esm).toEqual(expect.arrayContaining(['Tensor', 'tidy', 'gemm', 'matmul', 'softmax', 'backends', 'memory']));
    expect(r.same).toBe(true);
    expect(r.doubled).toEqual([2, 4, 6]);
  });

  test('type declarations exist for both entry points', () => {
    expect(fs.existsSync(path.join(root, 'dist/cjs/index.d.ts'))).toBe(true);
    expect(fs.readFileSync(path.join(root, 'dist/esm/index.d.mts'), 'utf8')).toMatch(/export \* from '\.\.\/cjs\/index\.js'/);
  });
});

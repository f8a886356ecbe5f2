/** Jest runs the TypeScript sources through ts-jest against the built native addon. */
// Every new native allocation is filled with NaN bytes (0xFF), so kernels that skip an output element
// fail. Set here, in the parent process, so the workers' native code sees it in its environment
// (jest gives test files a copy of process.env that getenv() does not read).
process.env.MATHRL_POISON = '1';
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  testTimeout: 120000,
};

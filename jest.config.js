/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type checking runs once in `npm test` (tsc); here files are only transpiled, which is much faster.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  testTimeout: 180_000,
  // After a test times out, a Temporal worker it started can keep polling its stopped dev server and
  // hold the process open forever; every result is reported before this exit.
  forceExit: true,
  verbose: false,
};

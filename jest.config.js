// Three projects, one command (`npm test`):
//   unit         *.test.ts beside the code: pure logic, no I/O.
//   integration  *.int.test.ts: real MariaDB (and Redis where used), real HTTP, real socket.io.
//   e2e          test/e2e/*.e2e.test.ts: Debian's chromium driven by playwright-core.
const transform = { '^.+\\.ts$': ['@swc/jest'] };
const common = { transform, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'] };

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/bench/**/*.test.ts'], testPathIgnorePatterns: ['\\.int\\.test\\.ts$'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/src/**/*.int.test.ts', '<rootDir>/test/int/**/*.int.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'] },
  ],
  testTimeout: 120000,
};

// Three projects, one command (`npm test`):
//   unit         *.test.ts beside the code: pure logic, no I/O.
//   integration  *.int.test.ts: real MariaDB (and Redis where used), real HTTP, real socket.io.
//   e2e          test/e2e/*.e2e.test.ts: Debian's chromium driven by playwright-core.
const transform = {
  '^.+\\.ts$': ['@swc/jest'],
  // A few dependencies ship ESM only (cookie, used by fastify's inject; content-disposition, used by
// bull-board's own @fastify/static): compile them to CommonJS, wherever they are nested.
  '^.+\\.m?js$': ['@swc/jest', { swcrc: false, jsc: { parser: { syntax: 'ecmascript' }, target: 'es2022' }, module: { type: 'commonjs' } }],
};
const esmOnly = ['cookie', 'content-disposition'];
const common = {
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(.*/node_modules/)?(${esmOnly.join('|')})/)`],
  testEnvironment: 'node',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.test.ts', '<rootDir>/bench/**/*.test.ts', '<rootDir>/deploy/**/*.test.ts'], testPathIgnorePatterns: ['\\.int\\.test\\.ts$'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/src/**/*.int.test.ts', '<rootDir>/test/int/**/*.int.test.ts'] },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.e2e.test.ts'] },
  ],
  testTimeout: 120000,
  // Some integration files leave a Redis or HTTP keep-alive handle open after their last test (not
  // yet tracked down); with one worker the tests run in this process, which then never exits and
  // CI would hang. Every file closes its servers and databases in afterAll; this only ends the run.
  forceExit: true,
};

/**
 * Two projects: `unit` (`*.test.ts`, pure code, no services) and `integration` (`*.int.test.ts`, against
 * the real local stack, which the global setup brings up when it is down and takes down again if it
 * started it).
 * @type {import('jest').Config}
 */
const shared = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  transform: {
    '^.+\\.ts$': [
      'ts-jest',
      {
        // Type errors fail the test file. 151002: ts-jest's notice that Node16 modules are "only supported"
        // with isolatedModules, which would turn type-checking off; every package here is CommonJS.
        diagnostics: { ignoreCodes: [151002] },
        tsconfig: '<rootDir>/tsconfig.jest.json',
      },
    ],
  },
  moduleNameMapper: {
    '^@inventory-cdc/shared$': '<rootDir>/shared/src/index.ts',
    '^@inventory-cdc/shared/testing$': '<rootDir>/shared/testing/index.ts',
  },
  modulePathIgnorePatterns: ['<rootDir>/.*/dist/', '<rootDir>/.local/'],
};

module.exports = {
  testTimeout: 180_000,
  // Client libraries (kafkajs, pg pools in test equipment) can keep a handle open after the run; the
  // global teardown has stopped the stack by then, so end the process instead of waiting forever.
  forceExit: true,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: ['<rootDir>/{shared,workers,deploy,bench}/**/*.test.ts'],
      testPathIgnorePatterns: ['\\.int\\.test\\.ts$', '/node_modules/'],
    },
    {
      ...shared,
      displayName: 'integration',
      testMatch: ['<rootDir>/{shared,workers,deploy,bench}/**/*.int.test.ts'],
      globalSetup: '<rootDir>/deploy/local/jest-global-setup.ts',
      globalTeardown: '<rootDir>/deploy/local/jest-global-teardown.ts',
    },
  ],
};

// jest runs the TypeScript sources as native ES modules (node --experimental-vm-modules, see
// the root package.json): @swc/jest strips types, moduleNameMapper points the workspace
// packages at their sources and drops the `.js` of relative imports.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' }, keepClassNames: true }, module: { type: 'es6' } },
    ],
  },
  moduleNameMapper: {
    '^@tsgroups/core$': '<rootDir>/packages/core/src/index.ts',
    '^@tsgroups/protocols$': '<rootDir>/protocols/src/index.ts',
    '^@tsgroups/blocks$': '<rootDir>/packages/blocks/src/index.ts',
    '^tsgroups$': '<rootDir>/packages/tsgroups/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/packages/*/test/**/*.test.ts', '<rootDir>/protocols/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  setupFiles: ['<rootDir>/test/helpers/jest-setup.ts'],
  testTimeout: 30000,
};

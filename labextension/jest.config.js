/**
 * Unit tests of the extension's models and plain-DOM components (no JupyterLab imports in
 * what they test, so no ES-module transforms are needed). `jlpm test`.
 */
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/test'],
  testRegex: '\\.spec\\.ts$',
  moduleFileExtensions: ['ts', 'js', 'json'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  // SVG imports (icons) are their source text in the bundle; tests need no icon.
  moduleNameMapper: { '\\.svg$': '<rootDir>/test/svgStub.js' }
};

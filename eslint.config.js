// Lint keeps the size limits and async hygiene of CONVENTIONS.md, so review does not have to.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'dist-typecheck/**', 'node_modules/**', 'coverage/**', 'charts/**', '.tmp/**', '.lead/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'max-lines': ['error', { max: 450, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }],
    },
  },
  {
    // Tests describe scenarios in one body; the per-function limit would only force noise.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { 'max-lines-per-function': 'off' },
  },
  {
    // The Raft core is pure: no I/O, clocks or ambient randomness (see CONVENTIONS.md).
    files: ['src/broker/raft/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: ['node:*', 'fs', 'net', 'level', 'classic-level', 'fastify', 'pino', 'timers'] }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'process'],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'raft/ has no clock: time comes in through tick()' },
        { object: 'Math', property: 'random', message: 'raft/ uses the injected seeded random source' }],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date']", message: 'raft/ has no clock' }],
    },
  },
);

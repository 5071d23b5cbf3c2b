import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist/',
      'build/',
      'node_modules/',
      'coverage/',
      'test-output/',
      'src/tools/dashboard/vendor/',
      'test/fixtures/reader-0.1.0/',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    // CommonJS scripts run by npm at install (scripts/check-toolchain.cjs).
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', process: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // A spread into a call puts every element on the stack: Math.max(...fields) overflows it at about
    // 130,000 elements, and files may hold 1,000,000 fields. Loops instead (maxOf, minOf).
    files: ['src/**/*.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'CallExpression > SpreadElement', message: 'no spread into a call: its size is unbounded; loop instead' },
        { selector: 'NewExpression > SpreadElement', message: 'no spread into a call: its size is unbounded; loop instead' },
        {
          selector: "CallExpression[callee.property.name='apply'][arguments.length=2]",
          message: 'no apply with an argument array: its size is unbounded; loop instead',
        },
      ],
    },
  },
);

import js from '@eslint/js'
import tseslint from 'typescript-eslint'

/** `files` may not import from `groups` (gitignore-style patterns of the import path). */
function layer(files, groups, message) {
  return [
    {
      files: [files],
      rules: { 'no-restricted-imports': ['error', { patterns: [{ group: groups, message }] }] },
    },
  ]
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', 'bench/.work/', 'native/build/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // The layers (README "Layout"): core knows no front end; the server and the MCP server know no
  // other front end; socket readers know nothing of the registry; shared code depends on
  // nothing; the dashboard takes only types from the core (its code runs in a browser) and
  // values from shared/.
  ...layer(
    'src/core/**',
    ['**/cli/*', '**/server/*', '**/mcp/*'],
    'the core must not import a front end (cli/, server/, mcp/)',
  ),
  ...layer(
    'src/core/sockets/**',
    ['**/cli/*', '**/server/*', '**/mcp/*', '**/registry/*'],
    'socket readers know nothing of the registry or the front ends',
  ),
  ...layer(
    'src/server/**',
    ['**/cli/*', '**/mcp/*'],
    'the server must not import another front end (the CLI, mcp/)',
  ),
  ...layer(
    'src/mcp/**',
    // The SDK's own server/ modules are what it is built on.
    ['**/cli/*', '**/server/*', '!@modelcontextprotocol/sdk/**'],
    'the MCP server is a front end: it uses the core only (not cli/, server/)',
  ),
  ...layer(
    'src/shared/**',
    ['**/core/*', '**/cli/*', '**/server/*', '**/mcp/*', 'node:*'],
    'shared code depends on nothing (it runs in the browser too)',
  ),
  {
    files: ['web/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/src/core/*', '**/src/core/**'],
              allowTypeImports: true,
              message:
                'the dashboard takes only types from the core; shared values live in src/shared/',
            },
            {
              group: ['**/src/cli/*', '**/src/server/*', '**/src/mcp/*', 'node:*'],
              message: 'the dashboard runs in a browser',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['bench/**/*.mjs', 'native/*.mjs', 'test/fixtures/**/*.mjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
      },
    },
  },
)

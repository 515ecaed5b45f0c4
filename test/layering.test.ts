/**
 * Issue 11 item 4: the layering is enforced by the lint configuration, and this proves it bites:
 * a deliberate violation of each rule, linted as if it sat in that layer, is an error; the same
 * import where it is allowed is not.
 */
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'
import { ROOT } from './helpers/processes.js'

const eslint = new ESLint({ cwd: ROOT })

async function restrictedImportErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${ROOT}${filePath}` })
  return (result?.messages ?? [])
    .filter((m) => /no-restricted-imports$/.test(m.ruleId ?? ''))
    .map((m) => m.message)
}

describe('the layers, as the lint configuration enforces them', () => {
  it.each([
    ['src/core/x.ts', "import { main } from '../cli/main.js'\nvoid main\n", /front end/],
    ['src/core/x.ts', "import { app } from '../server/app.js'\nvoid app\n", /front end/],
    [
      'src/core/sockets/x.ts',
      "import { allocate } from '../registry/allocator.js'\nvoid allocate\n",
      /registry/,
    ],
    ['src/server/x.ts', "import { main } from '../cli/main.js'\nvoid main\n", /CLI/],
    ['src/server/x.ts', "import { TOOLS } from '../mcp/tools.js'\nvoid TOOLS\n", /front end/],
    ['src/mcp/x.ts', "import { main } from '../cli/main.js'\nvoid main\n", /front end/],
    ['src/mcp/x.ts', "import { app } from '../server/app.js'\nvoid app\n", /front end/],
    ['src/core/x.ts', "import { TOOLS } from '../mcp/tools.js'\nvoid TOOLS\n", /front end/],
    [
      'src/shared/x.ts',
      "import { PortwardenError } from '../core/errors.js'\nvoid PortwardenError\n",
      /nothing/,
    ],
    ['src/shared/x.ts', "import { readFileSync } from 'node:fs'\nvoid readFileSync\n", /nothing/],
    [
      'web/src/x.ts',
      "import { checkPort } from '../../src/core/check-port.js'\nvoid checkPort\n",
      /only types/,
    ],
  ])('%s importing a lower layer it must not: an error', async (file, code, says) => {
    const errors = await restrictedImportErrors(file, code)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(says)
  })

  it.each([
    ['src/cli/x.ts', "import { checkPort } from '../core/check-port.js'\nvoid checkPort\n"],
    ['src/server/x.ts', "import { checkPort } from '../core/check-port.js'\nvoid checkPort\n"],
    ['src/mcp/x.ts', "import { checkPort } from '../core/check-port.js'\nvoid checkPort\n"],
    [
      'web/src/x.ts',
      "import type { PortCheck } from '../../src/core/check-port.js'\nexport type T = PortCheck\n",
    ],
    [
      'web/src/x.ts',
      "import { escapeUnsafe } from '../../src/shared/safe-text.js'\nvoid escapeUnsafe\n",
    ],
  ])('%s importing what it may: no error', async (file, code) => {
    expect(await restrictedImportErrors(file, code)).toEqual([])
  })
})

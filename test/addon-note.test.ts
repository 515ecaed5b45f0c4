/**
 * Issue 10 item 15: without the native addon the CLI says so once per install (one stderr line),
 * not on every command; nothing when the addon is turned off on purpose. The install under test
 * is a copy of the built package without native/build, so the addon is really missing.
 */
import { cpSync, readdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { cliEnv, runCommand } from './helpers/cli.js'
import { ROOT } from './helpers/processes.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

const temp = tempDir
afterAll(removeTempDirs)

describe('a missing native addon', () => {
  it('is noted once per install on stderr, not per command, and not when turned off', async () => {
    const install = temp('pw-no-addon-')
    cpSync(join(ROOT, 'dist'), join(install, 'dist'), { recursive: true })
    cpSync(join(ROOT, 'package.json'), join(install, 'package.json'))
    symlinkSync(join(ROOT, 'node_modules'), join(install, 'node_modules'))
    const cli = join(install, 'dist', 'bin', 'portwarden.cjs')
    const state = temp('pw-state-')
    const run = (extra: Record<string, string | undefined> = {}) =>
      runCommand(process.execPath, [cli, 'list', '--port', '1'], {
        // the suite's /proc pass turns the addon off on purpose; these runs must not
        env: cliEnv({
          XDG_STATE_HOME: state,
          NO_COLOR: '1',
          PORTWARDEN_NO_NATIVE: undefined,
          ...extra,
        }),
      })

    const first = await run()
    expect(first.code, first.stderr).toBe(0)
    const lines = first.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(
      /^portwarden: note: the native addon is not in use \(the native addon is not built\), so the slower \/proc path answers; rebuild it with `npm rebuild portwarden`.*This note is shown once\.$/,
    )
    expect(readdirSync(join(state, 'portwarden')).some((f) => f.startsWith('addon-note-'))).toBe(
      true,
    )
    const second = await run()
    expect(second.code).toBe(0)
    expect(second.stderr).toBe('')
    expect(second.stdout).toBe(first.stdout)

    const elsewhere = temp('pw-state-')
    const off = await runCommand(process.execPath, [cli, 'list', '--port', '1'], {
      env: cliEnv({ XDG_STATE_HOME: elsewhere, PORTWARDEN_NO_NATIVE: '1' }),
    })
    expect(off.code).toBe(0)
    expect(off.stderr).toBe('')
  })
})

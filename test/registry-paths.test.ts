/**
 * A registry path whose directory cannot be made must end in a sentence and exit 3, not hang:
 * Node's own recursive mkdir loops for ever where mkdir answers ENOENT under an existing parent,
 * as it does inside /proc.
 */
import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { runCli, stackTraceLines } from './helpers/cli.js'

describe('registry directories that cannot be created', () => {
  it('a path under /proc: exit 3 naming the directory, within the timeout', async () => {
    const result = await runCli(
      ['alloc', 'web', '--registry', '/proc/portwarden-test/registry.db'],
      {
        timeoutMs: 10_000,
      },
    )
    expect(result.code).toBe(3)
    expect(result.stderr).toContain('/proc/portwarden-test')
    expect(result.stderr).toMatch(/cannot create the directory/)
    expect(stackTraceLines(result.stderr)).toEqual([])
    expect(existsSync('/proc/portwarden-test')).toBe(false)
  })
})

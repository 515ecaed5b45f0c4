/**
 * P5: ranges that overlap the kernel's ephemeral range are warned about, and ports the kernel
 * keeps aside (`ip_local_reserved_ports`) are never handed out.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { runCli } from './helpers/cli.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

const RESERVED = '/proc/sys/net/ipv4/ip_local_reserved_ports'
const dir = tempDir('pw-p5-')
afterAll(removeTempDirs)

function ephemeralRange(): [number, number] {
  const [from, to] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
    .trim()
    .split(/\s+/)
    .map(Number)
  return [from as number, to as number]
}

function canReserve(): boolean {
  if (process.getuid?.() !== 0) return false
  try {
    writeFileSync(RESERVED, readFileSync(RESERVED, 'utf8'))
    return true
  } catch {
    return false
  }
}

describe('P5: the ephemeral range and reserved ports', () => {
  it('`find` warns when the range overlaps ip_local_port_range, and not otherwise', async () => {
    const [from] = ephemeralRange()
    const overlapping = await runCli([
      'find',
      '--range',
      `${from - 500}-${from + 500}`,
      '--registry',
      join(dir, 'none.db'),
    ])
    expect(overlapping.code).toBe(0)
    expect(overlapping.stderr).toMatch(/ephemeral range .*ip_local_port_range/)
    const clear = await runCli([
      'find',
      '--range',
      '20000-20999',
      '--registry',
      join(dir, 'none.db'),
    ])
    expect(clear.code).toBe(0)
    expect(clear.stderr).not.toMatch(/ephemeral/)
  })

  it.skipIf(!canReserve())(
    'allocations skip ip_local_reserved_ports (needs root to set them; restored afterwards)',
    async () => {
      const original = readFileSync(RESERVED, 'utf8').trim()
      const port = 21000 + Math.floor(Math.random() * 500)
      try {
        writeFileSync(RESERVED, original ? `${original},${port}` : String(port))
        const registry = join(dir, 'reserved.db')
        const exhausted = await runCli([
          'alloc',
          'web',
          '--project',
          'p5',
          '--range',
          `${port}-${port}`,
          '--registry',
          registry,
        ])
        expect(exhausted.code).toBe(1)
        expect(exhausted.stderr).toContain(`${port}-${port}`)
        const next = await runCli([
          'alloc',
          'web',
          '--project',
          'p5',
          '--range',
          `${port}-${port + 1}`,
          '--registry',
          registry,
        ])
        expect(next.code).toBe(0)
        expect(next.stdout.trim()).toBe(String(port + 1))
        const found = await runCli([
          'find',
          '--range',
          `${port}-${port + 5}`,
          '--count',
          '2',
          '--registry',
          join(dir, 'none.db'),
        ])
        expect(found.stdout.trim().split('\n').map(Number)).not.toContain(port)
      } finally {
        writeFileSync(RESERVED, original || '\n')
      }
    },
  )
})

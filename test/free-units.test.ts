/**
 * The small parts of `free`: duration and signal grammar, the thread-id rule, the Docker
 * container match, and the systemd unit search bounds.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  findPublishingContainer,
  findSocketUnits,
  formatDuration,
  parseDuration,
  parseSignalName,
  unsafeTarget,
} from '../src/core/index.js'
import type { DockerContainer } from '../src/core/index.js'

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['3', 3000],
    ['0', 0],
    ['0.25', 250],
    ['60m', 3_600_000],
  ])('%s → %i ms', (text, ms) => expect(parseDuration(text, '--wait')).toBe(ms))

  it.each([
    '',
    ' 5s',
    '5s ',
    '-1s',
    '+5s',
    '1e3',
    '0x10',
    '05s',
    '.5s',
    '1.5ms',
    '5h',
    '61m',
    '1.2345s',
    '5 s',
    '٥s',
  ])('%j is refused, naming the flag', (text) =>
    expect(() => parseDuration(text, '--kill-after')).toThrow(/^Invalid --kill-after /),
  )

  it('formats back the way a person writes it', () => {
    expect([500, 1000, 1500, 60_000, 90_000].map(formatDuration)).toEqual([
      '500ms',
      '1s',
      '1.5s',
      '1m',
      '90s',
    ])
  })
})

describe('signals', () => {
  it('accepts the stop-ish signals with or without SIG, in any case', () => {
    expect(
      ['TERM', 'SIGTERM', 'term', 'int', 'HUP', 'kill', 'QUIT', 'usr1', 'SIGUSR2'].map(
        parseSignalName,
      ),
    ).toEqual([
      'SIGTERM',
      'SIGTERM',
      'SIGTERM',
      'SIGINT',
      'SIGHUP',
      'SIGKILL',
      'SIGQUIT',
      'SIGUSR1',
      'SIGUSR2',
    ])
  })
  it.each(['9', '15', 'STOP', 'SIGSTOP', 'CONT', 'SEGV', '', ' TERM', 'SIG', 'SIGSIGTERM'])(
    '%j is refused',
    (text) => expect(() => parseSignalName(text)).toThrow(/^Invalid --signal/),
  )
})

describe('unsafe pids', () => {
  it('a thread id of our own process is refused as a thread (kill(tid) would signal us)', () => {
    const tids = readdirSync(`/proc/${process.pid}/task`).map(Number)
    const other = tids.find((tid) => tid !== process.pid)
    expect(other, 'node always runs a few threads').toBeDefined()
    expect(unsafeTarget(other)).toMatchObject({ reason: 'thread' })
    expect(unsafeTarget(other)!.message).toContain('(portwarden itself)')
  })
  it('a pid that is neither ours nor an ancestor is not refused here', () => {
    expect(unsafeTarget(process.pid, { self: 999_999_999, parent: 999_999_998 })).toBeNull()
  })
})

describe('Docker containers', () => {
  const containers: DockerContainer[] = [
    {
      id: 'a',
      name: 'db',
      ports: [{ ip: null, privatePort: 5432, publicPort: null, protocol: 'tcp' }],
      addresses: ['172.17.0.2'],
    },
    {
      id: 'b',
      name: 'web',
      ports: [{ ip: '0.0.0.0', privatePort: 80, publicPort: 8080, protocol: 'tcp' }],
      addresses: ['172.17.0.3'],
    },
    {
      id: 'c',
      name: 'dns',
      ports: [{ ip: '0.0.0.0', privatePort: 53, publicPort: 5353, protocol: 'udp' }],
      addresses: ['172.17.0.4'],
    },
  ]
  it('by published port and protocol first, else by the address on the proxy command line', () => {
    expect(findPublishingContainer(containers, 8080, 'tcp', null)?.name).toBe('web')
    expect(findPublishingContainer(containers, 5353, 'udp', null)?.name).toBe('dns')
    expect(findPublishingContainer(containers, 5353, 'tcp', null)).toBeNull()
    expect(findPublishingContainer(containers, 15432, 'tcp', '172.17.0.2:5432')?.name).toBe('db')
    expect(findPublishingContainer(containers, 1, 'tcp', '10.0.0.1:1')).toBeNull()
  })
})

describe('systemd socket units', () => {
  it('ListenStream for TCP, ListenDatagram for UDP, any address form; the first directory wins', () => {
    const a = mkdtempSync(join(tmpdir(), 'pw-units-a-'))
    const b = mkdtempSync(join(tmpdir(), 'pw-units-b-'))
    try {
      writeFileSync(join(a, 'web.socket'), '[Socket]\nListenStream=8080\n')
      writeFileSync(join(b, 'web.socket'), '[Socket]\nListenStream=9999\n') // overridden by a/
      writeFileSync(join(b, 'v6.socket'), '[Socket]\n  ListenStream=[::]:8080\n')
      writeFileSync(join(b, 'dns.socket'), '[Socket]\nListenDatagram=127.0.0.1:5353\n')
      writeFileSync(join(b, 'path.socket'), '[Socket]\nListenStream=/run/x.sock\n')
      writeFileSync(join(b, 'notes.txt'), 'ListenStream=8080\n')
      expect(findSocketUnits(8080, 'tcp', [a, b]).sort()).toEqual(['v6.socket', 'web.socket'])
      expect(findSocketUnits(9999, 'tcp', [a, b])).toEqual([])
      expect(findSocketUnits(5353, 'udp', [a, b])).toEqual(['dns.socket'])
      expect(findSocketUnits(5353, 'tcp', [a, b])).toEqual([])
      expect(findSocketUnits(80, 'tcp', [join(a, 'missing')])).toEqual([])
    } finally {
      rmSync(a, { recursive: true, force: true })
      rmSync(b, { recursive: true, force: true })
    }
  })
})

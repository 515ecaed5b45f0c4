import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  parseBootTime,
  parseCmdline,
  parsePasswd,
  parseProcStat,
  parseSocketLink,
} from './parse-proc-pid.js'

describe('parseProcStat', () => {
  it('reads pid, comm, ppid and the start time (field 22)', () => {
    const text =
      '4242 (node) S 1 4242 4242 0 -1 4194560 5512 0 0 0 12 3 0 0 20 0 11 0 987654 1147641856 12345 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 1 0 0 0 0 0\n'
    expect(parseProcStat(text)).toEqual({ pid: 4242, comm: 'node', ppid: 1, startTicks: 987654 })
  })

  it('keeps names with spaces and parentheses whole', () => {
    const text = '7 (a) b (c)) S 3 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 55 0 0\n'
    expect(parseProcStat(text)).toEqual({ pid: 7, comm: 'a) b (c)', ppid: 3, startTicks: 55 })
  })

  it('never throws on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const stat = parseProcStat(text)
        if (stat) expect(Number.isSafeInteger(stat.startTicks)).toBe(true)
      }),
      { numRuns: 5000 },
    )
  })
})

describe('small /proc parsers', () => {
  it('joins cmdline arguments and drops the trailing NUL', () => {
    expect(parseCmdline('python3\0-m\0http.server\x008080\0')).toBe('python3 -m http.server 8080')
    expect(parseCmdline('')).toBe('')
  })

  it('maps uids to the first name in passwd', () => {
    const users = parsePasswd(
      'root:x:0:0:root:/root:/bin/bash\n# comment\ndev:x:1000:1000::/home/dev:/bin/sh\ntoor:x:0:0::/:/bin/sh\nbroken\n',
    )
    expect([...users]).toEqual([
      [0, 'root'],
      [1000, 'dev'],
    ])
  })

  it('reads btime', () => {
    expect(parseBootTime('cpu  1 2 3\nbtime 1763700000\nprocesses 5\n')).toBe(1763700000)
    expect(parseBootTime('nothing')).toBeNull()
  })

  it('recognises socket links only', () => {
    expect(parseSocketLink('socket:[12345]')).toBe(12345)
    expect(parseSocketLink('pipe:[12345]')).toBeNull()
    expect(parseSocketLink('/dev/null')).toBeNull()
    expect(parseSocketLink('socket:[]')).toBeNull()
    expect(parseSocketLink('socket:[99999999999999999999]')).toBeNull()
  })
})

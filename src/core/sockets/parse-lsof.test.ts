import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseElapsed, parseLsofFields } from './parse-lsof.js'

// Captured from `lsof -nP -w -F pcuLftPnTd0` (lsof 4.95, Linux); NULs written as \0.
const SAMPLE = [
  'p3115\0cpython3\0u0\0Lroot\0',
  'f3\0tIPv4\0d7039\0PTCP\0n127.0.0.1:46081\0TST=LISTEN\0TQR=0\0TQS=0\0',
  'f4\0tIPv4\0d7040\0PTCP\0n127.0.0.1:44898->127.0.0.1:46081\0TST=ESTABLISHED\0TQR=0\0TQS=0\0',
  'f6\0tIPv6\0d7042\0PUDP\0n[::1]:58080\0TQR=0\0TQS=0\0',
  'f7\0tIPv6\0d7043\0PTCP\0n*:45125\0TST=LISTEN\0TQR=0\0TQS=0\0',
  'p99\0cnode\0u1000\0Ldev\0',
  'f20\0tIPv4\0d8000\0PUDP\0n*:5353\0',
  'f21\0tsock\0d8001\0n protocol: NETLINK\0',
  '',
].join('\n')

describe('parseLsofFields', () => {
  it('turns field output into socket rows', () => {
    const rows = parseLsofFields(SAMPLE)
    expect(
      rows.map((r) => [
        r.pid,
        r.command,
        r.uid,
        r.device,
        r.protocol,
        r.family,
        r.state,
        r.localAddress,
        r.localPort,
        r.remoteAddress,
        r.remotePort,
      ]),
    ).toEqual([
      [3115, 'python3', 0, '7039', 'tcp', 'ipv4', 'LISTEN', '127.0.0.1', 46081, '0.0.0.0', 0],
      [3115, 'python3', 0, '7040', 'tcp', 'ipv4', 'ESTAB', '127.0.0.1', 44898, '127.0.0.1', 46081],
      [3115, 'python3', 0, '7042', 'udp', 'ipv6', 'UNCONN', '::1', 58080, '::', 0],
      [3115, 'python3', 0, '7043', 'tcp', 'ipv6', 'LISTEN', '::', 45125, '::', 0],
      [99, 'node', 1000, '8000', 'udp', 'ipv4', 'UNCONN', '0.0.0.0', 5353, '0.0.0.0', 0],
    ])
    expect(rows[4]?.user).toBe('dev')
  })

  it('never throws on arbitrary input (property)', () => {
    const field = fc
      .tuple(fc.constantFrom('p', 'c', 'u', 'L', 'f', 't', 'd', 'P', 'n', 'T'), fc.string())
      .map(([id, v]) => id + v)
    const line = fc.array(field, { maxLength: 8 }).map((fields) => fields.join('\0') + '\0')
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.array(line).map((l) => l.join('\n')),
        ),
        (text) => {
          for (const row of parseLsofFields(text)) {
            expect(row.localPort).toBeGreaterThanOrEqual(0)
            expect(row.localPort).toBeLessThanOrEqual(65535)
            expect(row.pid).toBeGreaterThan(0)
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})

describe('parseElapsed', () => {
  it.each([
    ['05:03', 303],
    ['01:05:03', 3903],
    ['2-01:05:03', 176703],
    ['  00:00 ', 0],
  ])('%j is %d s', (text, seconds) => {
    expect(parseElapsed(text)).toBe(seconds)
  })
  it('rejects garbage', () => {
    expect(parseElapsed('soon')).toBeNull()
  })
})

import { endianness } from 'node:os'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { formatIPv6Bytes, normalizeAddress, parseHexIPv6 } from './inet-address.js'
import { parseProcNet } from './parse-proc-net.js'

const HEADER4 =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
const HEADER6 =
  '  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'

// Rows as the kernel prints them on a little-endian machine (x86-64, arm64).
const TCP4 =
  HEADER4 +
  '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 424242 1 0000000000000000 100 0 0 10 0\n' +
  '   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 424243 1 0000000000000000 20 4 30 10 -1\n' +
  '   2: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 17 1 0000000000000000 100 0 0 10 0\n' +
  '   3: 0100007F:A411 0100007F:1F90 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000\n'
const TCP6 =
  HEADER6 +
  '   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5001 1 0000000000000000 100 0 0 10 0\n' +
  '   1: 00000000000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 5002 1 0000000000000000 100 0 0 10 0\n' +
  '   2: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000    33        0 5003 1 0000000000000000 100 0 0 10 0\n' +
  '   3: 000080FE00000000000000000A000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 5004 1 0000000000000000 100 0 0 10 0\n'
const UDP4 =
  '   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n' +
  '  123: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 9001 2 0000000000000000 0\n' +
  '  124: 0100007F:E0A2 0100007F:0035 01 00000000:00000000 00:00000000 00000000  1000        0 9002 2 0000000000000000 0\n'

describe.runIf(endianness() === 'LE')('parseProcNet (little-endian kernel text)', () => {
  it('decodes IPv4 TCP rows in every state', () => {
    const rows = parseProcNet(TCP4, 'tcp', 'ipv4')
    expect(rows).toEqual([
      {
        protocol: 'tcp',
        family: 'ipv4',
        state: 'LISTEN',
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        inode: 424242,
        uid: 1000,
      },
      {
        protocol: 'tcp',
        family: 'ipv4',
        state: 'ESTAB',
        localAddress: '127.0.0.1',
        localPort: 8080,
        remoteAddress: '127.0.0.1',
        remotePort: 54321,
        inode: 424243,
        uid: 1000,
      },
      {
        protocol: 'tcp',
        family: 'ipv4',
        state: 'LISTEN',
        localAddress: '0.0.0.0',
        localPort: 22,
        remoteAddress: '0.0.0.0',
        remotePort: 0,
        inode: 17,
        uid: 0,
      },
      {
        protocol: 'tcp',
        family: 'ipv4',
        state: 'TIME-WAIT',
        localAddress: '127.0.0.1',
        localPort: 42001,
        remoteAddress: '127.0.0.1',
        remotePort: 8080,
        inode: 0,
        uid: 0,
      },
    ])
  })

  it('decodes IPv6 rows: wildcard, loopback, v4-mapped, link-local', () => {
    const rows = parseProcNet(TCP6, 'tcp', 'ipv6')
    expect(
      rows.map((r) => [r.localAddress, r.localPort, r.remoteAddress, r.remotePort, r.state, r.uid]),
    ).toEqual([
      ['::', 8080, '::', 0, 'LISTEN', 0],
      ['::1', 80, '::', 0, 'LISTEN', 33],
      ['::ffff:127.0.0.1', 80, '::ffff:127.0.0.1', 50000, 'ESTAB', 33],
      ['fe80::a', 80, '::', 0, 'LISTEN', 33],
    ])
  })

  it('gives a socket once when a read between two chunks repeats its row (one inode, one socket)', () => {
    const [header, ...rows] = TCP4.trimEnd().split('\n')
    const repeated = [header, ...rows, rows[0], rows[1]].join('\n') + '\n'
    expect(parseProcNet(repeated, 'tcp', 'ipv4')).toEqual(parseProcNet(TCP4, 'tcp', 'ipv4'))
  })

  it('names UDP states as ss does', () => {
    const rows = parseProcNet(UDP4, 'udp', 'ipv4')
    expect(rows.map((r) => [r.localAddress, r.localPort, r.state])).toEqual([
      ['127.0.0.53', 53, 'UNCONN'],
      ['127.0.0.1', 57506, 'ESTAB'],
    ])
  })

  it('applies the row filter before decoding', () => {
    const seen: [string, number][] = []
    const rows = parseProcNet(TCP4, 'tcp', 'ipv4', (state, port) => {
      seen.push([state, port])
      return state === 'LISTEN' && port === 22
    })
    expect(rows.map((r) => r.inode)).toEqual([17])
    expect(seen).toHaveLength(4)
  })

  it('decodes IPv6 hex words in host byte order', () => {
    expect(parseHexIPv6('B80D0120000000000000000001000000')).toBe('2001:db8::1')
  })
})

describe('parseProcNet on hostile input', () => {
  it('skips malformed rows instead of throwing', () => {
    const text =
      HEADER4 +
      '   0: nonsense\n   1: 0100007F:1F90 00000000:0000 ZZ 0 0 0 0 0 1\n\n   2: 0100007F:XYZ1 00000000:0000 0A 0 0 0 0 0 1\n'
    expect(parseProcNet(text, 'tcp', 'ipv4')).toEqual([])
    expect(parseProcNet('', 'tcp', 'ipv4')).toEqual([])
    expect(parseProcNet('no newline', 'udp', 'ipv6')).toEqual([])
  })

  it('never throws and only yields well-formed rows (property)', () => {
    const hexWord = fc.stringMatching(/^[0-9A-F]{8}$/)
    const row = fc
      .tuple(
        fc.nat(999),
        hexWord,
        fc.stringMatching(/^[0-9A-F]{4}$/),
        fc.stringMatching(/^[0-9A-F]{2}$/),
        fc.nat(70000),
        fc.nat(),
      )
      .map(
        ([sl, addr, port, st, uid, inode]) =>
          `${sl}: ${addr}:${port} 00000000:0000 ${st} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1\n`,
      )
    const text = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc
        .array(fc.oneof(row, fc.string()), { maxLength: 20 })
        .map((rows) => HEADER4 + rows.join('')),
    )
    fc.assert(
      fc.property(
        text,
        fc.constantFrom('tcp' as const, 'udp' as const),
        fc.constantFrom('ipv4' as const, 'ipv6' as const),
        (input, protocol, family) => {
          for (const socket of parseProcNet(input, protocol, family)) {
            expect(socket.localPort).toBeGreaterThanOrEqual(0)
            expect(socket.localPort).toBeLessThanOrEqual(65535)
            expect(Number.isSafeInteger(socket.inode)).toBe(true)
            expect(normalizeAddress(socket.localAddress)?.family).toBe(family)
          }
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('parseProcNet with a filter', () => {
  it('keeps exactly the rows of the unfiltered parse that the filter accepts (property)', () => {
    const hex = (digits: number) => fc.stringMatching(new RegExp(`^[0-9A-F]{${digits}}$`))
    const row = fc
      .tuple(
        fc.nat(99999),
        hex(8),
        hex(4),
        hex(8),
        hex(4),
        hex(2),
        fc.nat(70000),
        fc.nat(),
        fc.boolean(),
      )
      .map(([sl, la, lp, ra, rp, st, uid, inode, odd]) =>
        odd
          ? `${sl}:${la}:${lp}  ${ra}:${rp} ${st} 0 0 0 ${uid} 0 ${inode}\n` // off the fixed layout
          : `${String(sl).padStart(4)}: ${la}:${lp} ${ra}:${rp} ${st} 00000000:00000000 00:00000000 00000000 ${uid} 0 ${inode} 1\n`,
      )
    fc.assert(
      fc.property(
        // An inode is one socket: rows may repeat (a read that spans table changes), but two
        // different rows never share an inode, which uniqueArray by inode ensures.
        fc.uniqueArray(row, { maxLength: 30, selector: (r) => r.trim().split(/\s+/)[9] ?? r }),
        fc.array(fc.nat(29), { maxLength: 5 }),
        fc.integer({ min: 0, max: 65535 }),
        fc.boolean(),
        (unique, repeats, pivot, listenOnly) => {
          const rows = [...unique]
          for (const at of repeats) if (unique[at]) rows.push(unique[at] as string)
          const text = HEADER4 + rows.join('')
          const keep = (state: string, port: number) =>
            port >= pivot && (!listenOnly || state === 'LISTEN')
          expect(parseProcNet(text, 'tcp', 'ipv4', keep)).toEqual(
            parseProcNet(text, 'tcp', 'ipv4').filter((r) => keep(r.state, r.localPort)),
          )
        },
      ),
      { numRuns: 1000 },
    )
  })
})

describe('IPv6 text', () => {
  it.each([
    ['::', '::'],
    ['::1', '::1'],
    ['[::1]', '::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::ffff:127.0.0.1', '::ffff:127.0.0.1'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['127.0.0.1', '127.0.0.1'],
  ])('normalizes %s', (input, expected) => {
    expect(normalizeAddress(input)?.address).toBe(expected)
  })

  it.each([
    '',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7:8:9',
    '256.1.1.1',
    'localhost',
    '01.2.3.4',
    '::ffff:1.2.3',
  ])('rejects %j', (input) => {
    expect(normalizeAddress(input)).toBeNull()
  })

  it('formats any 16 bytes into text that normalizes to itself (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
        (bytes) => {
          const text = formatIPv6Bytes(bytes)
          expect(normalizeAddress(text)?.address).toBe(text)
        },
      ),
    )
  })
})

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stringifyForTerminal } from '../shared/safe-text.js'
import type { Holder, SocketEntry } from './types.js'
import { renderSocketsJson, toJsonSocket } from './wire.js'

// Free text the way other users' processes can write it: controls, bidi, quotes, backslashes.
const nasty = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom('\u001b[31mkill-me\u001b[0m', 'a\u202eb', 'q"uo\\te', '\u2028', 'émoji 🎉'),
)

const holder: fc.Arbitrary<Holder> = fc.record({
  pid: fc.integer({ min: 1, max: 4_000_000 }),
  name: nasty,
  command: nasty,
  user: nasty,
  uid: fc.nat(),
  startedAt: fc.option(fc.constant('2026-11-21T10:00:00Z')),
  startTicks: fc.option(fc.nat()),
  container: fc.option(nasty),
  // Named by the Docker Engine: the holder's JSON grows container_id and container_address.
  dockerContainer: fc.option(fc.record({ name: nasty, id: nasty, address: fc.option(nasty) }), {
    nil: undefined,
  }),
})

describe('renderSocketsJson', () => {
  it('is byte-for-byte the terminal-safe JSON of the wire shapes (property)', () => {
    fc.assert(
      fc.property(
        fc.array(holder, { maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 30 }),
        nasty,
        (holders, picks, user) => {
          // Sockets share holder objects, as the inventory's process cache makes them.
          const sockets: SocketEntry[] = picks.map((pick, i) => ({
            protocol: i % 2 ? 'udp' : 'tcp',
            family: i % 3 ? 'ipv4' : 'ipv6',
            state: i % 2 ? 'UNCONN' : 'LISTEN',
            localAddress: i % 3 ? '127.0.0.1' : '::ffff:10.0.0.1',
            localPort: pick % 65536,
            remoteAddress: i % 3 ? '0.0.0.0' : '::',
            remotePort: 0,
            inode: pick,
            uid: pick % 70000,
            user: i % 2 ? user : 'root',
            processes: holders.length ? [holders[pick % holders.length] as Holder] : [],
          }))
          expect(renderSocketsJson(sockets)).toBe(stringifyForTerminal(sockets.map(toJsonSocket)))
        },
      ),
      { numRuns: 500 },
    )
  })
})

/**
 * The addon's fd walk (readlink and fstatat, one thread and several, filtered and "every
 * socket") must find exactly the holders the TypeScript walk finds, on a live population with
 * a forked holder (two pids per socket).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listPids, scanSocketHolders } from '../src/core/process/read-process.js'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import type { Fixture } from './helpers/processes.js'
import { startSockets, stopStarted } from './helpers/processes.js'

const { addon, reason } = nativeAddon()
if (!addon) console.warn(`SKIPPED holder-scan.test.ts: the native addon is unavailable (${reason})`)

describe.runIf(addon !== null)('native holder scan vs the TypeScript walk', () => {
  let fixtures: Fixture[] = []
  beforeAll(async () => {
    fixtures = [
      await startSockets(['tcp@127.0.0.17*5', 'udp@::1*3', 'pair@127.0.0.17*2'], {
        name: 'pw-scan-a',
        fork: true,
      }),
      await startSockets(['tcp@::1*4', 'udppair@127.0.0.18'], { name: 'pw-scan-b' }),
    ]
  })
  afterAll(stopStarted)

  const inodesOf = (f: Fixture) =>
    f.sockets.flatMap((s) =>
      [s.inode, s.client_inode, s.server_inode, s.peer_inode].filter(
        (i): i is number => i !== undefined,
      ),
    )

  it('finds the same pids for every inode, by every method', async () => {
    const inodes = fixtures.flatMap(inodesOf)
    expect(inodes.length).toBeGreaterThanOrEqual(20)
    const pids = listPids()
    const expected = scanSocketHolders(new Set(inodes), { pids })
    const sorted = Uint32Array.from(inodes).sort()
    const pidArray = Uint32Array.from(pids)
    const results = [
      addon!.scanSocketFds(pidArray, sorted, '/proc', false, 1),
      addon!.scanSocketFds(pidArray, sorted, '/proc', true, 1),
      addon!.scanSocketFds(pidArray, sorted, '/proc', false, 3),
      await addon!.scanSocketFdsAsync(pidArray, sorted, '/proc', true, 2),
      await addon!.scanSocketFdsAsync(pidArray, new Uint32Array(0), '/proc', false, 2),
    ]
    for (const [index, { pairs }] of results.entries()) {
      const found = new Map<number, number[]>()
      for (let i = 0; i < pairs.length; i += 2) {
        if (i > 0) {
          // sorted by inode, then pid, no repeats
          const order = pairs[i - 2]! - pairs[i]! || pairs[i - 1]! - pairs[i + 1]!
          expect(order, `method ${index}: order`).toBeLessThan(0)
        }
        if (!inodes.includes(pairs[i]!)) continue
        found.set(pairs[i]!, [...(found.get(pairs[i]!) ?? []), pairs[i + 1]!])
      }
      for (const inode of inodes)
        expect(found.get(inode), `method ${index}, inode ${inode}`).toEqual(
          expected.holders.get(inode),
        )
    }
    const forked = fixtures[0]!
    const pair = forked.sockets.find((s) => s.kind === 'pair')!
    expect(expected.holders.get(pair.client_inode!)).toEqual(
      [forked.pid, ...forked.children].sort((a, b) => a - b),
    )
  })

  it('a pid that does not exist and an unreadable procRoot', async () => {
    const none = addon!.scanSocketFds(Uint32Array.of(2 ** 31), Uint32Array.of(1), '/proc', false, 1)
    expect(none.pairs.length).toBe(0)
    expect(() =>
      addon!.scanSocketFds(Uint32Array.of(1), Uint32Array.of(1), '/nonexistent', false, 1),
    ).toThrow(/nonexistent/)
    await expect(
      addon!.scanSocketFdsAsync(Uint32Array.of(1), Uint32Array.of(1), '/nonexistent', false, 1),
    ).rejects.toThrow(/nonexistent/)
    expect(() => addon!.dumpSockets(1, 0, 1, 5, 4)).toThrow(TypeError)
  })
})

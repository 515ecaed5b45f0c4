/**
 * The addon's `list --json` renderer (native/render_json.c) must give the very bytes of the
 * object path (decode, attach holders, sortSockets, socketsJsonChunks): on random records and
 * holder scans (property), and on a live population through the CLI and the library.
 */
import fc from 'fast-check'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { listSocketsJson } from '../src/core/sockets/list-json.js'
import { listSockets, sortSockets } from '../src/core/sockets/list-sockets.js'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import {
  decodeRecords,
  dumpListingAsync,
  prefetchListing,
} from '../src/core/sockets/netlink-backend.js'
import { stringifyForTerminal } from '../src/shared/safe-text.js'
import type { Holder, SocketEntry } from '../src/core/types.js'
import { renderSocketsJson, toJsonHolder } from '../src/core/wire.js'
import { parseJson, runCli } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { startSockets, stopStarted } from './helpers/processes.js'

const { addon, reason } = nativeAddon()
if (!addon) console.warn(`SKIPPED list-json.test.ts: the native addon is unavailable (${reason})`)

const SIZE = 48

/** Addresses that exercise every rule of the text form: zero runs, ties, v4-mapped, v4. */
const address16 = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.constantFrom(
    [...Array(16).fill(0)],
    [...Array(15).fill(0), 1],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 127, 0, 0, 1],
    [32, 1, 13, 184, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1],
    [32, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
  ),
)

const record = fc.record({
  tcp: fc.boolean(),
  ipv4: fc.boolean(),
  state: fc.integer({ min: 0, max: 13 }),
  localPort: fc.constantFrom(0, 22, 80, 8080, 65535),
  remotePort: fc.integer({ min: 0, max: 65535 }),
  uid: fc.constantFrom(0, 1000, 65534, 4_000_000_000),
  inode: fc.constantFrom(0, 1, 2, 3, 7, 4_294_967_295),
  local: address16,
  remote: address16,
})

const nasty = fc.oneof(
  fc.string(),
  fc.constantFrom('\u001b[31mx\u001b[0m', 'a\u202eb', 'q"uo\\te', 'émoji 🎉', '\ud800'),
)

type Row = typeof record extends fc.Arbitrary<infer T> ? T : never

function encode(rows: Row[]): Buffer {
  const buffer = Buffer.alloc(rows.length * SIZE)
  rows.forEach((r, i) => {
    const at = i * SIZE
    buffer[at] = r.tcp ? 6 : 17
    buffer[at + 1] = r.ipv4 ? 2 : 10
    buffer[at + 2] = r.state
    buffer.writeUInt16LE(r.localPort, at + 4)
    buffer.writeUInt16LE(r.remotePort, at + 6)
    buffer.writeUInt32LE(r.uid, at + 8)
    buffer.writeUInt32LE(r.inode, at + 12)
    buffer.set(r.local, at + 16)
    buffer.set(r.remote, at + 32)
  })
  return buffer
}

describe.runIf(addon !== null)("the addon's list --json renderer", () => {
  it('gives the bytes of the object path (property)', () => {
    fc.assert(
      fc.property(
        fc.array(record, { maxLength: 40 }),
        fc.uniqueArray(
          fc.tuple(fc.constantFrom(1, 2, 3, 7, 4_294_967_295), fc.integer({ min: 1, max: 9 })),
          { maxLength: 20, selector: ([inode, pid]) => `${inode}:${pid}` },
        ),
        fc.array(nasty, { minLength: 9, maxLength: 9 }),
        fc.array(fc.boolean(), { minLength: 9, maxLength: 9 }),
        nasty,
        (rows, pairList, names, exited, userName) => {
          const records = encode(rows)
          pairList.sort(([a, p], [b, q]) => a - b || p - q)
          const pairs = Uint32Array.from(pairList.flat())
          // Pids 1..9; an "exited" pid has no details, as ProcessReader gives null for it.
          const holders = new Map<number, Holder>()
          for (let pid = 1; pid <= 9; pid++) {
            if (exited[pid - 1]) continue
            const name = names[pid - 1] as string
            holders.set(pid, {
              pid,
              name,
              command: `${name} --flag`,
              user: 'root',
              uid: 0,
              startedAt: pid % 2 ? '2026-11-22T04:00:00Z' : null,
              startTicks: pid,
              container: pid === 3 ? name : null,
            })
          }
          const userOf = (uid: number) => (uid === 1000 ? userName : uid === 0 ? 'root' : `${uid}`)

          // The object path, as list-sockets.ts attaches holders and sorts.
          const sockets = decodeRecords(records, SIZE).map((raw) => {
            const processes = pairList
              .filter(([inode]) => raw.inode !== 0 && inode === raw.inode)
              .flatMap(([, pid]) => holders.get(pid) ?? [])
            return { ...raw, user: userOf(raw.uid), processes } satisfies SocketEntry
          })
          const expected = renderSocketsJson(sortSockets(sockets))
          const hidden = sockets.filter(
            (s) => s.processes.length === 0 && s.inode !== 0 && s.state !== 'TIME-WAIT',
          ).length

          const pids = Uint32Array.from([...holders.keys()].sort((a, b) => a - b))
          const uids = Uint32Array.from(new Set(rows.map((r) => r.uid))).sort()
          const rendered = addon!.renderSocketsJson(
            records,
            pairs,
            pids,
            [...pids].map((pid) => stringifyForTerminal(toJsonHolder(holders.get(pid)!))),
            uids,
            [...uids].map((uid) => stringifyForTerminal(userOf(uid))),
          )
          expect(rendered.json.toString('utf8')).toBe(expected)
          expect(rendered.hidden).toBe(hidden)
        },
      ),
      { numRuns: 400 },
    )
  })

  it('refuses wrong arguments with a TypeError, and texts that do not match their keys', () => {
    const none = new Uint32Array(0)
    expect(() =>
      addon!.renderSocketsJson('x' as unknown as Buffer, none, none, [], none, []),
    ).toThrow(TypeError)
    expect(() =>
      addon!.renderSocketsJson(Buffer.alloc(0), none, Uint32Array.of(1), [], none, []),
    ).toThrow(/one per pid and uid/)
    expect(
      addon!.renderSocketsJson(Buffer.alloc(0), none, none, [], none, []).json.toString(),
    ).toBe('[]')
  })

  describe('on live sockets', () => {
    let fixtures: Fixture[] = []
    beforeAll(async () => {
      fixtures = [
        await startSockets(['tcp@127.0.0.19*3', 'udp@::1*2', 'tcp@::ffff:127.0.0.19'], {
          name: 'pw-listjson-a',
          fork: true,
        }),
        await startSockets(['tcp@::1*2', 'udp@127.0.0.19'], { name: 'pw-listjson-b' }),
      ]
    })
    afterAll(stopStarted)

    interface Entry {
      inode: number
      processes: unknown[]
    }
    const ours = (entries: Entry[]) => {
      const inodes = new Set(fixtures.flatMap((f) => f.sockets.map((s) => s.inode)))
      return entries.filter((entry) => inodes.has(entry.inode))
    }

    it('the library: the same entries, in the same order, as listSockets', async () => {
      const native = await listSocketsJson({})
      expect(native).not.toBeNull()
      const fromAddon = ours(JSON.parse(native!.json.toString('utf8')) as Entry[])
      const objects = ours(
        JSON.parse(renderSocketsJson((await listSockets({})).sockets)) as Entry[],
      )
      expect(fromAddon.length).toBe(9)
      expect(fromAddon).toEqual(objects)
      const forked = fromAddon.find((entry) => entry.processes.length > 1)
      expect(forked, 'the forked holder shares its sockets').toBeDefined()
    })

    it('the CLI: `list --json` equals `list --json --backend proc` on these sockets', async () => {
      const [fast, objects] = await Promise.all([
        runCli(['list', '--json']),
        runCli(['list', '--json', '--backend', 'proc']),
      ])
      expect(fast.code, fast.stderr).toBe(0)
      expect(ours(parseJson<Entry[]>(fast))).toEqual(ours(parseJson<Entry[]>(objects)))
    })

    it('an early dump (prefetchListing) is taken once, by a listing of the same kind', async () => {
      const portsOf = (records: Buffer) =>
        decodeRecords(records, SIZE).map((s) => `${s.protocol}:${s.localPort}`)
      await prefetchListing({ protocols: ['tcp'] })
      const server = createServer()
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      const opened = `tcp:${(server.address() as AddressInfo).port}`
      try {
        // Made before the listener: it is not there; the next dump is fresh and has it.
        expect(portsOf(await dumpListingAsync({ protocols: ['tcp'] }))).not.toContain(opened)
        expect(portsOf(await dumpListingAsync({ protocols: ['tcp'] }))).toContain(opened)
        // Another kind of listing does not take it.
        await prefetchListing({ protocols: ['udp'] })
        expect(portsOf(await dumpListingAsync({ protocols: ['tcp'] }))).toContain(opened)
      } finally {
        await new Promise((resolve) => server.close(resolve))
      }
    })

    it('filters and other backends keep the object path (null here)', async () => {
      expect(await listSocketsJson({ pid: process.pid })).toBeNull()
      expect(await listSocketsJson({ backend: 'proc' })).toBeNull()
      expect(await listSocketsJson({ ports: [] })).toBeNull()
      expect(await listSocketsJson({ procRoot: '/tmp' })).toBeNull()
    })
  })
})

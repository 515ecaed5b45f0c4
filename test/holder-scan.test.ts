/**
 * The addon's holder scans (the BPF task_file iterator; the fd walk by readlink and fstatat, one
 * thread and several; filtered and "every socket") must find exactly the holders the TypeScript
 * walk finds, on a live population with a forked holder (two pids per socket).
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { prefetchHolderScan, startHolderScan } from '../src/core/process/holder-scan.js'
import { listPids, scanSocketHolders } from '../src/core/process/read-process.js'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { NOBODY, asUid, runCli, stackTraceLines, whyNobodyCannotRun } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { ROOT, isRoot, startSockets, stopStarted } from './helpers/processes.js'

const { addon, reason } = nativeAddon()
if (!addon) console.warn(`SKIPPED holder-scan.test.ts: the native addon is unavailable (${reason})`)
// The BPF iterator needs root (CAP_BPF + CAP_PERFMON) and a kernel with BTF; else `auto` walks.
const bpfRefusal = addon
  ? addon.scanSocketFds(Uint32Array.of(process.pid), new Uint32Array(0), '/proc', 'auto', 1)
      .bpfRefusal
  : 'no addon'
if (addon && bpfRefusal)
  console.warn(`SKIPPING the BPF iterator's holder-scan tests here: ${bpfRefusal}`)

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
      addon!.scanSocketFds(pidArray, sorted, '/proc', 'readlink', 1),
      addon!.scanSocketFds(pidArray, sorted, '/proc', 'stat', 1),
      addon!.scanSocketFds(pidArray, sorted, '/proc', 'readlink', 3),
      await addon!.scanSocketFdsAsync(pidArray, sorted, '/proc', 'stat', 2),
      await addon!.scanSocketFdsAsync(pidArray, new Uint32Array(0), '/proc', 'readlink', 2),
      addon!.scanSocketFds(pidArray, sorted, '/proc', 'auto', 2),
      // null: every process, listed by the addon
      await addon!.scanSocketFdsAsync(null, sorted, '/proc', 'readlink', 2),
    ]
    if (!bpfRefusal) {
      results.push(
        addon!.scanSocketFds(pidArray, sorted, '/proc', 'bpf', 1),
        await addon!.scanSocketFdsAsync(pidArray, new Uint32Array(0), '/proc', 'bpf', 1),
        addon!.scanSocketFds(null, sorted, '/proc', 'bpf', 1),
      )
    }
    expect(results.map((r) => r.method)).toEqual([
      'readlink',
      'stat',
      'readlink',
      'stat',
      'readlink',
      bpfRefusal ? 'readlink' : 'bpf',
      'readlink',
      ...(bpfRefusal ? [] : ['bpf', 'bpf', 'bpf']),
    ])
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
    for (const method of ['auto', 'readlink', 'bpf'] as const) {
      if (method === 'bpf' && bpfRefusal) continue
      const none = addon!.scanSocketFds(
        Uint32Array.of(2 ** 31),
        new Uint32Array(0),
        '/proc',
        method,
        1,
      )
      expect(none.pairs.length, method).toBe(0)
    }
    expect(() =>
      addon!.scanSocketFds(Uint32Array.of(1), Uint32Array.of(1), '/nonexistent', 'readlink', 1),
    ).toThrow(/nonexistent/)
    await expect(
      addon!.scanSocketFdsAsync(Uint32Array.of(1), Uint32Array.of(1), '/nonexistent', 'auto', 1),
    ).rejects.toThrow(/nonexistent/)
    // A /proc of another root (a container's, a test's) is walked: the iterator sees this kernel's.
    expect(() =>
      addon!.scanSocketFds(Uint32Array.of(1), Uint32Array.of(1), '/nonexistent', 'bpf', 1),
    ).toThrow(/BPF iterator: procRoot is not \/proc/)
    expect(() =>
      addon!.scanSocketFds(Uint32Array.of(1), Uint32Array.of(1), '/proc', 'fast' as 'auto', 1),
    ).toThrow(/method must be auto, bpf, readlink or stat/)
    expect(() => addon!.dumpSockets(1, 0, 1, 5, 4)).toThrow(TypeError)
  })

  it.runIf(!bpfRefusal)(
    "the BPF iterator keeps to the pids it is given, and sees a holder's every fork",
    () => {
      const forked = fixtures[0]!
      const { pairs } = addon!.scanSocketFds(
        Uint32Array.of(forked.children[0]!),
        new Uint32Array(0),
        '/proc',
        'bpf',
        1,
      )
      const pids = new Set<number>()
      for (let i = 1; i < pairs.length; i += 2) pids.add(pairs[i]!)
      expect([...pids]).toEqual([forked.children[0]])
      const found = new Set<number>()
      for (let i = 0; i < pairs.length; i += 2) found.add(pairs[i]!)
      for (const inode of inodesOf(forked)) expect(found.has(inode), `inode ${inode}`).toBe(true)
    },
  )

  const nobodyCannot = whyNobodyCannotRun()
  it.runIf(nobodyCannot === null)(
    `as nobody, "auto" says why BPF is refused and walks /proc instead${nobodyCannot ? ` [SKIPPED: ${nobodyCannot}]` : ''}`,
    () => {
      const script = `
        const { nativeAddon } = await import(${JSON.stringify(join(ROOT, 'dist/core/sockets/native-addon.js'))})
        const { addon } = nativeAddon()
        const r = addon.scanSocketFds(Uint32Array.of(process.pid), new Uint32Array(0), '/proc', 'auto', 1)
        console.log(JSON.stringify({ method: r.method, refusal: r.bpfRefusal }))`
      const run = spawnSync(
        ...asUid(NOBODY, process.execPath, ['--input-type=module', '-e', script]),
        { encoding: 'utf8' },
      )
      expect(run.status, run.stderr).toBe(0)
      const answer = JSON.parse(run.stdout) as { method: string; refusal: string }
      expect(answer.method).toBe('readlink')
      expect(answer.refusal).toMatch(/BPF program refused: Operation not permitted/)
    },
  )

  it.runIf(nobodyCannot === null)(
    `a forced method the kernel refuses is a sentence and exit 3, not an internal error${nobodyCannot ? ` [SKIPPED: ${nobodyCannot}]` : ''}`,
    async () => {
      const port = fixtures[1]!.sockets[0]!.port
      for (const args of [
        ['who', String(port)],
        ['list', '--json'],
      ]) {
        const result = await runCli(args, { uid: NOBODY, env: { PORTWARDEN_FD_SCAN: 'bpf' } })
        expect(result.code, result.stdout + result.stderr).toBe(3)
        expect(result.stdout + result.stderr).toMatch(
          /Cannot tell which processes hold the sockets: the BPF iterator: BPF program refused/,
        )
        expect(result.stdout + result.stderr).not.toMatch(/internal_error|Internal error/)
        expect(stackTraceLines(result.stderr)).toEqual([])
      }
    },
  )

  const noPidNamespace = !isRoot()
    ? 'needs root for unshare -p'
    : spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true']).status !== 0
      ? 'unshare -p -f --mount-proc is not permitted here'
      : null
  it.runIf(!bpfRefusal && noPidNamespace === null)(
    `in a pid namespace with its own /proc, "auto" sees the pids differ and walks that /proc${noPidNamespace ? ` [SKIPPED: ${noPidNamespace}]` : ''}`,
    () => {
      const script = `
        const { nativeAddon } = await import(${JSON.stringify(join(ROOT, 'dist/core/sockets/native-addon.js'))})
        const { createServer } = await import('node:net')
        const server = createServer().listen(0, '127.0.0.1')
        await new Promise((resolve) => server.on('listening', resolve))
        const { addon } = nativeAddon()
        const r = addon.scanSocketFds(Uint32Array.of(process.pid), new Uint32Array(0), '/proc', 'auto', 1)
        console.log(JSON.stringify({ pid: process.pid, method: r.method, refusal: r.bpfRefusal, pids: [...new Set(r.pairs.filter((_, i) => i % 2 === 1))] }))
        server.close()`
      const run = spawnSync(
        'unshare',
        ['-p', '-f', '--mount-proc', process.execPath, '--input-type=module', '-e', script],
        { encoding: 'utf8' },
      )
      expect(run.status, run.stderr).toBe(0)
      const answer = JSON.parse(run.stdout) as {
        pid: number
        method: string
        refusal: string
        pids: number[]
      }
      expect(answer.pid).toBe(1)
      expect(answer).toMatchObject({ method: 'readlink', pids: [1] })
      expect(answer.refusal).toMatch(/pids are not this \/proc's/)
    },
  )

  it.runIf(!bpfRefusal)(
    'an early scan (prefetchHolderScan) is taken once; a socket opened after it is found again',
    async () => {
      await prefetchHolderScan('/proc', false) // done before the socket below exists
      const server = createServer()
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
      try {
        const inode = ownSocketInode((server.address() as AddressInfo).port)
        // The early scan started before this socket existed; the port question asks again.
        const lookup = await startHolderScan([], '/proc').scan(Uint32Array.of(inode))
        expect(lookup.holdersOf(inode)).toEqual([process.pid])
        // Taken once: the next scanner makes its own (and a full listing with details too).
        prefetchHolderScan('/proc', false)
        const withDetails = await startHolderScan(listPids(), '/proc', true).scan(
          Uint32Array.of(inode),
        )
        expect(withDetails.details?.get(process.pid)?.stat).toMatch(/^\d+ \(/)
        const taken = await startHolderScan(listPids(), '/proc').scan(Uint32Array.of(inode))
        expect(taken.holdersOf(inode)).toEqual([process.pid])
      } finally {
        await new Promise((resolve) => server.close(resolve))
      }
    },
  )
})

/** The inode of this process's listening socket on `port`, from /proc/net/tcp. */
function ownSocketInode(port: number): number {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields[1]?.endsWith(`:${hex}`) && fields[3] === '0A') return Number(fields[9])
  }
  throw new Error(`no listener on port ${port} in /proc/net/tcp`)
}

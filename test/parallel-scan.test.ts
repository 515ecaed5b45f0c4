/**
 * The two-thread holder scan must find exactly what the one-thread scan finds: through the
 * compiled worker (from dist/, as the CLI runs it, and from the sources, which start the same
 * compiled worker file) and through its fallback (a worker file that does not exist).
 */
import { readdirSync, readlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import * as compiled from '../dist/core/process/parallel-scan.js'
import * as sources from '../src/core/process/parallel-scan.js'
import { listPids, scanSocketHolders } from '../src/core/process/read-process.js'

/** Inodes of every socket this process holds, read straight from its fd table. */
function ownSocketInodes(): Set<number> {
  const inodes = new Set<number>()
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const match = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`))
      if (match) inodes.add(Number(match[1]))
    } catch {
      // closed meanwhile
    }
  }
  return inodes
}

const missingWorker: typeof sources.startParallelScan = (pids, procRoot) =>
  sources.startParallelScan(pids, procRoot, '/nonexistent/fd-scan-worker.js')

describe.each([
  ['compiled worker (dist)', compiled.startParallelScan, true],
  ['sources, the compiled worker', sources.startParallelScan, true],
  ['fallback (no worker file)', missingWorker, false],
])('startParallelScan: %s', (_name, startParallelScan, threaded) => {
  it('finds the same holders as the one-thread scan', async () => {
    const servers = [createServer(), createServer()]
    await Promise.all(
      servers.map((s) => new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))),
    )
    try {
      const wanted = ownSocketInodes()
      expect(wanted.size).toBeGreaterThanOrEqual(2)
      const pids = listPids()
      const parallel = startParallelScan(pids, '/proc')
      const result = await parallel.scan(wanted)
      expect(parallel.usedWorker()).toBe(threaded)
      parallel.dispose()
      const single = scanSocketHolders(wanted, { pids })
      const sorted = (m: Map<number, number[]>) => [...m].sort(([a], [b]) => a - b)
      expect(sorted(result.holders)).toEqual(sorted(single.holders))
      for (const inode of wanted) expect(result.holders.get(inode)).toContain(process.pid)
    } finally {
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
    }
  })
})

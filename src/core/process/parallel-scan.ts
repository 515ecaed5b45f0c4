import { Worker } from 'node:worker_threads'
import { PACKAGE_ROOT } from '../package-root.js'
import type { HolderScan } from './read-process.js'
import { scanSocketHolders } from './read-process.js'

/** The compiled worker (dist/): under the tests and in the CLI bundle this module is elsewhere. */
const WORKER_FILE = `${PACKAGE_ROOT}dist/core/process/fd-scan-worker.js`

/**
 * The holder scan split across two threads. Start it before reading the socket tables (the
 * worker boots meanwhile), then call `scan` with the wanted inodes: the worker walks half the
 * pids while this thread walks the other half. If the worker cannot start (no compiled worker
 * file before `npm run build`, or any error), this thread walks its half too.
 */
export function startParallelScan(
  pids: readonly number[],
  procRoot: string,
  workerFile = WORKER_FILE,
): {
  scan(wanted: ReadonlySet<number>): Promise<HolderScan>
  dispose(): void
  /** Whether the last scan really used the second thread. */
  usedWorker(): boolean
} {
  let worker: Worker | null = null
  let failed: unknown = null
  let used = false
  try {
    worker = new Worker(workerFile)
    worker.unref()
    worker.once('error', (error) => (failed = error))
  } catch (error) {
    failed = error
  }
  // Interleaved halves: big and small fd tables are spread over both threads.
  const mine = pids.filter((_, i) => i % 2 === 0)
  const theirs = pids.filter((_, i) => i % 2 === 1)
  return {
    dispose() {
      void worker?.terminate()
    },
    usedWorker: () => used,
    async scan(wanted) {
      if (!worker || failed) return scanSocketHolders(wanted, { procRoot, pids })
      const active = worker
      const answer = new Promise<{ pairs: Float64Array; unreadablePids: number[] } | null>(
        (resolve) => {
          active.once('message', resolve)
          active.once('error', () => resolve(null))
          active.once('exit', () => resolve(null))
        },
      )
      active.postMessage({ procRoot, pids: theirs, wanted: Float64Array.from(wanted) })
      const local = scanSocketHolders(wanted, { procRoot, pids: mine })
      const remote = await answer
      void active.terminate()
      if (!remote) {
        const rest = scanSocketHolders(wanted, { procRoot, pids: theirs })
        return merge(local, rest.holders, rest.unreadablePids)
      }
      used = true
      const holders = new Map<number, number[]>()
      for (let i = 0; i < remote.pairs.length; i += 2) {
        const inode = remote.pairs[i] as number
        const list = holders.get(inode)
        if (list) list.push(remote.pairs[i + 1] as number)
        else holders.set(inode, [remote.pairs[i + 1] as number])
      }
      return merge(local, holders, remote.unreadablePids)
    },
  }
}

function merge(
  local: HolderScan,
  holders: Map<number, number[]>,
  unreadablePids: number[],
): HolderScan {
  for (const [inode, pids] of holders) {
    const list = local.holders.get(inode)
    if (!list) local.holders.set(inode, pids)
    else {
      list.push(...pids)
      list.sort((a, b) => a - b)
    }
  }
  local.unreadablePids.push(...unreadablePids)
  return local
}

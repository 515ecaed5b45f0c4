import { availableParallelism } from 'node:os'
import type { NativeAddon } from '../sockets/native-addon.js'
import { nativeAddon } from '../sockets/native-addon.js'
import { PARALLEL_SCAN_MIN_PIDS, startParallelScan } from './parallel-scan.js'
import type { HolderScan } from './read-process.js'
import { scanSocketHolders } from './read-process.js'

/** Below this many processes a second thread costs more than it saves, even in C. */
const NATIVE_THREADS_MIN_PIDS = 64

export interface HolderScanner {
  scan(wanted: ReadonlySet<number>): Promise<HolderScan>
  dispose(): void
  /** How the last scan ran: `native` (the addon's threads), `worker` or `sync`. */
  method(): 'native' | 'worker' | 'sync'
}

/**
 * The fastest holder scan this process has (bench/RESULTS.md has the figures): the addon's
 * fd walk on every core when it loads, else a worker thread for many processes, else one
 * synchronous walk. Start it before reading the socket tables: a worker boots meanwhile.
 */
export function startHolderScan(pids: readonly number[], procRoot: string): HolderScanner {
  const { addon } = nativeAddon()
  if (addon) {
    return {
      scan: (wanted) => Promise.resolve(scanWithAddon(addon, wanted, pids, procRoot)),
      dispose() {},
      method: () => 'native',
    }
  }
  if (pids.length >= PARALLEL_SCAN_MIN_PIDS) {
    const parallel = startParallelScan(pids, procRoot)
    return {
      scan: (wanted) => parallel.scan(wanted),
      dispose: () => parallel.dispose(),
      method: () => (parallel.usedWorker() ? 'worker' : 'sync'),
    }
  }
  return {
    scan: (wanted) => Promise.resolve(scanSocketHolders(wanted, { procRoot, pids })),
    dispose() {},
    method: () => 'sync',
  }
}

/** The synchronous form, for callers outside an async path (the watcher's warm polls). */
export function scanHoldersNow(
  wanted: ReadonlySet<number>,
  pids: readonly number[],
  procRoot: string,
): HolderScan {
  const { addon } = nativeAddon()
  return addon
    ? scanWithAddon(addon, wanted, pids, procRoot)
    : scanSocketHolders(wanted, { procRoot, pids })
}

/**
 * `PORTWARDEN_FD_SCAN=stat` uses fstatat's st_ino instead of readlink (for bench/: readlink
 * measured faster, see bench/RESULTS.md).
 */
function scanWithAddon(
  addon: NativeAddon,
  wanted: ReadonlySet<number>,
  pids: readonly number[],
  procRoot: string,
): HolderScan {
  const holders = new Map<number, number[]>()
  if (wanted.size === 0) return { holders, unreadablePids: [] }
  const inodes = Uint32Array.from(wanted).sort()
  const threads = pids.length >= NATIVE_THREADS_MIN_PIDS ? Math.min(availableParallelism(), 4) : 1
  const useStat = process.env.PORTWARDEN_FD_SCAN === 'stat'
  const { pairs, unreadable } = addon.scanSocketFds(
    Uint32Array.from(pids),
    inodes,
    procRoot,
    useStat,
    threads,
  )
  let unsorted = false
  for (let i = 0; i < pairs.length; i += 2) {
    const inode = pairs[i] as number
    const pid = pairs[i + 1] as number
    const list = holders.get(inode)
    if (!list) holders.set(inode, [pid])
    else if (!list.includes(pid)) {
      unsorted ||= pid < (list[list.length - 1] as number)
      list.push(pid)
    }
  }
  if (unsorted) for (const list of holders.values()) list.sort((a, b) => a - b)
  return { holders, unreadablePids: Array.from(unreadable) }
}

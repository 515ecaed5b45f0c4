import { availableParallelism } from 'node:os'
import { PortwardenError } from '../errors.js'
import type { FdScanMethod, FdScanResult, NativeAddon } from '../sockets/native-addon.js'
import { nativeAddon } from '../sockets/native-addon.js'
import type { HolderScan, ProcessDetails } from './read-process.js'
import { listPids, parseProcessDetails, scanSocketHolders } from './read-process.js'

/** Below this many processes a worker's start-up (~10 ms) costs more than half the walk saves. */
const PARALLEL_SCAN_MIN_PIDS = 400
/** Below this many processes a second thread costs more than it saves, even in C. */
const NATIVE_THREADS_MIN_PIDS = 64
const NO_PIDS: readonly number[] = Object.freeze([])

/** Which pids hold each socket inode, however the scan was made. */
export interface HolderLookup {
  /** The pids holding this inode, ascending; empty when none is visible. */
  holdersOf(inode: number): readonly number[]
  /** Pids whose fd table we were not allowed to read. */
  unreadablePids: readonly number[]
  /**
   * Every task's fd table was seen (every process was asked and none refused): only then does
   * a socket no task holds belong to the kernel.
   */
  complete: boolean
  /** Holders' /proc details, when the scan was asked to read them too (the addon only). */
  details?: ReadonlyMap<number, ProcessDetails>
  /** The addon's answer as it came: (inode, pid) pairs sorted by inode then pid. */
  pairs?: Uint32Array
}

export interface HolderScanner {
  /** `inodes`: the wanted socket inodes, ascending (repeats allowed). */
  scan(inodes: Uint32Array): Promise<HolderLookup>
  dispose(): void
}

/**
 * The fastest holder scan this process has (bench/RESULTS.md has the figures): the addon's (the
 * BPF iterator, else its fd walk on every core) when it loads, else a worker thread for many
 * processes, else one synchronous walk. Start it before reading the socket tables: it runs
 * meanwhile. `readDetails` (for full listings, where most holders are printed): the addon also
 * reads every holder's /proc details on its thread, while this one decodes the tables.
 */
export function startHolderScan(
  pids: readonly number[] | null,
  procRoot: string,
  readDetails = false,
): HolderScanner {
  const addon = addonFor(procRoot)
  const early = takePrefetched(procRoot, readDetails)
  if (addon && early) {
    return {
      async scan(inodes) {
        let lookup: HolderLookup
        try {
          lookup = pairLookup(await early, true)
        } catch {
          return scanWithAddon(addon, inodes, null, procRoot)
        }
        // A port question whose socket has no holder, from a scan that saw every process: the
        // holder may have started after the early scan. Ask again, for these few sockets only
        // (not for a full listing, nor when some fd tables were unreadable anyway).
        if (
          !lookup.complete ||
          inodes.length > RESCAN_MAX_INODES ||
          inodes.every((i) => lookup.holdersOf(i).length)
        )
          return lookup
        return scanWithAddon(addon, inodes, null, procRoot)
      },
      dispose() {},
    }
  }
  if (addon) {
    // Every socket fd, walked on pool threads from now on, while this thread reads the socket
    // tables: the lookup by inode later ignores what was not asked for.
    const walk = addon.scanSocketFdsAsync(
      pids && Uint32Array.from(pids),
      EVERY_SOCKET,
      procRoot,
      scanMethod(),
      threadsFor(pids),
      readDetails,
    )
    walk.catch(() => {}) // awaited in scan(); never an unhandled rejection if scan() is not called
    return {
      scan: async () => pairLookup(await walk.catch(scanFailed), pids === null),
      dispose() {},
    }
  }
  const every = pids ?? listPids(procRoot)
  if (every.length >= PARALLEL_SCAN_MIN_PIDS) {
    // Loaded only here: worker_threads costs start-up time that the addon path never needs.
    const parallel = import('./parallel-scan.js').then((m) => m.startParallelScan(every, procRoot))
    return {
      scan: async (inodes) =>
        mapLookup(await (await parallel).scan(new Set(inodes)), pids === null),
      dispose: () => void parallel.then((scan) => scan.dispose()),
    }
  }
  return {
    scan: (inodes) =>
      Promise.resolve(
        mapLookup(scanSocketHolders(new Set(inodes), { procRoot, pids: every }), pids === null),
      ),
    dispose() {},
  }
}

/** The longest procRoot the addon takes (its buffer is 256 bytes, NUL included). */
const MAX_ADDON_PROC_ROOT_BYTES = 254

/** The addon, where it can walk `procRoot`; else null, and the TypeScript walk does it. */
function addonFor(procRoot: string): NativeAddon | null {
  const { addon } = nativeAddon()
  return addon && Buffer.byteLength(procRoot) <= MAX_ADDON_PROC_ROOT_BYTES ? addon : null
}

/** A port question asks about a few sockets; a listing about thousands. */
const RESCAN_MAX_INODES = 64

let prefetched: { procRoot: string; readDetails: boolean; result: Promise<FdScanResult> } | null =
  null

/**
 * Starts the addon's holder scan of every process now, for the next `startHolderScan` with the
 * same `procRoot` and `readDetails` to take: the CLI calls it first thing, so the kernel work
 * runs on the addon's threads while Node compiles the rest of the CLI (~15 ms of a `who`).
 * Without the addon it does nothing. Resolves when the early scan is done (never rejects).
 */
export function prefetchHolderScan(procRoot: string, readDetails: boolean): Promise<void> {
  const addon = addonFor(procRoot)
  if (!addon) return Promise.resolve()
  const result = addon.scanSocketFdsAsync(
    null, // every process, listed by the addon on its thread
    EVERY_SOCKET,
    procRoot,
    scanMethod(),
    threadsFor(null),
    readDetails,
  )
  prefetched = { procRoot, readDetails, result }
  // A failed early scan is retried by the command's own.
  return result.then(
    () => {},
    () => {},
  )
}

function takePrefetched(procRoot: string, readDetails: boolean): Promise<FdScanResult> | null {
  const early = prefetched
  prefetched = null
  if (!early || early.procRoot !== procRoot || early.readDetails !== readDetails) return null
  return early.result
}

/** The synchronous form, for callers outside an async path (the watcher's polls). */
export function scanHoldersNow(
  inodes: Uint32Array,
  pids: readonly number[],
  procRoot: string,
): HolderLookup {
  const addon = addonFor(procRoot)
  return addon
    ? scanWithAddon(addon, inodes, pids, procRoot)
    : mapLookup(scanSocketHolders(new Set(inodes), { procRoot, pids }), false)
}

/**
 * `scanHoldersNow` off the event loop: the addon walks the fd tables on its threads (and, with
 * `readDetails`, reads the holders' /proc details there too, for a ProcessReader to `prime`).
 * `pids` null: every process, listed by the addon. Without the addon, the synchronous walk.
 */
export async function scanHoldersAsync(
  inodes: Uint32Array,
  pids: readonly number[] | null,
  procRoot: string,
  readDetails: boolean,
): Promise<HolderLookup> {
  const addon = addonFor(procRoot)
  if (!addon) return scanHoldersNow(inodes, pids ?? listPids(procRoot), procRoot)
  if (inodes.length === 0) return noHolders(pids)
  const list = pids && Uint32Array.from(pids)
  const scan = addon.scanSocketFdsAsync(
    list,
    inodes,
    procRoot,
    scanMethod(),
    threadsFor(pids),
    readDetails,
  )
  return pairLookup(await scan.catch(scanFailed), pids === null)
}

/** The lookup of a scan asked about no socket. */
function noHolders(pids: readonly number[] | null): HolderLookup {
  return { holdersOf: () => NO_PIDS, unreadablePids: [], complete: pids === null }
}

/** `everyPid`: the scan was asked about every process, not a chosen few. */
function mapLookup(scan: HolderScan, everyPid: boolean): HolderLookup {
  return {
    holdersOf: (inode) => scan.holders.get(inode) ?? NO_PIDS,
    unreadablePids: scan.unreadablePids,
    complete: everyPid && scan.unreadablePids.length === 0,
  }
}

const EVERY_SOCKET = new Uint32Array(0)

const FD_SCAN_METHODS: readonly string[] = ['auto', 'bpf', 'readlink', 'stat']

/** `PORTWARDEN_FD_SCAN` picks the addon's method (bench/ compares them); `auto` by default. */
function scanMethod(): FdScanMethod {
  const asked = process.env.PORTWARDEN_FD_SCAN ?? 'auto'
  return FD_SCAN_METHODS.includes(asked) ? (asked as FdScanMethod) : 'auto'
}

/** Threads for the addon's walk; `null` (every process, not counted yet) as for many. */
function threadsFor(pids: readonly number[] | null): number {
  return pids === null || pids.length >= NATIVE_THREADS_MIN_PIDS
    ? Math.min(availableParallelism(), 4)
    : 1
}

/** The addon's scan, for these inodes only. */
function scanWithAddon(
  addon: NativeAddon,
  inodes: Uint32Array,
  pids: readonly number[] | null,
  procRoot: string,
): HolderLookup {
  if (inodes.length === 0) return noHolders(pids)
  let result: FdScanResult
  try {
    const list = pids && Uint32Array.from(pids)
    result = addon.scanSocketFds(list, inodes, procRoot, scanMethod(), threadsFor(pids))
  } catch (error) {
    return scanFailed(error)
  }
  return pairLookup(result, pids === null)
}

/** The addon refused (a forced PORTWARDEN_FD_SCAN method, an unreadable procRoot): a sentence. */
function scanFailed(error: unknown): never {
  const text = error instanceof Error ? error.message : String(error)
  // The addon's messages start with its entry point; a bare signature says only "bad request".
  const reason = /^\w+\(/.test(text)
    ? 'the native addon refused the request'
    : text.replace(/^scanSocketFds\w*:? /, '')
  throw new PortwardenError(
    'backend_unavailable',
    `Cannot tell which processes hold the sockets: ${reason}.`,
    { hint: 'Unset PORTWARDEN_FD_SCAN (or set it to auto) to let portwarden pick a method.' },
  )
}

/** The addon's answer stays one typed array: no Map and no array per socket at 100k sockets. */
function pairLookup({ pairs, unreadable, details }: FdScanResult, everyPid: boolean): HolderLookup {
  const count = pairs.length / 2
  return {
    unreadablePids: Array.from(unreadable),
    complete: everyPid && unreadable.length === 0,
    pairs,
    ...(details.length > 0 ? { details: parseProcessDetails(details) } : {}),
    holdersOf(inode) {
      // First pair with this inode (binary search), then every pair after it with the same.
      let low = 0
      let high = count
      while (low < high) {
        const mid = (low + high) >>> 1
        if ((pairs[mid * 2] as number) < inode) low = mid + 1
        else high = mid
      }
      if (low === count || pairs[low * 2] !== inode) return NO_PIDS
      const found: number[] = []
      for (let i = low; i < count && pairs[i * 2] === inode; i++)
        found.push(pairs[i * 2 + 1] as number)
      return found
    },
  }
}

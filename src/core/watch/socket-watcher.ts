import type { PortSpec } from '../port-spec.js'
import { nameContainerHolders } from '../containers/container-holders.js'
import { scanHoldersAsync } from '../process/holder-scan.js'
import { ProcessReader } from '../process/read-process.js'
import { chooseBackend, listSockets, withoutHolders } from '../sockets/list-sockets.js'
import { decodeRecords, dumpListingAsync } from '../sockets/netlink-backend.js'
import type { BackendName } from '../sockets/query.js'
import type { Family, Holder, Protocol, SocketEntry, Warning } from '../types.js'
import type { SocketInventory } from '../sockets/list-sockets.js'

export interface WatchOptions {
  /** Only sockets on these ports (default: every port). */
  ports?: readonly PortSpec[]
  protocols?: readonly Protocol[]
  families?: readonly Family[]
  /** Time between two looks at the socket tables, in ms. Default 1000. */
  intervalMs?: number
  backend?: BackendName | 'auto'
  procRoot?: string
  /**
   * Every this many ms the holders of every socket are looked up again (a holder may exit or
   * fork while its socket lives on); in between, only new sockets are. Default 30000.
   */
  fullRescanMs?: number
}

/** A listening TCP socket or bound UDP socket that appeared (`bind`) or went away (`unbind`). */
export interface SocketEvent {
  event: 'bind' | 'unbind'
  /** When the poll that saw the change ran (ISO 8601 with milliseconds). */
  time: string
  /** For `unbind`: the socket as it was last seen, holders included. */
  socket: SocketEntry
}

export type SocketListener = (event: SocketEvent) => void

export const DEFAULT_WATCH_INTERVAL_MS = 1000
export const DEFAULT_FULL_RESCAN_MS = 30_000

/** Identity of a socket across polls: a socket that is closed and opened again gets a new inode. */
export function socketIdentity(
  socket: Pick<SocketEntry, 'protocol' | 'localAddress' | 'localPort' | 'inode'>,
): string {
  return `${socket.protocol}|${socket.localAddress}|${socket.localPort}|${socket.inode}`
}

/**
 * The key of a socket in the watcher's snapshot: its inode, which no other live socket has (no
 * text per socket: 100k keys of text were 20 MiB of a server's heap), or its identity for the
 * kernel's own sockets (inode 0). The identity decides: see `sameSocket`.
 */
function snapshotKey(socket: SocketEntry): number | string {
  return socket.inode !== 0 ? socket.inode : socketIdentity(socket)
}

/** The same socket by `socketIdentity` (a UDP socket's local address changes when it connects). */
function sameSocket(a: SocketEntry, b: SocketEntry): boolean {
  return (
    a.inode === b.inode &&
    a.localPort === b.localPort &&
    a.protocol === b.protocol &&
    a.localAddress === b.localAddress
  )
}

/**
 * One poller over the listening sockets (`ss -tuln` semantics), shared by any number of
 * listeners: it runs while at least one is subscribed. Warm mode: it keeps the last inventory,
 * and each poll reads the socket tables only (one netlink dump when the addon is there); the
 * costly `/proc/<pid>/fd` walk runs only when new sockets (new inodes) appear, and only for
 * those, and their holders are kept (by socket identity) until the socket goes away. Every
 * `fullRescanMs` the holders of every socket are looked up again, beside the polls (a poll never
 * waits for it; `rescanSettled` does). A socket opened and closed between two polls is not seen.
 */
export class SocketWatcher {
  readonly intervalMs: number
  readonly fullRescanMs: number
  private lastFullScan = 0
  private readonly options: WatchOptions
  private readonly listeners = new Set<SocketListener>()
  private readonly errorListeners = new Set<(error: unknown) => void>()
  /** The last poll's sockets by `snapshotKey`. */
  private current = new Map<number | string, SocketEntry>()
  private primed = false
  private primedWaiters: (() => void)[] = []
  /** Polling stopped with the last listener: `current` no longer follows the tables. */
  private stale = false
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  private warnings: Warning[] = []
  private backend: BackendName | undefined
  /** The last poll asked for: the next one starts after it. */
  private queue: Promise<unknown> = Promise.resolve()
  /** The snapshot as an inventory, made once per change (null: changed since). */
  private inventory: SocketInventory | null = null
  /** When the last poll began (performance.now()): its snapshot is no older than this. */
  private lastPollStart = -Infinity
  /** Polls made and holder scans run: a measure of how cheap an idle watch is. */
  readonly stats = { polls: 0, holderScans: 0, fullRescans: 0, unchanged: 0 }
  /** The last netlink dump a snapshot was made from. */
  private lastRecords: Buffer | null = null
  /** The last poll's time on this thread (see `lastPollCostMs`). */
  private lastCostMs = 0
  /** The holder rescan under way (it runs beside the polls), or null. */
  private rescanning: Promise<void> | null = null

  constructor(options: WatchOptions = {}) {
    this.options = options
    this.intervalMs = options.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS
    if (!(this.intervalMs >= 10)) throw new RangeError('the watch interval must be at least 10 ms')
    this.fullRescanMs = options.fullRescanMs ?? DEFAULT_FULL_RESCAN_MS
    if (!(this.fullRescanMs >= this.intervalMs))
      throw new RangeError('the full rescan interval must be at least the watch interval')
  }

  /**
   * Adds a listener (starting the poller if it is the first) and returns the function that
   * removes it (stopping the poller with the last). Events start from the current state: the
   * sockets present at the first poll are the baseline, not events.
   */
  subscribe(listener: SocketListener, onError?: (error: unknown) => void): () => void {
    this.listeners.add(listener)
    if (onError) this.errorListeners.add(onError)
    // After a pause, diffing against the old snapshot would report what changed while nobody
    // listened and, worse, miss what changes before the first poll: start from a new baseline.
    if (this.stale) {
      this.stale = false
      this.primed = false
    }
    if (this.timer === null && this.running === null)
      this.schedule(this.primed ? this.intervalMs : 0)
    return () => {
      this.listeners.delete(listener)
      if (onError) this.errorListeners.delete(onError)
      if (this.listeners.size === 0) this.stop()
    }
  }

  /**
   * Resolves once the watcher has a baseline: from then on every change reaches the listeners,
   * so a list read after this (e.g. a dashboard's) misses nothing. At once when already polling;
   * also when polling stops (the last listener left), so that no waiter outlives its listener.
   */
  whenPrimed(): Promise<void> {
    if (this.primed) return Promise.resolve()
    return new Promise((resolve) => this.primedWaiters.push(resolve))
  }

  /** The listening sockets as of the last poll, in `list` order. */
  snapshot(): SocketEntry[] {
    return [...this.current.values()]
  }

  /**
   * The last poll's sockets and warnings as one inventory, the same object until something
   * changes (so what is rendered from it can be kept); null before the first poll.
   */
  currentInventory(): SocketInventory | null {
    if (!this.primed || this.backend === undefined) return null
    this.inventory ??= { sockets: this.snapshot(), warnings: this.warnings, backend: this.backend }
    return this.inventory
  }

  /**
   * How old the current snapshot is (ms since the poll that made it began), or Infinity before
   * the first: a caller that can take a bounded age uses it without polling.
   */
  snapshotAgeMs(): number {
    return performance.now() - this.lastPollStart
  }

  /**
   * How long the last poll kept this thread busy, in ms: with the addon its dump runs on a pool
   * thread and only what follows (comparing, decoding, holders) counts; otherwise all of it. A
   * caller that spaces polls out to leave the event loop free measures by this, not by the
   * poll's wall time, which a busy machine stretches.
   */
  lastPollCostMs(): number {
    return this.lastCostMs
  }

  /** Resolves once the holder rescan under way, if any, has ended (applied, or failed). */
  async rescanSettled(): Promise<void> {
    await this.rescanning
  }

  /** Warnings of the last poll (e.g. holders not visible without root). */
  lastWarnings(): Warning[] {
    return this.warnings
  }

  /**
   * Looks once and returns the changes since the last look (also delivered to the listeners).
   * The first call establishes the baseline and returns no events. Polls run one at a time, in
   * the order asked: one asked for while another runs starts after it, so its snapshot is never
   * older than the call (the server polls on demand between the scheduled polls).
   */
  poll(): Promise<SocketEvent[]> {
    const run = this.queue.then(() => this.pollOnce())
    this.queue = run.catch(() => undefined)
    return run
  }

  private async pollOnce(): Promise<SocketEvent[]> {
    const time = new Date().toISOString()
    const began = performance.now()
    /** From when this thread works on the poll (after a dump on a pool thread). */
    let working = began
    /** The dump this poll's snapshot is made from: kept for comparing only once the poll succeeds. */
    let dumped: Buffer | null = null
    this.stats.polls++
    this.backend ??= await chooseBackend(this.options.backend, this.options.procRoot)
    // Beside this poll, not in it: polls asked for meanwhile (the server's answers wait for one)
    // must not wait for a walk of every fd table (a second at 100k sockets).
    if (this.primed && this.rescanning === null && began - this.lastFullScan >= this.fullRescanMs)
      this.startRescan(this.backend)
    let inventory: SocketInventory
    if (this.backend === 'netlink' && this.options.ports === undefined) {
      // The dump's bytes are the listing: the same bytes as the last poll's mean nothing
      // changed, and the poll ends here (most polls of a steady machine). The snapshot is made
      // from these very bytes, so "the same" always compares against what it shows.
      const last = this.lastRecords
      // Unchanged tables give back `last` itself (compared on the pool thread); an older addon
      // build gives a copy, compared here.
      const records = await dumpListingAsync(this.query(), last ?? undefined)
      working = performance.now()
      const unchanged = last !== null && (records === last || last.equals(records))
      if (this.primed && unchanged) {
        this.lastPollStart = began
        this.lastCostMs = performance.now() - working
        this.stats.unchanged++
        if (this.listeners.size === 0) this.stale = true
        return []
      }
      dumped = records
      inventory = this.inventoryOf(records)
    } else {
      inventory = await listSockets({
        ...this.query(),
        ports: this.options.ports,
        // /proc: the tables alone (cheap); holders are found below for new sockets only.
        // lsof names holders in the same call, and costs the same either way.
        withProcesses: this.backend === 'lsof',
        backend: this.backend,
        procRoot: this.options.procRoot,
      })
    }
    const next = new Map<number | string, SocketEntry>()
    const fresh: SocketEntry[] = []
    for (const socket of inventory.sockets) {
      const key = snapshotKey(socket)
      const known = this.current.get(key)
      if (known && sameSocket(known, socket)) next.set(key, known)
      else {
        next.set(key, socket)
        fresh.push(socket)
      }
    }
    if (fresh.length > 0) {
      await this.attachHolders(fresh, inventory.backend)
      // (lsof's holders were named by listSockets already: nothing to ask again.)
      if (inventory.backend !== 'lsof') await nameContainerHolders(fresh, { fresh: true })
      if (!this.primed) this.lastFullScan = performance.now()
    }
    const events: SocketEvent[] = []
    if (this.primed) {
      // Gone, or its key now names another socket (the same inode, a new local address).
      for (const [key, socket] of this.current)
        if (next.get(key) !== socket) events.push({ event: 'unbind', time, socket })
      for (const socket of fresh)
        events.push({ event: 'bind', time, socket: next.get(snapshotKey(socket)) as SocketEntry })
    }
    // A new inventory when the sockets (with the holders attached above) may have changed.
    if (events.length > 0 || fresh.length > 0) this.inventory = null
    this.current = next
    // Only now: a poll that failed after its dump (a holder scan that threw) must not make the
    // next poll's same bytes look like a snapshot that holds them.
    if (dumped) this.lastRecords = dumped
    this.primed = true
    this.lastPollStart = began
    this.lastCostMs = performance.now() - working
    // A poll nobody listened to (the server's, on demand): a listener that comes later starts
    // from a baseline of its own, as after a pause.
    if (this.listeners.size === 0) this.stale = true
    for (const resolve of this.primedWaiters.splice(0)) resolve()
    if (fresh.length > 0) this.warnings = inventory.warnings
    for (const event of events) for (const listener of [...this.listeners]) listener(event)
    return events
  }

  private query(): { protocols?: readonly Protocol[]; families?: readonly Family[] } {
    return { protocols: this.options.protocols, families: this.options.families }
  }

  /** A listing from a dump's records without holders, as `listSockets` makes it. */
  private inventoryOf(records: Buffer): SocketInventory {
    const reader = new ProcessReader({ procRoot: this.options.procRoot ?? '/proc' })
    return {
      sockets: withoutHolders(decodeRecords(records), reader),
      warnings: [],
      backend: 'netlink',
    }
  }

  /** Stops polling; listeners stay registered but hear nothing until `subscribe` restarts it. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
    this.stale = true
    for (const resolve of this.primedWaiters.splice(0)) resolve()
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = null
      const started = performance.now()
      this.running = this.poll().then(
        () => {
          this.running = null
          if (this.listeners.size > 0)
            this.schedule(Math.max(0, this.intervalMs - (performance.now() - started)))
        },
        (error: unknown) => {
          this.running = null
          for (const listener of [...this.errorListeners]) listener(error)
          if (this.listeners.size > 0) this.schedule(this.intervalMs)
        },
      )
    }, delayMs)
  }

  /**
   * Looks up the holders of every socket of the snapshot again (a holder may have exited, forked
   * or passed the socket on), beside the polls; a failure reaches the error listeners, and the
   * next rescan is due `fullRescanMs` later all the same.
   */
  private startRescan(backend: BackendName): void {
    this.lastFullScan = performance.now()
    // lsof names the holders with every listing; the rows it keeps are not asked again.
    const rows = backend === 'lsof' ? [] : this.snapshot().filter((row) => row.inode !== 0)
    if (rows.length === 0) return
    this.stats.fullRescans++
    this.rescanning = this.rescanHolders(rows, backend).then(
      () => {
        this.rescanning = null
      },
      (error: unknown) => {
        this.rescanning = null
        for (const listener of [...this.errorListeners]) listener(error)
      },
    )
  }

  /**
   * The rescan: the rows whose holders look different get a copy with the new ones (named for
   * their containers: a row's old holders are, so the rows with a container's proxy compare again
   * after); then, between two polls (a poll under way works from the rows it read), each row whose
   * holders changed is replaced by its copy, and the inventory with it. Rows whose holders are
   * the same stay as they are, with what was rendered from them: at 100k sockets a new inventory
   * is 0.3 s of JSON and gzip, and 100k new rows that outlive a young collection grow V8's young
   * generation for good.
   */
  private async rescanHolders(rows: SocketEntry[], backend: BackendName): Promise<void> {
    const found = await this.lookUpHolders(rows, backend)
    if (found === null) return
    const same = sameHolders()
    const changed: SocketEntry[] = []
    const copies: SocketEntry[] = []
    rows.forEach((row, i) => {
      const holders = found[i] as Holder[]
      if (same(row.processes, holders)) return
      changed.push(row)
      copies.push({ ...row, processes: holders })
    })
    await nameContainerHolders(copies, { fresh: true })
    const apply = () => {
      let replaced = false
      changed.forEach((row, i) => {
        const copy = copies[i] as SocketEntry
        const key = snapshotKey(row)
        // Gone or replaced since (a poll's news is newer than this rescan's).
        if (this.current.get(key) !== row || same(row.processes, copy.processes)) return
        this.current.set(key, copy)
        replaced = true
      })
      if (replaced) this.inventory = null
    }
    const applied = this.queue.then(apply)
    this.queue = applied.catch(() => undefined)
    await applied
  }

  /**
   * Names the holders of these sockets: one fd walk for all of them (the lsof backend has them
   * already), on the addon's threads with the holders' /proc details, so that the event loop
   * goes on answering meanwhile (at 100k sockets a full rescan walks 158k fds: a second).
   * Returns whether a walk ran.
   */
  private async attachHolders(sockets: SocketEntry[], backend: BackendName): Promise<boolean> {
    const found = await this.lookUpHolders(sockets, backend)
    found?.forEach((holders, i) => ((sockets[i] as SocketEntry).processes = holders))
    return found !== null
  }

  /** Each socket's holders, in order, from one walk; null when no walk ran (see attachHolders). */
  private async lookUpHolders(
    sockets: readonly SocketEntry[],
    backend: BackendName,
  ): Promise<Holder[][] | null> {
    if (backend === 'lsof') return null
    const inodes = Uint32Array.from(sockets.filter((s) => s.inode !== 0).map((s) => s.inode))
    if (inodes.length === 0) return null
    this.stats.holderScans++
    const procRoot = this.options.procRoot ?? '/proc'
    const scan = await scanHoldersAsync(inodes.sort(), null, procRoot, true)
    const reader = new ProcessReader({ procRoot })
    if (scan.details) reader.prime(scan.details)
    return sockets.map((socket) => {
      // map's array has the exact length; filter's grows by pushing, to 17 slots for one holder
      // (19 MiB of a 100k-socket snapshot). Filter only when a holder has gone.
      const holders = scan.holdersOf(socket.inode).map((pid) => reader.holder(pid))
      return holders.includes(null)
        ? holders.filter((h): h is Holder => h !== null)
        : (holders as Holder[])
    })
  }
}

/**
 * Compares two lookups of one socket's holders, every field (the container too): each holder
 * object is made text once (a few thousand holders for 100k sockets), not once per socket.
 */
function sameHolders(): (a: readonly Holder[], b: readonly Holder[]) => boolean {
  const shown = new Map<Holder, string>()
  const textOf = (holder: Holder) => {
    let text = shown.get(holder)
    if (text === undefined) {
      text = JSON.stringify(holder)
      shown.set(holder, text)
    }
    return text
  }
  return (a, b) =>
    a.length === b.length && a.every((holder, i) => textOf(holder) === textOf(b[i] as Holder))
}

/**
 * Calls `onEvent` for every bind/unbind until `signal` aborts; resolves then. Rejects if the
 * socket tables cannot be read. `onReady` gets the baseline once the first poll is done.
 */
export async function watchSockets(
  options: WatchOptions,
  onEvent: SocketListener,
  signal: AbortSignal,
  onReady?: (sockets: SocketEntry[]) => void,
): Promise<void> {
  const watcher = new SocketWatcher(options)
  await watcher.poll()
  onReady?.(watcher.snapshot())
  if (signal.aborted) return
  await new Promise<void>((resolve, reject) => {
    const unsubscribe = watcher.subscribe(onEvent, (error) => {
      unsubscribe()
      reject(error)
    })
    signal.addEventListener(
      'abort',
      () => {
        unsubscribe()
        resolve()
      },
      { once: true },
    )
  })
}

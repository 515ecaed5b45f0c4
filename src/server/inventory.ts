import { checkPort } from '../core/check-port.js'
import type { PortCheck } from '../core/check-port.js'
import { listSockets } from '../core/sockets/list-sockets.js'
import type { SocketInventory } from '../core/sockets/list-sockets.js'
import type { Protocol } from '../core/types.js'
import type { Allocation } from '../core/registry/types.js'
import type { SocketWatcher } from '../core/watch/socket-watcher.js'
import { SharedRuns } from './shared-runs.js'

/** The least time between the starts of two on-demand polls (see `scan`). */
const MIN_POLL_SPACING_MS = 20

export interface InventoryOptions {
  /** The shared watcher whose snapshot answers, polled on demand. */
  watcher: SocketWatcher
  /** Told how long each full scan (with every holder looked up again) took. */
  onScanned?: (seconds: number) => void
}

/**
 * The listening sockets with their holders, and port checks, each read once for all the
 * requests waiting for it (see SharedRuns): under load the server costs one read at a time.
 *
 * A listing is the shared SocketWatcher's snapshot after a poll begun once the request arrived:
 * the poll reads the socket tables alone (one netlink dump with the addon) and looks up holders
 * for new sockets only, with a full holder rescan at most every 30 s (a holder may have forked
 * or passed a socket on). So an answer never misses a socket opened or lists one closed before
 * the request; only the holders of an old socket may be up to 30 s old. `fresh` asks for a full
 * scan made for this request.
 */
export class InventoryScanner {
  private readonly polls = new SharedRuns<SocketInventory>()
  private readonly scans = new SharedRuns<SocketInventory>()
  private readonly checks = new SharedRuns<PortCheck>()
  private readonly watcher: SocketWatcher
  private readonly onScanned: ((seconds: number) => void) | undefined
  private lastPollStart = -Infinity
  private lastPollMs = 0

  constructor(options: InventoryOptions) {
    this.watcher = options.watcher
    this.onScanned = options.onScanned
  }

  /** The listening sockets with their holders: the polled snapshot, or (`fresh`) a full scan. */
  scan(options: { fresh?: boolean } = {}): Promise<SocketInventory> {
    if (options.fresh) return this.freshScan()
    return this.polls.run('poll', async () => {
      // Under load, polls back to back would keep the event loop busy building snapshots while
      // answers wait to be written: a poll starts at least three poll durations (and 20 ms)
      // after the last one began, so polling takes at most a third of the time, and every
      // request that arrives meanwhile shares it.
      const spacing = Math.max(MIN_POLL_SPACING_MS, 3 * this.lastPollMs)
      const wait = this.lastPollStart + spacing - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
      this.lastPollStart = performance.now()
      await this.watcher.poll()
      this.lastPollMs = performance.now() - this.lastPollStart
      return this.watcher.currentInventory() ?? this.freshScan()
    })
  }

  /**
   * The watcher's snapshot when it is at most `maxAgeMs` old (it polls on its own while an event
   * stream is open), else null: a caller that can take a bounded age does without a poll.
   */
  recent(maxAgeMs: number): SocketInventory | null {
    const current = this.watcher.currentInventory()
    return current && this.watcher.snapshotAgeMs() <= maxAgeMs ? current : null
  }

  /** The listening sockets of every network namespace reachable, each tagged with its `netns`. */
  scanEveryNamespace(): Promise<SocketInventory> {
    return this.scans.run('every-namespace', () => listSockets({ allNamespaces: true }))
  }

  /** `allocations`: the registry's rows, for the holders' stale evidence (the registry sign). */
  check(
    port: number,
    protocol: Protocol,
    allocations: readonly Allocation[] = [],
  ): Promise<PortCheck> {
    // As the CLI's `check`: a free port says what holds it over the other protocol and in other
    // network namespaces, and each holder's evidence is gathered without asking the service.
    return this.checks.run(`${protocol}:${port}`, () =>
      checkPort(port, protocol, {
        otherProtocol: true,
        otherNamespaces: true,
        evidence: { allocations },
      }),
    )
  }

  private freshScan(): Promise<SocketInventory> {
    return this.scans.run('listening', async () => {
      const started = performance.now()
      const inventory = await listSockets()
      this.onScanned?.((performance.now() - started) / 1000)
      return inventory
    })
  }
}

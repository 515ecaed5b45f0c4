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
 * requests waiting for it (see SharedRuns, and `scan`): under load the server costs one read at a
 * time.
 *
 * A listing is the shared SocketWatcher's snapshot after a poll begun once the request arrived:
 * the poll reads the socket tables alone (one netlink dump with the addon) and looks up holders
 * for new sockets only, with a full holder rescan at most every 30 s (a holder may have forked
 * or passed a socket on). So an answer never misses a socket opened or lists one closed before
 * the request; only the holders of an old socket may be up to 30 s old. `fresh` asks for a full
 * scan made for this request.
 */
export class InventoryScanner {
  /** The poll the requests arriving now will share (not begun yet), if one is due. */
  private nextPoll: Promise<SocketInventory> | null = null
  /** The last poll begun, settled when it ends (never rejects). */
  private lastPoll: Promise<void> = Promise.resolve()
  private readonly scans = new SharedRuns<SocketInventory>()
  private readonly checks = new SharedRuns<PortCheck>()
  private readonly watcher: SocketWatcher
  private readonly onScanned: ((seconds: number) => void) | undefined
  /** When this scanner's last poll began; kept here (not the watcher's age) so that failed polls are spaced too. */
  private lastPollStart = -Infinity

  constructor(options: InventoryOptions) {
    this.watcher = options.watcher
    this.onScanned = options.onScanned
  }

  /** The listening sockets with their holders: the polled snapshot, or (`fresh`) a full scan. */
  scan(options: { fresh?: boolean } = {}): Promise<SocketInventory> {
    if (options.fresh) return this.freshScan()
    // Every request that arrives before the next poll begins shares that poll: it begins after
    // them, so none of them misses a socket opened before it asked.
    this.nextPoll ??= this.pollWhenDue()
    return this.nextPoll
  }

  /**
   * The next on-demand poll. Under load, polls back to back would keep the event loop busy
   * building snapshots while answers wait to be written: a poll begins once the last one has
   * ended, and at least 20 ms and three times the last poll's cost on the event loop after it
   * began, so polling takes at most a third of the loop. (Its cost, not its wall time: an
   * unchanged dump costs the loop nothing, and the dump's time on a busy pool thread is noise
   * that, tripled, made the slowest answers.) Until it begins, arriving requests join it (the
   * wait is theirs too); from then on they wait for the one after.
   */
  private async pollWhenDue(): Promise<SocketInventory> {
    try {
      await this.lastPoll
      const spacing = Math.max(MIN_POLL_SPACING_MS, 3 * this.watcher.lastPollCostMs())
      const wait = this.lastPollStart + spacing - performance.now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    } finally {
      this.nextPoll = null
    }
    this.lastPollStart = performance.now()
    const poll = this.watcher.poll()
    this.lastPoll = poll.then(
      () => undefined,
      () => undefined,
    )
    await poll
    return this.watcher.currentInventory() ?? this.freshScan()
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

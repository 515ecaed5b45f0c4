import { Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { ConflictKind } from '../core/registry/conflicts.js'
import { claimFromAllocation, detectConflicts } from '../core/registry/conflicts.js'
import type { HealthStatus } from '../core/registry/types.js'
import type { SocketInventory } from '../core/sockets/list-sockets.js'
import type { InventoryScanner } from './inventory.js'
import type { RegistryAccess } from './registry-access.js'

const HEALTH_STATUSES: readonly HealthStatus[] = ['unknown', 'healthy', 'unhealthy', 'not_running']
const CONFLICT_KINDS: readonly ConflictKind[] = [
  'registry_conflict',
  'system_conflict',
  'allocation_mismatch',
]

export interface ServerMetrics {
  registry: Registry
  /** Records how long one read of the socket tables took (`inventory`: with holders). */
  observeScan(kind: 'inventory' | 'tables', seconds: number): void
  /** Event-stream clients connected now. */
  sseClients: Gauge
  /** Cancels a poll scheduled for the next scrape. */
  close(): void
}

/** How old a snapshot `/metrics` may count from (docs/http-api.md): two of the watcher's 1 s polls. */
export const METRICS_MAX_AGE_MS = 2000

const KINDS = [
  ['tcp', 'ipv4'],
  ['tcp', 'ipv6'],
  ['udp', 'ipv4'],
  ['udp', 'ipv6'],
] as const

/** Listening sockets by protocol and family (in KINDS order), counted once per snapshot. */
const counted = new WeakMap<SocketInventory, number[]>()
function countsOf(inventory: SocketInventory): number[] {
  let counts = counted.get(inventory)
  if (!counts) {
    counts = [0, 0, 0, 0]
    for (const socket of inventory.sockets)
      counts[(socket.protocol === 'tcp' ? 0 : 2) + (socket.family === 'ipv4' ? 0 : 1)]! += 1
    counted.set(inventory, counts)
  }
  return counts
}

/** How long before a steady scraper's next scrape the snapshot for it is polled. */
const SCRAPE_LEAD_MS = 1000

/**
 * A scraper that comes at a steady interval (Prometheus does, 15 s or 1 min as a rule) finds a
 * snapshot polled just before it, so the scrape counts without polling (a poll of 100k sockets
 * takes ~60 ms; counting from a snapshot, ~2 ms). After two gaps of the same length (within 10%
 * or 250 ms) longer than METRICS_MAX_AGE_MS, it polls SCRAPE_LEAD_MS before the next scrape is
 * due: the same one poll per scrape as without it, made earlier. Only a scrape schedules the
 * next poll, so a scraper that stops costs at most one more.
 */
export class ScrapeAhead {
  private lastScrape = -Infinity
  private lastGap = Infinity
  private timer: NodeJS.Timeout | null = null
  private readonly poll: () => Promise<unknown>

  constructor(poll: () => Promise<unknown>) {
    this.poll = poll
  }

  /** A scrape arrived now. */
  scraped(now = performance.now()): void {
    const gap = now - this.lastScrape
    const steady = Math.abs(gap - this.lastGap) <= Math.max(250, gap / 10)
    this.lastScrape = now
    this.lastGap = gap
    this.cancel()
    if (!steady || gap <= METRICS_MAX_AGE_MS) return
    this.timer = setTimeout(() => {
      this.timer = null
      // A poll that fails here is the next scrape's to report (it polls again itself).
      this.poll().catch(() => undefined)
    }, gap - SCRAPE_LEAD_MS)
    this.timer.unref()
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }
}

/**
 * `/metrics`: counts and durations only. Labels are protocol, family, status and kind: never a
 * command line, a user name or the token, so a scrape leaks nothing a port scan would not.
 */
export function createMetrics(
  registryAccess: RegistryAccess,
  inventory: Pick<InventoryScanner, 'scan' | 'recent'>,
): ServerMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'portwarden_' })
  const scanDuration = new Histogram({
    name: 'portwarden_scan_duration_seconds',
    help: 'Time to read the socket tables (tables: a poll of the tables, holders of new sockets only; inventory: a full scan with every holder).',
    labelNames: ['kind'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  })
  // Both series exist from the first scrape, before any scan was timed (a scrape may count
  // from the snapshot and time none).
  for (const kind of ['inventory', 'tables']) scanDuration.zero({ kind })
  const observeScan = (kind: 'inventory' | 'tables', seconds: number) =>
    scanDuration.observe({ kind }, seconds)
  const ahead = new ScrapeAhead(() => inventory.scan())

  new Gauge({
    name: 'portwarden_listening_sockets',
    help: 'Listening TCP sockets and bound UDP sockets, by protocol and address family.',
    labelNames: ['protocol', 'family'],
    registers: [registry],
    async collect() {
      // The shared watcher's snapshot when at most METRICS_MAX_AGE_MS old (an open event
      // stream keeps it so, and so does ScrapeAhead for a steady scraper), else its poll (the
      // tables alone, holders of new sockets only), timed.
      ahead.scraped()
      let scanned = inventory.recent(METRICS_MAX_AGE_MS)
      if (!scanned) {
        const started = performance.now()
        scanned = await inventory.scan()
        observeScan('tables', (performance.now() - started) / 1000)
      }
      const counts = countsOf(scanned)
      this.reset()
      KINDS.forEach(([protocol, family], i) => this.set({ protocol, family }, counts[i]!))
    },
  })

  // One registry read and one conflict check per scrape, shared by the two gauges below.
  // A registry that cannot be read (locked, corrupt, unreachable) leaves these two gauges
  // without series and says so in portwarden_registry_readable; the rest of a scrape stands.
  let pending: Promise<{
    health: Map<HealthStatus, number>
    conflicts: Map<ConflictKind, number>
    readable: boolean
  }> | null = null
  const unreadable = {
    health: new Map<HealthStatus, number>(),
    conflicts: new Map<ConflictKind, number>(),
    readable: false,
  }
  const registryFigures = () =>
    (pending ??= (async () => {
      const store = await registryAccess.existing()
      const allocations = store ? await store.list() : []
      const health = new Map(HEALTH_STATUSES.map((status) => [status, 0]))
      for (const allocation of allocations)
        health.set(allocation.healthStatus, (health.get(allocation.healthStatus) ?? 0) + 1)
      const report = await detectConflicts(allocations.map(claimFromAllocation))
      const conflicts = new Map(CONFLICT_KINDS.map((kind) => [kind, 0]))
      for (const conflict of report.conflicts)
        conflicts.set(conflict.kind, (conflicts.get(conflict.kind) ?? 0) + 1)
      return { health, conflicts, readable: true }
    })()
      .catch(() => unreadable)
      .finally(() => setImmediate(() => (pending = null))))

  new Gauge({
    name: 'portwarden_registry_readable',
    help: 'Whether the registry could be read for this scrape (0: locked, corrupt or unreachable).',
    registers: [registry],
    async collect() {
      this.set((await registryFigures()).readable ? 1 : 0)
    },
  })

  new Gauge({
    name: 'portwarden_allocations',
    help: 'Registry allocations by health status (as of the last health check).',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      const { health } = await registryFigures()
      for (const [status, count] of health) this.set({ status }, count)
    },
  })
  new Gauge({
    name: 'portwarden_conflicts',
    help: 'Registry and system conflicts by kind (as `status --check-conflicts` reports them).',
    labelNames: ['kind'],
    registers: [registry],
    async collect() {
      const { conflicts } = await registryFigures()
      for (const [kind, count] of conflicts) this.set({ kind }, count)
    },
  })
  const sseClients = new Gauge({
    name: 'portwarden_event_stream_clients',
    help: 'Clients connected to /api/events.',
    registers: [registry],
  })
  return { registry, observeScan, sseClients, close: () => ahead.cancel() }
}

import type { SocketWatcher } from '../core/watch/socket-watcher.js'
import type { InventoryScanner } from './inventory.js'
import type { ServerMetrics } from './metrics.js'
import type { RegistryAccess } from './registry-access.js'

/** What every route module gets: the shared scanner, registry, watcher and metrics. */
export interface ServerContext {
  registry: RegistryAccess
  inventory: InventoryScanner
  watcher: SocketWatcher
  metrics: ServerMetrics
  /** The port this server listens on (null before it listens, or under `app.request()`). */
  serverPort: () => number | null
  /** Time between two comment lines on an idle event stream. */
  heartbeatMs: number
}

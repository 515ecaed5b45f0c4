import { Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { SocketWatcher } from '../core/watch/socket-watcher.js'
import type { ServerContext } from './context.js'
import { ApiError, errorResponse } from './errors.js'
import { HealthScheduler } from './health-scheduler.js'
import { InventoryScanner } from './inventory.js'
import { trimAfterFullCollections } from './memory-trim.js'
import { createMetrics } from './metrics.js'
import { RegistryAccess } from './registry-access.js'
import { dashboardRoutes } from './routes/dashboard.js'
import { eventRoutes } from './routes/events.js'
import { freeRoutes } from './routes/free.js'
import { pruneRoutes } from './routes/prune.js'
import { inventoryRoutes } from './routes/inventory.js'
import { metricsRoutes } from './routes/metrics.js'
import { registryRoutes } from './routes/registry.js'
import type { HostPolicy } from './security.js'
import { hostGuard, originGuard, securityHeaders, tokenGuard } from './security.js'
import { MAX_BODY_BYTES, drainUnreadBody } from './validation.js'

export interface AppOptions {
  /** The bearer token (see token.ts). */
  token: string
  /** Require the token on every route, reads included (bound to a non-loopback address). */
  tokenOnEveryRoute?: boolean
  /** Names besides the loopback ones that `Host` may carry (the non-loopback address we bind). */
  extraHostNames?: readonly string[]
  /** The port we listen on, for the Host check and `/api/system/ports` (null: any port). */
  serverPort?: () => number | null
  /** Registry file or postgres:// URL (default: PORTWARDEN_REGISTRY, then the state directory). */
  registry?: string
  /** Re-run the registry's health checks this often (ms); default: never. */
  healthIntervalMs?: number
  /** The built dashboard (default dist/web/). */
  webRoot?: string
  /** Poll interval of the shared socket watcher behind /api/events (default 1000 ms). */
  watchIntervalMs?: number
  /** Comment line on idle event streams (default 15 s). */
  heartbeatMs?: number
}

export interface ServerApp {
  app: Hono
  hosts: HostPolicy
  context: ServerContext
  /** Stops the watcher and the health schedule and closes the registry. */
  close(): Promise<void>
}

/**
 * The HTTP API, the dashboard and /metrics as one Hono app, without a socket: `app.request()`
 * runs it in-process, `listen.ts` puts it on a port. Every request passes the security headers,
 * the Host check, the cross-origin check, the token and the body limit, in that order, before
 * any route runs; a body that no one read is drained before the answer goes out.
 */
export function createApp(options: AppOptions): ServerApp {
  const registry = new RegistryAccess(options.registry)
  const watcher = new SocketWatcher({ intervalMs: options.watchIntervalMs })
  const inventory = new InventoryScanner({
    watcher,
    onScanned: (seconds) => metrics.observeScan('inventory', seconds),
  })
  const metrics = createMetrics(registry, inventory)
  const context: ServerContext = {
    registry,
    metrics,
    inventory,
    watcher,
    serverPort: options.serverPort ?? (() => null),
    heartbeatMs: options.heartbeatMs ?? 15_000,
  }
  const hosts: HostPolicy = {
    port: context.serverPort,
    extraNames: (options.extraHostNames ?? []).map((name) => name.toLowerCase()),
  }

  const app = new Hono()
  app.onError((error, c) => errorResponse(c, error))
  app.notFound(() => {
    throw new ApiError(
      'not_found',
      'No such route. The API is described in docs/http-api.md (GET /api/system/ports, /api/sockets, /api/ports/{port}, /api/allocations, /api/conflicts, /api/events, /metrics).',
    )
  })
  app.use(securityHeaders())
  app.use(drainUnreadBody())
  app.use(hostGuard(hosts))
  app.use(originGuard())
  app.use(tokenGuard(options.token, options.tokenOnEveryRoute === true))
  app.use(
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: () => {
        throw new ApiError(
          'payload_too_large',
          `The request body is larger than ${MAX_BODY_BYTES} bytes (1 MiB), the most this API accepts.`,
          { details: { limit: MAX_BODY_BYTES } },
        )
      },
    }),
  )
  inventoryRoutes(app, context)
  registryRoutes(app, context)
  freeRoutes(app, context)
  pruneRoutes(app, context)
  eventRoutes(app, context)
  metricsRoutes(app, context)
  dashboardRoutes(app, options.webRoot)

  const health =
    options.healthIntervalMs === undefined
      ? null
      : new HealthScheduler(registry, options.healthIntervalMs)
  health?.start()
  const stopTrimming = trimAfterFullCollections()

  return {
    app,
    hosts,
    context,
    async close() {
      context.watcher.stop()
      metrics.close()
      stopTrimming()
      await health?.stop()
      await registry.close()
    },
  }
}

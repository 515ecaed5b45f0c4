import type { Hono } from 'hono'
import type { ServerContext } from '../context.js'

/** GET /metrics: Prometheus text format (counts and durations; no command lines, no token). */
export function metricsRoutes(app: Hono, context: ServerContext): void {
  app.get('/metrics', async (c) => {
    const { registry } = context.metrics
    return c.body(await registry.metrics(), 200, { 'Content-Type': registry.contentType })
  })
}

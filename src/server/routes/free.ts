import type { Hono } from 'hono'
import { executeFree } from '../../core/free/execute-free.js'
import { parseStopOptions } from '../../core/free/options.js'
import { planFree } from '../../core/free/plan-free.js'
import { toJsonFreePlan, toJsonFreeReport } from '../../core/free/wire.js'
import type { ServerContext } from '../context.js'
import { jsonResponse } from '../errors.js'
import { freeRequestSchema, parsePathPort, readJsonBody } from '../validation.js'

/**
 * POST /api/ports/{port}/free: `free PORT --yes` (the caller, holding the token, has asked):
 * the plan with `dry_run`, else the report. The same safety rules as the CLI: never pid 1,
 * this server or its ancestors, a container's proxy, another user's process; identity re-checked
 * right before every signal.
 */
export function freeRoutes(app: Hono, context: ServerContext): void {
  app.post('/api/ports/:port/free', async (c) => {
    const body = await readJsonBody(c, freeRequestSchema, { optional: true })
    const spec = parsePathPort(c.req.param('port'), body.protocol)
    const store = await context.registry.existing()
    const plan = await planFree([spec], {
      // Each holder's verdict in the plan, so the dashboard shows it before anyone confirms.
      evidence: { allocations: store ? await store.list({}) : [] },
      ...parseStopOptions(
        { signal: body.signal, wait: body.wait, killAfter: body.kill_after },
        { wait: 'wait', killAfter: 'kill_after' },
      ),
    })
    if (body.dry_run) return jsonResponse(c, toJsonFreePlan(plan))
    return jsonResponse(c, toJsonFreeReport(await executeFree(plan)))
  })
}

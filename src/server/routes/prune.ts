import type { Hono } from 'hono'
import { parseStopOptions } from '../../core/free/options.js'
import { executePrune } from '../../core/prune/execute-prune.js'
import { planPrune } from '../../core/prune/plan-prune.js'
import { pruneScope } from '../../core/prune/scope.js'
import { toJsonPrunePlan, toJsonPruneReport } from '../../core/prune/wire.js'
import type { ServerContext } from '../context.js'
import { jsonResponse } from '../errors.js'
import { pruneRequestSchema, readJsonBody } from '../validation.js'

/**
 * POST /api/prune: `prune --yes` for the project of the server's directory (or `project`), the
 * plan with `dry_run`, else the report. Token-protected like every state-changing route; only the
 * project's stale holders are ever signalled, through `free`'s safety rules.
 */
export function pruneRoutes(app: Hono, context: ServerContext): void {
  app.post('/api/prune', async (c) => {
    const body = await readJsonBody(c, pruneRequestSchema, { optional: true })
    const store = await context.registry.existing()
    const scope = await pruneScope({ project: body.project }, store)
    const plan = await planPrune(scope, {
      ...parseStopOptions(
        { signal: body.signal, wait: body.wait, killAfter: body.kill_after },
        { wait: 'wait', killAfter: 'kill_after' },
      ),
      releaseGone: body.release_gone === true,
    })
    if (body.dry_run) return jsonResponse(c, toJsonPrunePlan(plan))
    return jsonResponse(c, toJsonPruneReport(await executePrune(plan, { store })))
  })
}

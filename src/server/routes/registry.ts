import type { Hono } from 'hono'
import { PortwardenError } from '../../core/errors.js'
import { checkHealth } from '../../core/health/check-health.js'
import { parsePortSpec } from '../../core/port-spec.js'
import type { Protocol } from '../../core/types.js'
import { allocate } from '../../core/registry/allocator.js'
import { claimFromAllocation, detectConflicts } from '../../core/registry/conflicts.js'
import { release } from '../../core/registry/release.js'
import {
  toJsonAllocated,
  toJsonAllocation,
  toJsonConflict,
  toJsonReleased,
} from '../../core/wire.js'
import type { ServerContext } from '../context.js'
import { jsonResponse } from '../errors.js'
import {
  allocationRequestSchema,
  existingDirectory,
  healthCheckRequestSchema,
  readJsonBody,
} from '../validation.js'

const ID_PATTERN = /^[1-9][0-9]{0,14}$/

/**
 * `"port": 8080`, or a spec string (`"51820/udp"`) whose protocol stands for `"protocol"`; the
 * two may not disagree.
 */
function requestedPort(
  port: number | string | undefined,
  protocol: Protocol | undefined,
): { port: number | undefined; protocol: Protocol | undefined } {
  if (typeof port !== 'string') return { port, protocol }
  const spec = parsePortSpec(port)
  const named = /\/(tcp|udp)$/i.test(port)
  if (named && protocol !== undefined && protocol !== spec.protocol) {
    throw new PortwardenError(
      'invalid_request',
      `"port": ${JSON.stringify(port)} names ${spec.protocol.toUpperCase()}, but "protocol" is ${JSON.stringify(protocol)}.`,
      {
        hint: 'Give the protocol once: "port": "51820/udp", or "port": 51820 with "protocol": "udp".',
      },
    )
  }
  return { port: spec.from, protocol: named ? spec.protocol : protocol }
}

function allocationId(text: string): number {
  if (ID_PATTERN.test(text)) return Number(text)
  throw new PortwardenError(
    'invalid_request',
    `Invalid allocation id ${JSON.stringify(text.slice(0, 40))}: a positive whole number is expected.`,
    { details: { id: text.slice(0, 40) } },
  )
}

/**
 * The registry: GET/POST /api/allocations, DELETE /api/allocations/{id}, GET /api/conflicts,
 * POST /api/health-checks, in the shapes of `status`, `alloc` and `release` `--json`.
 */
export function registryRoutes(app: Hono, context: ServerContext): void {
  const { registry } = context

  app.get('/api/allocations', async (c) => {
    const store = await registry.existing()
    const allocations = store ? await store.list() : []
    return jsonResponse(c, {
      registry: registry.location,
      allocations: allocations.map(toJsonAllocation),
    })
  })

  app.post('/api/allocations', async (c) => {
    const body = await readJsonBody(c, allocationRequestSchema)
    const range = body.range === undefined ? undefined : parsePortSpec(body.range)
    const { port, protocol } = requestedPort(body.port, body.protocol)
    const request = {
      project: body.project,
      service: body.service,
      protocol,
      port,
      range: range && { from: range.from, to: range.to },
      pid: body.pid,
      worktree:
        body.worktree === undefined ? undefined : existingDirectory(body.worktree, 'worktree'),
    }
    const store = await registry.writable()
    const result = await allocate(store, request)
    return jsonResponse(c, toJsonAllocated(result), result.created ? 201 : 200)
  })

  app.delete('/api/allocations/:id', async (c) => {
    const id = allocationId(c.req.param('id'))
    const store = await registry.existing()
    const allocation = store ? (await store.list()).find((a) => a.id === id) : undefined
    if (!store || !allocation) {
      throw new PortwardenError('not_found', `There is no allocation with id ${id}.`, {
        hint: 'GET /api/allocations lists them.',
        details: { id },
      })
    }
    const released = await release(store, {
      project: allocation.project,
      service: allocation.service,
      protocol: allocation.protocol,
    })
    return jsonResponse(c, toJsonReleased(released))
  })

  app.get('/api/conflicts', async (c) => {
    const store = await registry.existing()
    const allocations = store ? await store.list() : []
    const report = await detectConflicts(allocations.map(claimFromAllocation))
    return jsonResponse(c, {
      registry: registry.location,
      allocations: allocations.map(toJsonAllocation),
      conflicts: report.conflicts.map(toJsonConflict),
      summary: report.summary,
      warnings: report.warnings.map((w) => w.message),
    })
  })

  app.post('/api/health-checks', async (c) => {
    const body = await readJsonBody(c, healthCheckRequestSchema, { optional: true })
    const store = await registry.existing()
    const checked = store ? await checkHealth(store, { project: body.project }) : null
    return jsonResponse(c, {
      registry: registry.location,
      allocations: (checked?.results ?? []).map((r) => toJsonAllocation(r.allocation)),
      warnings: (checked?.warnings ?? []).map((w) => w.message),
    })
  })
}

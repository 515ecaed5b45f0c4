import type { Hono } from 'hono'
import { z } from 'zod'
import { checkPort } from '../../core/check-port.js'
import { parsePortSpec } from '../../core/port-spec.js'
import { claimFromAllocation, detectConflicts } from '../../core/registry/conflicts.js'
import { listSockets } from '../../core/sockets/list-sockets.js'
import { stringifyForTerminal } from '../../core/safe-text.js'
import type { SocketEntry, SocketState } from '../../core/types.js'
import {
  renderSocketsJson,
  toJsonAllocation,
  toJsonCheck,
  toJsonConflict,
  toJsonSocket,
} from '../../core/wire.js'
import type { ServerContext } from '../context.js'
import { jsonResponse, jsonTextResponse } from '../errors.js'
import { parsePathPort, protocolSchema, queryProtocol, validate } from '../validation.js'

const STATES = [
  'ESTAB',
  'SYN-SENT',
  'SYN-RECV',
  'FIN-WAIT-1',
  'FIN-WAIT-2',
  'TIME-WAIT',
  'UNCONN',
  'CLOSE-WAIT',
  'LAST-ACK',
  'LISTEN',
  'CLOSING',
  'NEW-SYN-RECV',
] as const satisfies readonly SocketState[]

const socketsQuerySchema = z.strictObject({
  state: z.enum(STATES).optional(),
  protocol: protocolSchema.optional(),
  port: z.string().max(32).optional(),
})

/** GET /api/system/ports, /api/sockets, /api/ports/{port}: what the kernel shows, as `list`/`check`. */
export function inventoryRoutes(app: Hono, context: ServerContext): void {
  app.get('/api/system/ports', async (c) => {
    const [inventory, store] = await Promise.all([
      context.inventory.scan(),
      context.registry.existing(),
    ])
    const allocations = store ? await store.list() : []
    const report = await detectConflicts(allocations.map(claimFromAllocation))
    const byPort = new Map<string, SocketEntry[]>()
    for (const socket of inventory.sockets) {
      const key = `${socket.protocol}:${socket.localPort}`
      byPort.set(key, [...(byPort.get(key) ?? []), socket])
    }
    const managed = allocations.map((allocation) => ({
      ...toJsonAllocation(allocation),
      holders: (byPort.get(`${allocation.protocol}:${allocation.port}`) ?? []).map(toJsonSocket),
    }))
    // The listener list is rendered as text directly: at 10k sockets it is most of the answer.
    return jsonTextResponse(
      c,
      `{"listening":${renderSocketsJson(inventory.sockets)},` +
        `"managed":${stringifyForTerminal(managed)},` +
        `"conflicts":${stringifyForTerminal(report.conflicts.map(toJsonConflict))},` +
        `"server":${JSON.stringify({ port: context.serverPort(), pid: process.pid })},` +
        `"warnings":${stringifyForTerminal([...inventory.warnings, ...report.warnings].map((w) => w.message))}}`,
    )
  })

  app.get('/api/sockets', async (c) => {
    const query = validate(socketsQuerySchema, c.req.query(), 'query')
    const inventory = await listSockets({
      all: query.state !== undefined,
      protocols: query.protocol ? [query.protocol] : undefined,
      ports: query.port === undefined ? undefined : [parsePortSpec(query.port, query.protocol)],
    })
    const sockets =
      query.state === undefined
        ? inventory.sockets
        : inventory.sockets.filter((s) => s.state === query.state)
    return jsonTextResponse(c, renderSocketsJson(sockets))
  })

  app.get('/api/ports/:port', async (c) => {
    const spec = parsePathPort(c.req.param('port'), queryProtocol(c))
    const check = await checkPort(spec.from, spec.protocol)
    return jsonResponse(c, toJsonCheck(check))
  })
}

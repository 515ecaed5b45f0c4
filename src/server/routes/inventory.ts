import { once } from 'node:events'
import { createGzip } from 'node:zlib'
import type { Context, Hono } from 'hono'
import { z } from 'zod'
import { PortwardenError } from '../../core/errors.js'
import { specContains, specsForProtocols } from '../../core/port-spec.js'
import type { PortSpec } from '../../core/port-spec.js'
import { claimFromAllocation, detectConflicts } from '../../core/registry/conflicts.js'
import { listSockets } from '../../core/sockets/list-sockets.js'
import { listenersOn } from '../../core/sockets/query.js'
import type { SocketInventory } from '../../core/sockets/list-sockets.js'
import { stringifyForTerminal } from '../../shared/safe-text.js'
import { SOCKET_STATES } from '../../core/types.js'
import type { Protocol, SocketEntry } from '../../core/types.js'
import {
  renderSocketsJson,
  socketsJsonChunks,
  toJsonAllocation,
  toJsonCheck,
  toJsonConflict,
  toJsonSocket,
} from '../../core/wire.js'
import { acceptsGzip } from '../accept-encoding.js'
import type { ServerContext } from '../context.js'
import { jsonResponse, jsonTextResponse } from '../errors.js'
import { parsePathPort, protocolSchema, queryProtocol, validate } from '../validation.js'

/** `?fresh=1` asks for a scan made for this request instead of the watcher's snapshot. */
const freshSchema = z.enum(['0', '1']).optional()
/** `?all_namespaces=1`: every network namespace reachable, each socket tagged with its `netns`. */
const allNamespacesSchema = z.enum(['0', '1']).optional()

const socketsQuerySchema = z.strictObject({
  state: z.enum(SOCKET_STATES).optional(),
  protocol: protocolSchema.optional(),
  port: z.string().max(32).optional(),
  fresh: freshSchema,
  all_namespaces: allNamespacesSchema,
})

const systemPortsQuerySchema = z.strictObject({
  fresh: freshSchema,
  all_namespaces: allNamespacesSchema,
})

/**
 * One scan's listeners as JSON text, made once for every request that shares the scan: at 10k
 * sockets the text is megabytes, and fifty clients would otherwise render it fifty times.
 */
const renderedListeners = new WeakMap<SocketInventory, Buffer>()

function listenersJson(inventory: SocketInventory): Buffer {
  let bytes = renderedListeners.get(inventory)
  if (bytes === undefined) {
    bytes = Buffer.from(renderSocketsJson(inventory.sockets), 'utf8')
    renderedListeners.set(inventory, bytes)
  }
  return bytes
}

/** The last gzip of a scan's answer, by the answer's text after the listeners. */
const gzipped = new WeakMap<SocketInventory, { rest: string; body: Promise<Buffer> }>()

/**
 * The `GET /api/system/ports` document of `listening` and `rest` gzipped at level 9, once per
 * scan and tail (under load every request of a snapshot shares it, on the libuv pool). Level 4
 * compresses faster (10k sockets: 9 ms against 14; 100k: 79 against 169), but its answer is
 * 19-56% larger (74 KB against 63; 1.1 MB against 0.7), and every client reads every answer: at
 * 10k under 50 connections level 9 served 1.2x the requests, with a p99 of 42-47 ms against
 * 51-60 (bench/RESULTS.md).
 */
function gzipOnce(listening: SocketInventory, rest: string): Promise<Buffer> {
  const cached = gzipped.get(listening)
  if (cached && cached.rest === rest) return cached.body
  const body = gzipSystemPorts(listening, rest)
  gzipped.set(listening, { rest, body })
  // A failed compression is not kept: the next request of this snapshot tries again.
  body.catch(() => {
    if (gzipped.get(listening)?.body === body) gzipped.delete(listening)
  })
  return body
}

/**
 * Compresses the document as it is rendered, piece by piece (the listeners' rendered bytes when
 * a plain answer made them already): the plain text (40 MB at 100k sockets) is never whole in
 * memory for a client that takes gzip, and the event loop gets a turn between pieces.
 */
async function gzipSystemPorts(listening: SocketInventory, rest: string): Promise<Buffer> {
  const gzip = createGzip({ level: 9 })
  const out: Buffer[] = []
  gzip.on('data', (chunk: Buffer) => out.push(chunk))
  const ended = once(gzip, 'end')
  // An error rejects the `drain` awaited below too, before `ended` is awaited: not unhandled.
  ended.catch(() => undefined)
  const rendered = renderedListeners.get(listening)
  const pieces = rendered ? [rendered] : socketsJsonChunks(listening.sockets)
  gzip.write(SYSTEM_PORTS_HEAD)
  for (const piece of pieces) if (!gzip.write(piece)) await once(gzip, 'drain')
  gzip.end(rest)
  await ended
  return Buffer.concat(out)
}

/** A JSON answer made of byte chunks, sent one after the other without joining them. */
function chunkedJson(c: Context, chunks: readonly Uint8Array[]): Response {
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk)
      controller.close()
    },
  })
  return c.body(body, 200, { 'Content-Type': 'application/json; charset=utf-8' })
}

/**
 * `?port=`: as `list --port`, a port without `/tcp` or `/udp` matches every protocol asked for;
 * one naming a protocol `?protocol=` leaves out is refused, not answered with nothing.
 */
function socketsQueryPorts(text: string, protocols: readonly Protocol[]): PortSpec[] {
  const { specs, excluded } = specsForProtocols([text], protocols)
  const [first] = excluded
  if (first) {
    throw new PortwardenError(
      'invalid_request',
      `port=${first.text} names ${first.spec.protocol.toUpperCase()}, but protocol=${protocols[0]} asks for ${protocols[0]?.toUpperCase()} sockets only.`,
      { hint: 'Leave out protocol=, or give the port without a protocol to match both.' },
    )
  }
  return specs
}

const SYSTEM_PORTS_HEAD = '{"listening":'

/**
 * The `GET /api/system/ports` document in byte chunks: `listening` from `listening` (this
 * namespace's listeners, or every namespace's), the registry's rows with their holders and the
 * conflicts from `inventory` (this namespace's, where the registry's ports are bound). The event
 * stream's `ready` carries the same document, so the dashboard needs no second read.
 */
export async function systemPortsChunks(
  context: ServerContext,
  inventory: SocketInventory,
  listening: SocketInventory = inventory,
): Promise<Buffer[]> {
  const rest = await systemPortsRest(context, inventory, listening)
  return [Buffer.from(SYSTEM_PORTS_HEAD), listenersJson(listening), Buffer.from(rest, 'utf8')]
}

/** The document's text after `listening`: small, and made for each request (the registry may change). */
async function systemPortsRest(
  context: ServerContext,
  inventory: SocketInventory,
  listening: SocketInventory,
): Promise<string> {
  const store = await context.registry.existing()
  const allocations = store ? await store.list() : []
  const report = await detectConflicts(allocations.map(claimFromAllocation), { inventory })
  // The listing's listeners are indexed by port once per snapshot (not 10k sockets per request).
  const managed = allocations.map((allocation) => ({
    ...toJsonAllocation(allocation),
    holders: listenersOn(inventory.sockets, allocation.protocol, allocation.port).map(toJsonSocket),
  }))
  return (
    `,"managed":${stringifyForTerminal(managed)}` +
    `,"conflicts":${stringifyForTerminal(report.conflicts.map(toJsonConflict))}` +
    `,"server":${JSON.stringify({ port: context.serverPort(), pid: process.pid })}` +
    `,"warnings":${stringifyForTerminal(listening.warnings.map((w) => w.message))}}`
  )
}

/** GET /api/system/ports, /api/sockets, /api/ports/{port}: what the kernel shows, as `list`/`check`. */
export function inventoryRoutes(app: Hono, context: ServerContext): void {
  app.get('/api/system/ports', async (c) => {
    const query = validate(systemPortsQuerySchema, c.req.query(), 'query')
    const inventory = await context.inventory.scan({ fresh: query.fresh === '1' })
    // Other namespaces' listeners are listed, never judged against this one's registry.
    const listening =
      query.all_namespaces === '1' ? await context.inventory.scanEveryNamespace() : inventory
    // Megabytes at 10k sockets: a client that takes gzip gets the answer compressed once per
    // snapshot and registry state, shared by every request that asks for the same bytes.
    if (acceptsGzip(c.req.header('accept-encoding'))) {
      const body = await gzipOnce(listening, await systemPortsRest(context, inventory, listening))
      // A view of the shared buffer, not a copy: a copy per request (75 KB at 10k sockets) was
      // half the server's time, in the garbage collector. (zlib's output is never a shared buffer.)
      return c.body(
        new Uint8Array(body.buffer as ArrayBuffer, body.byteOffset, body.byteLength),
        200,
        {
          'Content-Type': 'application/json; charset=utf-8',
          'Content-Encoding': 'gzip',
          Vary: 'Accept-Encoding',
        },
      )
    }
    c.header('Vary', 'Accept-Encoding')
    return chunkedJson(c, await systemPortsChunks(context, inventory, listening))
  })

  app.get('/api/sockets', async (c) => {
    // `?state=&protocol=` (a form with empty fields) means no filter, not a bad one.
    const given = Object.entries(c.req.query()).filter(([, value]) => value !== '')
    const query = validate(socketsQuerySchema, Object.fromEntries(given), 'query')
    const protocols: Protocol[] = query.protocol ? [query.protocol] : ['tcp', 'udp']
    const ports = query.port === undefined ? undefined : socketsQueryPorts(query.port, protocols)
    let sockets: SocketEntry[]
    if (query.state === undefined && query.fresh !== '1' && query.all_namespaces !== '1') {
      // The listeners: the watcher's snapshot (when fresh), filtered here as list would.
      const { sockets: listening } = await context.inventory.scan()
      sockets = listening.filter(
        (s) =>
          protocols.includes(s.protocol) &&
          (ports === undefined ||
            ports.some((spec) => specContains(spec, s.protocol, s.localPort))),
      )
    } else {
      const inventory = await listSockets({
        all: query.state !== undefined,
        protocols: query.protocol ? [query.protocol] : undefined,
        ports,
        allNamespaces: query.all_namespaces === '1',
      })
      sockets =
        query.state === undefined
          ? inventory.sockets
          : inventory.sockets.filter((s) => s.state === query.state)
    }
    return jsonTextResponse(c, renderSocketsJson(sockets))
  })

  app.get('/api/ports/:port', async (c) => {
    const spec = parsePathPort(c.req.param('port'), queryProtocol(c))
    const store = await context.registry.existing()
    const allocations = store ? await store.list({}) : []
    const check = await context.inventory.check(spec.from, spec.protocol, allocations)
    const allocation = allocations.find((a) => a.port === spec.from && a.protocol === spec.protocol)
    return jsonResponse(c, toJsonCheck(check, allocation ?? null))
  })
}

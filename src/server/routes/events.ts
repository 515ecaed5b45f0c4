import type { Hono } from 'hono'
import { streamSSE } from 'hono/streaming'
import type { SSEStreamingApi } from 'hono/streaming'
import type { SocketEvent } from '../../core/watch/socket-watcher.js'
import { stringifyForTerminal } from '../../shared/safe-text.js'
import { toJsonSocket } from '../../core/wire.js'
import type { ServerContext } from '../context.js'
import { systemPortsChunks } from './inventory.js'

/**
 * GET /api/events: Server-Sent Events, `event: bind|unbind` with `data: {"time", "socket"}`, and
 * `event: ready` with the baseline (the `GET /api/system/ports` document) once the events that
 * follow are complete.
 * Every client subscribes to the one shared SocketWatcher (it polls while anyone listens), and
 * unsubscribes when its connection closes. A comment line every `heartbeatMs` keeps proxies and
 * idle timeouts from closing a quiet stream, and tells a dead client from a live one.
 */
export function eventRoutes(app: Hono, context: ServerContext): void {
  app.get('/api/events', (c) => {
    const response = streamSSE(c, async (stream) => {
      // Sends are not awaited: the watcher's callbacks must not wait for a slow client; the
      // stream's writer keeps them in order.
      const send = (event: SocketEvent) =>
        writeEvent(
          stream,
          event.event,
          stringifyForTerminal({ time: event.time, socket: toJsonSocket(event.socket) }),
        )
      // Until `ready` is written, events wait: the client replaces its list with ready's
      // baseline, and an event sent before it would be lost.
      let held: SocketEvent[] | null = []
      const onEvent = (event: SocketEvent) => (held ? held.push(event) : send(event))
      const onError = (error: unknown) =>
        writeEvent(
          stream,
          'error',
          stringifyForTerminal({ message: error instanceof Error ? error.message : String(error) }),
        )
      const unsubscribe = context.watcher.subscribe(onEvent, onError)
      const heartbeat = setInterval(() => void stream.write(': heartbeat\n\n'), context.heartbeatMs)
      context.metrics.sseClients.inc()
      const closed = new Promise<void>((resolve) => stream.onAbort(resolve))
      // Flushes the headers at once, so an EventSource or fetch sees the stream open.
      void stream.write('retry: 2000\n: connected\n\n')
      // `ready` once the watcher has its baseline, carrying it: the `GET /api/system/ports`
      // document of the snapshot the events that follow change, so the client needs no second
      // read (and one made before it could miss a change in between). An event the snapshot
      // already holds may come after it once: bind and unbind are idempotent for the client.
      void context.watcher.whenPrimed().then(async () => {
        const data = await baseline(context)
        if (!stream.aborted) writeEvent(stream, 'ready', data)
        const waiting = held ?? []
        held = null
        for (const event of waiting) send(event)
      })
      try {
        await closed
      } finally {
        clearInterval(heartbeat)
        unsubscribe()
        context.metrics.sseClients.dec()
      }
    })
    // An event stream is never cached or buffered by a proxy (streamSSE says no-cache).
    response.headers.set('Content-Type', 'text/event-stream; charset=utf-8')
    response.headers.set('Cache-Control', 'no-store')
    response.headers.set('X-Accel-Buffering', 'no')
    return response
  })
}

/**
 * Writes one event whose `data` is one line of JSON: a string, or the pieces of one document,
 * each written as it is. JSON has no raw line break (JSON.stringify and the socket renderer
 * escape CR and LF; serve-api.test.ts checks the baseline's), so one `data:` line holds it, and
 * the baseline's rendered listeners (megabytes, cached per snapshot) go onto the wire without a
 * copy per client: hono's writeSSE would join, split and encode them again for each.
 * Every piece is queued in this call, so nothing written meanwhile lands inside the event.
 */
function writeEvent(
  stream: SSEStreamingApi,
  event: string,
  data: string | readonly Uint8Array[],
): void {
  if (typeof data === 'string') {
    // A line break (none is expected) would end the field: each line gets its own `data:`.
    void stream.write(`event: ${event}\ndata: ${data.replace(/\r\n|\r|\n/g, '\ndata: ')}\n\n`)
    return
  }
  void stream.write(`event: ${event}\ndata: `)
  for (const piece of data) void stream.write(piece)
  void stream.write('\n\n')
}

/**
 * `ready`'s data: the baseline document, or `{}` when it cannot be made (a registry that is
 * locked, corrupt or unreachable): the client then reads GET /api/system/ports, whose answer says
 * what is wrong. A rejection here would end the server (an unhandled one), not one stream.
 */
async function baseline(context: ServerContext): Promise<string | readonly Uint8Array[]> {
  const inventory = context.watcher.currentInventory()
  if (!inventory) return '{}'
  try {
    return await systemPortsChunks(context, inventory)
  } catch {
    return '{}'
  }
}

import type { Hono } from 'hono'
import type { SocketEvent } from '../../core/watch/socket-watcher.js'
import { stringifyForTerminal } from '../../shared/safe-text.js'
import { toJsonSocket } from '../../core/wire.js'
import type { ServerContext } from '../context.js'

/**
 * GET /api/events: Server-Sent Events, `event: bind|unbind` with `data: {"time", "socket"}`, and
 * `event: ready` once the events that follow are complete.
 * Every client subscribes to the one shared SocketWatcher (it polls while anyone listens), and
 * unsubscribes when its connection closes. A comment line every `heartbeatMs` keeps proxies and
 * idle timeouts from closing a quiet stream, and tells a dead client from a live one.
 */
export function eventRoutes(app: Hono, context: ServerContext): void {
  app.get('/api/events', (c) => {
    const encoder = new TextEncoder()
    let cleanup: (() => void) | null = null
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        const send = (text: string) => {
          try {
            controller.enqueue(encoder.encode(text))
          } catch {
            stop()
          }
        }
        const onEvent = (event: SocketEvent) =>
          send(
            `event: ${event.event}\ndata: ${stringifyForTerminal({ time: event.time, socket: toJsonSocket(event.socket) })}\n\n`,
          )
        const onError = (error: unknown) =>
          send(
            `event: error\ndata: ${stringifyForTerminal({ message: error instanceof Error ? error.message : String(error) })}\n\n`,
          )
        const unsubscribe = context.watcher.subscribe(onEvent, onError)
        const heartbeat = setInterval(() => send(': heartbeat\n\n'), context.heartbeatMs)
        context.metrics.sseClients.inc()
        const stop = () => {
          if (cleanup === null) return
          cleanup = null
          clearInterval(heartbeat)
          unsubscribe()
          context.metrics.sseClients.dec()
        }
        cleanup = stop
        // Flushes the headers at once, so an EventSource or fetch sees the stream open.
        send(`retry: 2000\n: connected\n\n`)
        // `ready` once the watcher has its baseline: a list the client reads after it, with the
        // events that follow, is complete (one read before it could miss a change in between).
        void context.watcher.whenPrimed().then(() => {
          if (cleanup !== null) send(`event: ready\ndata: {}\n\n`)
        })
      },
      cancel() {
        cleanup?.()
      },
    })
    return c.body(body, 200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Accel-Buffering': 'no',
    })
  })
}

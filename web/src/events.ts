/**
 * `GET /api/events` (Server-Sent Events) read with fetch rather than EventSource, which cannot
 * send the Authorization header. Reconnects with a growing delay; each `ready` brings the full
 * list again, since events sent while we were away are lost.
 */
import { authHeaders } from './api.js'
import type { SocketEvent, SystemPorts } from './wire.js'

export type StreamState = 'connecting' | 'live' | 'retrying' | 'refused'

export interface EventStreamHandlers {
  onEvent: (event: SocketEvent) => void
  onState: (state: StreamState, detail: string) => void
  /**
   * The server has its baseline, and sends it (the `GET /api/system/ports` document; null from a
   * server that sends none): with the events that follow, it is complete. Sent on every
   * (re)connect, so it also covers what a break missed.
   */
  onReady: (baseline: SystemPorts | null) => void
}

const BACKOFF_MS = [1_000, 2_000, 4_000, 8_000, 15_000, 30_000]

export function followEvents(handlers: EventStreamHandlers): () => void {
  const stop = new AbortController()
  void run(handlers, stop.signal)
  return () => stop.abort()
}

async function run(handlers: EventStreamHandlers, signal: AbortSignal): Promise<void> {
  let failures = 0
  let connectedBefore = false
  while (!signal.aborted) {
    handlers.onState(connectedBefore ? 'retrying' : 'connecting', 'connecting to the event stream')
    let reason: string
    try {
      const response = await fetch('/api/events', {
        headers: { Accept: 'text/event-stream', ...authHeaders() },
        signal,
        credentials: 'omit',
        cache: 'no-store',
      })
      if (!response.ok || !response.body) {
        reason = `the event stream answered ${response.status}`
        if (response.status === 401 || response.status === 403) {
          handlers.onState(
            'refused',
            `${reason}: live updates need the token link from \`portwarden serve\``,
          )
        }
      } else {
        failures = 0
        connectedBefore = true
        handlers.onState('live', 'live: changes appear as they happen')
        await readEvents(response.body, handlers)
        reason = 'the event stream closed'
      }
    } catch (error) {
      if (signal.aborted) return
      reason = `the event stream broke (${error instanceof Error ? error.message : String(error)})`
    }
    const delay = BACKOFF_MS[Math.min(failures, BACKOFF_MS.length - 1)] as number
    failures++
    handlers.onState('retrying', `${reason}; retrying in ${Math.round(delay / 1000)} s`)
    await sleep(delay, signal)
  }
}

/** The SSE wire format: `event:` and `data:` lines, a blank line ends one event. */
async function readEvents(
  body: ReadableStream<Uint8Array>,
  handlers: EventStreamHandlers,
): Promise<void> {
  const reader = body.getReader()
  const decoder = new TextDecoder()
  let buffer = ''
  let type = 'message'
  let data: string[] = []
  for (;;) {
    const { value, done } = await reader.read()
    if (done) return
    const text = decoder.decode(value, { stream: true })
    buffer += text
    // `ready` carries megabytes in one line: split only once a line has ended.
    if (!/[\r\n]/.test(text)) continue
    const lines = buffer.split(/\r\n|\r|\n/)
    buffer = lines.pop() ?? ''
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) dispatch(type, data.join('\n'), handlers)
        type = 'message'
        data = []
      } else if (line.startsWith('event:')) {
        type = line.slice(6).trim()
      } else if (line.startsWith('data:')) {
        data.push(line.slice(line.startsWith('data: ') ? 6 : 5))
      }
      // `:` comments (keep-alives), `id:` and `retry:` need nothing here
    }
  }
}

function dispatch(type: string, data: string, handlers: EventStreamHandlers): void {
  if (type === 'ready') handlers.onReady(baselineOf(data))
  if (type !== 'bind' && type !== 'unbind') return
  try {
    const parsed = JSON.parse(data) as { socket?: SocketEvent['socket'] }
    if (parsed.socket) handlers.onEvent({ event: type, socket: parsed.socket })
  } catch {
    // a malformed event is skipped; the next full reload corrects the list
  }
}

function baselineOf(data: string): SystemPorts | null {
  try {
    const parsed = JSON.parse(data) as Partial<SystemPorts>
    return Array.isArray(parsed.listening) ? (parsed as SystemPorts) : null
  } catch {
    return null
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => {
      clearTimeout(timer)
      resolve()
    })
  })
}

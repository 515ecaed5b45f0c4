/**
 * The dashboard: one load of `GET /api/system/ports`, then live changes from the event stream.
 * Reading works without the token on loopback; acting (free, health checks) needs it.
 */
import { createRegistryView } from './allocations.js'
import { ApiError, api } from './api.js'
import { byId, el, foreignText } from './dom.js'
import { followEvents } from './events.js'
import { createFreeDialog } from './free-dialog.js'
import { createListenersTable } from './listeners.js'
import { createPortBox } from './port-box.js'
import { createPruneDialog } from './prune-dialog.js'
import { TOKEN_NEEDED, adoptTokenFromUrl, currentToken } from './token.js'
import type { SocketEvent, SystemPorts } from './wire.js'

const UPTIME_TICK_MS = 30_000

adoptTokenFromUrl()

const freeDialog = createFreeDialog()
const listeners = createListenersTable(
  (socket) => freeDialog.open({ port: socket.local_port, protocol: socket.protocol }),
  () => void load(),
)
const pruneDialog = createPruneDialog()
const registry = createRegistryView(load, (projects) => pruneDialog.open(projects))
const portBox = createPortBox((target) => freeDialog.open(target))

const banner = byId('banner')
const streamState = byId('stream-state')
const serverInfo = byId('server-info')

if (currentToken() === null) {
  banner.replaceChildren(
    el('p', { class: 'notice', attrs: { id: 'read-only-notice' } }, ['Read-only. ', TOKEN_NEEDED]),
  )
}

byId('app').replaceChildren(
  portBox,
  listeners.element,
  registry.element,
  freeDialog.element,
  pruneDialog.element,
)

/**
 * Events that arrive while the full list loads wait for it and are applied on top: the stream is
 * opened first, so nothing that changes after the list was read is lost.
 */
let waiting: SocketEvent[] | null = null

function apply(event: SocketEvent): void {
  if (waiting) waiting.push(event)
  else if (event.event === 'bind') listeners.bind(event.socket)
  else listeners.unbind(event.socket)
}

/** Shows a `GET /api/system/ports` document, then the events that came while it was read. */
function show(ports: SystemPorts): void {
  listeners.replaceAll(ports.listening)
  const missed = waiting ?? []
  waiting = null
  for (const event of missed) apply(event)
  registry.show(ports.managed, ports.conflicts)
  serverInfo.textContent = `serve pid ${ports.server.pid}, port ${ports.server.port}`
  byId('scan-warnings').replaceChildren(
    ...(ports.warnings ?? []).map((warning) => el('li', {}, [foreignText(warning)])),
  )
  document.body.dataset.loaded = 'true'
}

/**
 * Which list is the current one: each read, and each `ready` baseline shown, takes the next
 * number, and a read's answer is shown (or its failure told) only while its number is the last.
 * A read begun before a reconnect's `ready`, or before the namespaces box changed, answers with
 * an older list than the one shown and would undo the events applied on top of it.
 */
let generation = 0
/** Reads answered, shown or dropped (`data-list-reads`, for the browser tests). */
let answered = 0

async function load(): Promise<void> {
  const mine = ++generation
  waiting ??= []
  try {
    const ports = await api<SystemPorts>(
      listeners.allNamespaces() ? '/api/system/ports?all_namespaces=1' : '/api/system/ports',
    )
    if (mine === generation) show(ports)
  } catch (error) {
    if (mine !== generation) return
    waiting = null
    const message = error instanceof ApiError ? error.message : String(error)
    const hint = error instanceof ApiError && error.status === 401 ? ` ${TOKEN_NEEDED}` : ''
    banner.replaceChildren(
      el('p', { class: 'error', attrs: { role: 'alert' } }, [
        `Could not load the listeners: ${message}${hint}`,
      ]),
    )
  } finally {
    document.body.dataset.listReads = String(++answered)
  }
}

// The list is read once the event stream says its baseline is taken, so no change falls between
// the two; without a stream (refused, or down) it is read anyway, once.
let loadedWithoutStream = false
followEvents({
  onEvent: apply,
  onState: (state, detail) => {
    streamState.dataset.state = state
    streamState.textContent =
      state === 'live' ? 'live' : state === 'refused' ? 'not live' : 'reconnecting…'
    streamState.title = detail
    if ((state === 'refused' || state === 'retrying') && !loadedWithoutStream) {
      loadedWithoutStream = true
      void load()
    }
  },
  // The baseline comes with `ready`, and is shown as it is in this namespace's view. It does not
  // fit the all-namespaces view: it is the server's watcher's snapshot, which (like the events)
  // covers the server's own namespace only (routes/events.ts takes it with `listening` =
  // that snapshot, never `?all_namespaces=1`'s scan), so showing it there would drop every other
  // namespace's rows until the next read. That view reads `?all_namespaces=1` instead, and the
  // events (this namespace's) are applied on top.
  onReady: (baseline) => {
    // Events waiting for a read came on the connection before this one (the server sends this
    // stream's own only after ready): older than the list shown next, and one of them could
    // bring back a socket that closed while the stream was down.
    waiting = null
    if (baseline && !listeners.allNamespaces()) {
      generation++
      show(baseline)
    } else void load()
  },
})

setInterval(() => listeners.refresh(), UPTIME_TICK_MS)

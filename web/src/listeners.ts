/**
 * The listeners table: filter, sortable columns, live rows. Rows are kept by socket key; a new
 * one is highlighted for a few seconds, a gone one is struck through briefly before it leaves.
 */
import { el, foreignString, foreignText } from './dom.js'
import { duration, endpoint, hostOf, protocolLabel, uptimeSeconds } from './format.js'
import type { WireSocket } from './wire.js'
import { socketKey } from './wire.js'

const HIGHLIGHT_MS = 4_000
const GONE_MS = 1_500
/** Past this many matching rows the table shows the first ones and asks for a filter. */
const MAX_ROWS = 500

type Column =
  'namespace' | 'protocol' | 'address' | 'port' | 'process' | 'user' | 'container' | 'uptime'

interface ColumnSpec {
  id: Column
  label: string
  compare: (a: WireSocket, b: WireSocket, now: number) => number
}

const text = (a: string, b: string) => a.localeCompare(b)
const firstHolder = (s: WireSocket) => s.processes[0]
const COLUMNS: ColumnSpec[] = [
  {
    id: 'protocol',
    label: 'Protocol',
    compare: (a, b) => text(protocolLabel(a), protocolLabel(b)),
  },
  { id: 'address', label: 'Address', compare: (a, b) => text(a.local_address, b.local_address) },
  { id: 'port', label: 'Port', compare: (a, b) => a.local_port - b.local_port },
  {
    id: 'process',
    label: 'Process',
    compare: (a, b) => text(firstHolder(a)?.name ?? '\uffff', firstHolder(b)?.name ?? '\uffff'),
  },
  { id: 'user', label: 'User', compare: (a, b) => text(a.user, b.user) },
  {
    id: 'container',
    label: 'Container',
    compare: (a, b) => text(containerOf(a) ?? '\uffff', containerOf(b) ?? '\uffff'),
  },
  {
    id: 'uptime',
    label: 'Uptime',
    compare: (a, b, now) => (uptimeSeconds(a, now) ?? -1) - (uptimeSeconds(b, now) ?? -1),
  },
]

/** Shown when the listing covers every network namespace (`?all_namespaces=1`). */
const NAMESPACE_COLUMN: ColumnSpec = {
  id: 'namespace',
  label: 'Namespace',
  compare: (a, b) => text(namespaceOf(a), namespaceOf(b)),
}

/** `host` (the server's own), the ip-netns or container name, a container's short id, or the inode. */
function namespaceOf(socket: WireSocket): string {
  const netns = socket.netns
  if (!netns || netns.host) return 'host'
  return netns.name ?? netns.container_id?.slice(0, 12) ?? String(netns.inode)
}

function elsewhere(socket: WireSocket): boolean {
  return socket.netns !== undefined && !socket.netns.host
}

function containerOf(socket: WireSocket): string | null {
  return socket.processes.find((p) => p.container)?.container ?? null
}

/** The id and address of the container a holder stands for (docker-proxy, dockerd), if named. */
function containerDetails(socket: WireSocket): { id: string | null; address: string | null } {
  const holder = socket.processes.find((p) => p.kind === 'process' && p.container)
  return holder?.kind === 'process'
    ? { id: holder.container_id ?? null, address: holder.container_address ?? null }
    : { id: null, address: null }
}

function haystack(socket: WireSocket): string {
  const parts = [
    protocolLabel(socket),
    socket.state,
    endpoint(socket.local_address, socket.local_port),
    String(socket.local_port),
    socket.user,
  ]
  if (socket.netns) parts.push(namespaceOf(socket))
  for (const p of socket.processes)
    parts.push(p.name, String(p.pid), p.command, p.user, p.container ?? '')
  const { id, address } = containerDetails(socket)
  parts.push(id ?? '', address ?? '')
  return parts.join(' ').toLowerCase()
}

/** `title`: the full container id and where its traffic goes. */
function containerTitle(socket: WireSocket): { title?: string } {
  const { id, address } = containerDetails(socket)
  const parts = [id ? `id ${id}` : '', address ? `→ ${address}` : ''].filter(Boolean)
  return parts.length > 0 ? { title: foreignString(parts.join(' ')) } : {}
}

export interface ListenersTable {
  element: HTMLElement
  replaceAll(sockets: readonly WireSocket[]): void
  bind(socket: WireSocket): void
  unbind(socket: WireSocket): void
  /** Re-renders (uptimes move on). */
  refresh(): void
  /** Whether the user asked for every network namespace (the list to load then says so). */
  allNamespaces(): boolean
}

export function createListenersTable(
  onFree: (socket: WireSocket) => void,
  onNamespacesChange: (allNamespaces: boolean) => void,
): ListenersTable {
  const sockets = new Map<string, WireSocket>()
  const fresh = new Map<string, number>()
  const gone = new Map<string, number>()
  let sortBy: Column = 'port'
  let ascending = true
  let filter = ''
  let scheduled = false
  let showNamespaces = false
  const columns = () => (showNamespaces ? [NAMESPACE_COLUMN, ...COLUMNS] : COLUMNS)

  const namespacesBox = el('input', {
    attrs: { id: 'all-namespaces', type: 'checkbox' },
    on: {
      change: () => {
        showNamespaces = namespacesBox.checked
        if (!showNamespaces && sortBy === 'namespace') sortBy = 'port'
        renderHeader()
        schedule()
        onNamespacesChange(showNamespaces)
      },
    },
  })

  const filterBox = el('input', {
    attrs: {
      id: 'listener-filter',
      type: 'search',
      placeholder: 'port, address, process, pid, user…',
      autocomplete: 'off',
      spellcheck: 'false',
    },
    on: {
      input: () => {
        filter = filterBox.value.trim().toLowerCase()
        schedule()
      },
    },
  })
  const count = el('p', { class: 'count', attrs: { id: 'listener-count', 'aria-live': 'polite' } })
  const headerRow = el('tr')
  const body = el('tbody', { attrs: { id: 'listener-rows' } })
  const table = el(
    'table',
    { class: 'listeners', attrs: { 'aria-describedby': 'listener-count' } },
    [
      el('caption', { class: 'visually-hidden' }, [
        'Listening sockets and the processes holding them',
      ]),
      el('thead', {}, [headerRow]),
      body,
    ],
  )
  const element = el('section', { attrs: { 'aria-labelledby': 'listeners-title' } }, [
    el('div', { class: 'section-head' }, [
      el('h2', { attrs: { id: 'listeners-title' } }, ['Listeners']),
      el('label', { class: 'filter' }, [el('span', {}, ['Filter']), filterBox]),
      el('label', { class: 'toggle' }, [namespacesBox, el('span', {}, ['All network namespaces'])]),
    ]),
    count,
    el('div', { class: 'table-wrap' }, [table]),
  ])

  function renderHeader(): void {
    headerRow.replaceChildren(
      ...columns().map((column) => {
        const active = column.id === sortBy
        return el(
          'th',
          {
            attrs: {
              scope: 'col',
              'aria-sort': active ? (ascending ? 'ascending' : 'descending') : 'none',
            },
          },
          [
            el(
              'button',
              {
                class: 'sort',
                attrs: { type: 'button', 'data-column': column.id },
                on: {
                  click: () => {
                    ascending = column.id === sortBy ? !ascending : true
                    sortBy = column.id
                    renderHeader()
                    schedule()
                  },
                },
              },
              [
                column.label,
                el('span', { class: 'sort-mark', attrs: { 'aria-hidden': 'true' } }, [
                  active ? (ascending ? '▲' : '▼') : '',
                ]),
              ],
            ),
          ],
        )
      }),
      el('th', { attrs: { scope: 'col' } }, [
        el('span', { class: 'visually-hidden' }, ['Actions']),
      ]),
    )
  }

  function row(socket: WireSocket, key: string, now: number): HTMLTableRowElement {
    const uptime = uptimeSeconds(socket, now)
    const container = containerOf(socket)
    const details = containerDetails(socket)
    const holders =
      socket.processes.length === 0
        ? [el('span', { class: 'muted' }, ['not visible (another user or namespace)'])]
        : socket.processes.map((p) =>
            p.kind === 'kernel'
              ? // No process holds it (every task was seen): the kernel, and how to release it.
                el('div', { class: 'holder kernel' }, [
                  el('span', { class: 'name' }, ['kernel']),
                  ' ',
                  foreignText(p.description),
                  ...(p.fix
                    ? [el('div', { class: 'command' }, [foreignText(`fix: ${p.fix}`)])]
                    : []),
                ])
              : el('div', { class: 'holder' }, [
                  el('span', { class: 'name' }, [foreignText(p.name)]),
                  ' ',
                  el('span', { class: 'pid' }, [`pid ${p.pid}`]),
                  el('div', { class: 'command', attrs: { title: foreignString(p.command) } }, [
                    foreignText(p.command),
                  ]),
                ]),
          )
    const first = socket.processes[0]
    const freeLabel = `Free port ${socket.local_port}/${socket.protocol}${first ? `, held by ${foreignString(first.name)} (pid ${first.pid})` : ''}`
    const classes = [fresh.has(key) ? 'fresh' : '', gone.has(key) ? 'gone' : '']
      .filter(Boolean)
      .join(' ')
    return el(
      'tr',
      {
        class: classes,
        attrs: {
          'data-key': key,
          'data-port': String(socket.local_port),
          'data-protocol': socket.protocol,
        },
      },
      [
        ...(showNamespaces
          ? [el('td', { attrs: { 'data-label': 'Namespace' } }, [foreignText(namespaceOf(socket))])]
          : []),
        el('td', { attrs: { 'data-label': 'Protocol' } }, [protocolLabel(socket)]),
        el('td', { class: 'mono', attrs: { 'data-label': 'Address' } }, [
          hostOf(socket.local_address),
        ]),
        el('td', { class: 'num', attrs: { 'data-label': 'Port' } }, [String(socket.local_port)]),
        el('td', { class: 'holders', attrs: { 'data-label': 'Process' } }, holders),
        el('td', { attrs: { 'data-label': 'User' } }, [
          foreignText(socket.processes[0]?.user ?? socket.user),
        ]),
        el('td', { attrs: { 'data-label': 'Container', ...containerTitle(socket) } }, [
          container ? foreignText(container) : el('span', { class: 'muted' }, ['—']),
          // The short id as `docker ps` shows it, once the Docker Engine named the container.
          ...(container && details.id
            ? [
                ' ',
                el('span', { class: 'muted mono container-id' }, [
                  foreignText(details.id.slice(0, 12)),
                ]),
              ]
            : []),
        ]),
        el('td', { class: 'num', attrs: { 'data-label': 'Uptime' } }, [
          uptime === null ? '—' : duration(uptime),
        ]),
        el('td', { class: 'actions' }, [
          gone.has(key)
            ? el('span', { class: 'muted' }, ['gone'])
            : elsewhere(socket)
              ? // free stops the holder of a port in the server's namespace, not in this one.
                el(
                  'span',
                  {
                    class: 'muted',
                    attrs: { title: 'In another network namespace: Free acts on the server’s own' },
                  },
                  ['—'],
                )
              : el(
                  'button',
                  {
                    class: 'danger',
                    attrs: { type: 'button', 'aria-label': freeLabel },
                    on: { click: () => onFree(socket) },
                  },
                  ['Free…'],
                ),
        ]),
      ],
    )
  }

  function render(): void {
    scheduled = false
    const now = Date.now()
    const column = columns().find((c) => c.id === sortBy) as ColumnSpec
    const sign = ascending ? 1 : -1
    const matching = [...sockets.entries()]
      .filter(([, socket]) => filter === '' || haystack(socket).includes(filter))
      .sort(([, a], [, b]) => sign * column.compare(a, b, now) || a.local_port - b.local_port)
    const shown = matching.slice(0, MAX_ROWS)
    body.replaceChildren(...shown.map(([key, socket]) => row(socket, key, now)))
    if (shown.length === 0) {
      body.append(
        el('tr', { class: 'empty' }, [
          el('td', { attrs: { colspan: String(columns().length + 1) } }, [
            sockets.size === 0 ? 'No listening sockets.' : 'No listener matches the filter.',
          ]),
        ]),
      )
    }
    const live = [...sockets.keys()].filter((key) => !gone.has(key)).length
    count.textContent =
      matching.length > shown.length
        ? `Showing ${shown.length} of ${matching.length} matching listeners (${live} in all): refine the filter to see the rest.`
        : filter === ''
          ? `${live} listening socket${live === 1 ? '' : 's'}`
          : `${matching.length} of ${live} listening sockets match`
  }

  function schedule(): void {
    if (scheduled) return
    scheduled = true
    requestAnimationFrame(render)
  }

  renderHeader()
  render()

  return {
    element,
    replaceAll(list) {
      sockets.clear()
      fresh.clear()
      gone.clear()
      for (const socket of list) sockets.set(socketKey(socket), socket)
      schedule()
    },
    bind(socket) {
      const key = socketKey(socket)
      sockets.set(key, socket)
      gone.delete(key)
      fresh.set(key, Date.now())
      setTimeout(() => {
        fresh.delete(key)
        schedule()
      }, HIGHLIGHT_MS)
      schedule()
    },
    unbind(socket) {
      const key = socketKey(socket)
      if (!sockets.has(key)) return
      fresh.delete(key)
      gone.set(key, Date.now())
      setTimeout(() => {
        if (!gone.has(key)) return
        gone.delete(key)
        sockets.delete(key)
        schedule()
      }, GONE_MS)
      schedule()
    },
    refresh: schedule,
    allNamespaces: () => showNamespaces,
  }
}

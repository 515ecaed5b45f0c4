import type { Command } from 'commander'
import type { PortSpec } from '../../core/port-spec.js'
import type { Protocol, SocketEntry } from '../../core/types.js'
import type { SocketEvent } from '../../core/watch/socket-watcher.js'
import { formatEndpoint } from '../../core/addresses.js'
import { PortwardenError } from '../../core/errors.js'
import { parseDuration } from '../../core/free/options.js'
import { displayName } from '../../core/messages.js'
import { SocketWatcher, socketIdentity } from '../../core/watch/socket-watcher.js'
import { toJsonSocket } from '../../core/wire.js'
import type { CliContext } from '../cli-context.js'
import type { GlobalOptions } from '../command-result.js'
import { parseBackend, parseSpecs } from '../parse-options.js'
import { renderTable } from '../render/human.js'
import { fitToWidth } from '../render/display-width.js'
import type { Style } from '../render/style.js'
import { stringifyForTerminal } from '../../shared/safe-text.js'

export interface WatchCommandOptions extends GlobalOptions {
  interval?: string
  tcp?: boolean
  udp?: boolean
}

const MIN_INTERVAL_MS = 100

/**
 * `watch`: listening sockets as they come and go, until SIGINT/SIGTERM (exit 0).
 * - `--json`: one `{"event","time","socket"}` object per line on stdout;
 * - a terminal: a table redrawn in place, new rows marked `+` and removed ones `-` for one refresh;
 * - otherwise (a pipe, a file): one line per event.
 */
export async function watch(
  specTexts: string[],
  options: WatchCommandOptions,
  style: Style,
): Promise<void> {
  const ports = specTexts.length > 0 ? parseSpecs(specTexts) : undefined
  const intervalMs = parseDuration(options.interval ?? '1s', '--interval')
  if (intervalMs < MIN_INTERVAL_MS) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid --interval ${JSON.stringify(options.interval)}: at least ${MIN_INTERVAL_MS}ms.`,
      {
        hint: 'Example: --interval 1s (a poll reads the socket tables; far shorter intervals only cost CPU).',
      },
    )
  }
  const protocols: Protocol[] | undefined =
    options.tcp && !options.udp ? ['tcp'] : options.udp && !options.tcp ? ['udp'] : undefined
  const watcher = new SocketWatcher({
    ports,
    protocols,
    intervalMs,
    backend: parseBackend(options.backend),
  })
  await watcher.poll() // the baseline; errors here (no /proc, no lsof) end the command at once

  const stop = new AbortController()
  const onSignal = () => stop.abort()
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    // The baseline is taken: from here on every change is reported (scripts may wait for this line).
    const live = !options.json && process.stdout.isTTY === true
    if (!live) {
      const count = watcher.snapshot().length
      const scope = ports ? ` on ${specTexts.join(' ')}` : ''
      process.stderr.write(
        `watching ${count} listening socket${count === 1 ? '' : 's'}${scope} every ${formatInterval(intervalMs)}${options.json ? '' : '; one line per change'} (Ctrl-C to stop)\n`,
      )
    }
    const view = options.json
      ? jsonView()
      : live
        ? liveTable(watcher, { ports, intervalMs, style })
        : eventLines()
    await new Promise<void>((resolve, reject) => {
      const unsubscribe = watcher.subscribe(view.onEvent, (error) => {
        unsubscribe()
        view.close()
        reject(error)
      })
      stop.signal.addEventListener('abort', () => {
        unsubscribe()
        view.close()
        resolve()
      })
    })
  } finally {
    process.removeListener('SIGINT', onSignal)
    process.removeListener('SIGTERM', onSignal)
  }
}

interface View {
  onEvent(event: SocketEvent): void
  close(): void
}

/** JSON lines: `{"event":"bind","time":"...","socket":{...}}`. */
function jsonView(): View {
  return {
    onEvent: (event) => {
      process.stdout.write(
        `${stringifyForTerminal({ event: event.event, time: event.time, socket: toJsonSocket(event.socket) })}\n`,
      )
    },
    close: () => {},
  }
}

/** For a pipe or a file: `2026-11-22T10:00:01Z bind   tcp  127.0.0.1:8080  node[4242] dev  node server.js`. */
function eventLines(): View {
  return {
    onEvent: (event) => {
      const s = event.socket
      const time = event.time.replace(/\.\d{3}Z$/, 'Z')
      const fields = [
        time,
        event.event.padEnd(6),
        (s.family === 'ipv6' ? `${s.protocol}6` : s.protocol).padEnd(4),
        formatEndpoint(s.localAddress, s.localPort),
        processCell(s),
        displayName(s.processes[0]?.user ?? s.user),
        displayName(s.processes[0]?.command ?? ''),
      ]
      process.stdout.write(`${fields.join('  ').trimEnd()}\n`)
    },
    close: () => {},
  }
}

/**
 * The terminal view: the screen is cleared once, then the table is redrawn from the top left
 * (each line cleared to its end, then the rest of the screen), so nothing flickers. A change
 * is marked for one refresh: `+` for a new socket, `-` for one that went away.
 */
function liveTable(
  watcher: SocketWatcher,
  options: { ports: readonly PortSpec[] | undefined; intervalMs: number; style: Style },
): View {
  const out = process.stdout
  const { style } = options
  let added = new Set<string>()
  let removed: SocketEntry[] = []
  let lastChange: Date | null = null
  let pending = false
  let batch = ''
  let expiry: NodeJS.Timeout | null = null

  const draw = () => {
    pending = false
    const screen = liveScreen({
      sockets: watcher.snapshot(),
      added,
      removed,
      lastChange,
      width: out.columns || 120,
      height: out.rows || 40,
      ports: options.ports,
      intervalMs: options.intervalMs,
      style,
    })
    out.write(`\u001b[H${screen.map((line) => `${line}\u001b[K`).join('\n')}\n\u001b[J`)
  }
  const redrawSoon = () => {
    if (pending) return
    pending = true
    setImmediate(draw)
  }
  const onResize = () => redrawSoon()
  const restoreCursor = () => out.write('\u001b[?25h')

  out.write('\u001b[?25l\u001b[2J\u001b[H')
  process.on('exit', restoreCursor)
  out.on('resize', onResize)
  draw()

  return {
    onEvent: (event) => {
      // The events of one poll share its time: the first of a new poll replaces the old marks.
      if (event.time !== batch) {
        batch = event.time
        added = new Set()
        removed = []
      }
      const id = socketIdentity(event.socket)
      if (event.event === 'bind') added.add(id)
      else removed.push(event.socket)
      lastChange = new Date(event.time)
      if (expiry !== null) clearTimeout(expiry)
      // The marks stay for one refresh, then the table is drawn again without them.
      expiry = setTimeout(() => {
        expiry = null
        added = new Set()
        removed = []
        redrawSoon()
      }, options.intervalMs)
      expiry.unref()
      redrawSoon()
    },
    close: () => {
      if (expiry !== null) clearTimeout(expiry)
      out.removeListener('resize', onResize)
      restoreCursor()
      process.removeListener('exit', restoreCursor)
    },
  }
}

interface LiveScreenState {
  sockets: readonly SocketEntry[]
  /** Sockets new since the last refresh (by `socketIdentity`), marked `+`. */
  added: ReadonlySet<string>
  /** Sockets gone since the last refresh, shown once more marked `-`. */
  removed: readonly SocketEntry[]
  lastChange: Date | null
  width: number
  height: number
  ports: readonly PortSpec[] | undefined
  intervalMs: number
  style: Style
}

/** The lines of one frame: a header, then the table cut to the screen's height. */
function liveScreen(state: LiveScreenState): string[] {
  const { sockets, style, width } = state
  const filter = state.ports
    ? ` on ${state.ports.map((p) => (p.from === p.to ? `${p.from}` : `${p.from}-${p.to}`) + (p.protocol === 'udp' ? '/udp' : '')).join(', ')}`
    : ''
  const changed = state.lastChange
    ? `last change ${state.lastChange.toLocaleTimeString()}`
    : 'no change yet'
  const header = `portwarden watch${filter}: ${sockets.length} listening socket${sockets.length === 1 ? '' : 's'}, every ${formatInterval(state.intervalMs)}, ${changed}  (Ctrl-C to quit)`
  const rows = [
    ...sockets.map((s) => [state.added.has(socketIdentity(s)) ? '+' : ' ', ...cells(s)]),
    ...state.removed.map((s) => ['-', ...cells(s)]),
  ]
  const table = renderTable(
    [['', 'PROTO', 'STATE', 'LOCAL', 'PROCESS', 'USER', 'COMMAND'], ...rows],
    width,
  ).split('\n')
  const room = Math.max(1, state.height - 3)
  const shown =
    table.length > room
      ? [
          ...table.slice(0, room - 1),
          `… and ${table.length - room + 1} more (widen the window or filter by port)`,
        ]
      : table
  return [
    style.bold(fitToWidth(header, width)),
    '',
    ...shown.map((line, i) => {
      if (i === 0) return style.dim(line)
      if (line.startsWith('+')) return style.pass(line)
      if (line.startsWith('-')) return style.fail(line)
      return line
    }),
  ]
}

function cells(s: SocketEntry): string[] {
  return [
    s.family === 'ipv6' ? `${s.protocol}6` : s.protocol,
    s.state,
    formatEndpoint(s.localAddress, s.localPort),
    processCell(s),
    displayName(s.processes[0]?.user ?? s.user),
    displayName(s.processes[0]?.command ?? ''),
  ]
}

function processCell(socket: SocketEntry): string {
  if (socket.processes.length === 0) return `? (uid ${socket.uid})`
  const byName = new Map<string, number[]>()
  for (const holder of socket.processes) {
    const name = displayName(holder.name)
    byName.set(name, [...(byName.get(name) ?? []), holder.pid])
  }
  return [...byName].map(([name, pids]) => `${name}[${pids.join(',')}]`).join(' ')
}

function formatInterval(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : ms < 1000 ? `${ms} ms` : `${ms / 1000} s`
}

export function registerWatch(program: Command, cli: CliContext): void {
  cli
    .common(
      program
        .command('watch')
        .description(
          'live view of listening sockets; --json streams one bind/unbind event per line',
        )
        .argument('[spec...]', 'only these ports: 8080, 8080/tcp, 51820/udp, 8000-8010')
        .option('--interval <duration>', 'time between two looks at the socket tables', '1s')
        .option('--tcp', 'TCP listeners only')
        .option('--udp', 'bound UDP sockets only')
        .addHelpText(
          'after',
          [
            '',
            'On a terminal: a table redrawn in place, new sockets marked + and closed ones - for one refresh.',
            'Piped: one line per change. --json: one {"event": "bind"|"unbind", "time", "socket"} per line.',
            'Runs until Ctrl-C (SIGINT) or SIGTERM, then exits 0. Sockets opened and closed within one',
            'interval are not seen.',
          ].join('\n'),
        ),
    )
    // Streams until interrupted, then exits 0: no final document, so main prints nothing more.
    .action((specs: string[], options: WatchCommandOptions) =>
      watch(specs, cli.globals(options), cli.stdout),
    )
}

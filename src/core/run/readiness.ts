import { probeEveryAddress } from '../bind-probe.js'
import { ProcessReader, isDescendantOf, scanSocketHolders } from '../process/read-process.js'
import { listSockets } from '../sockets/list-sockets.js'
import { isListening } from '../sockets/query.js'
import type { Holder, Protocol, SocketEntry } from '../types.js'
import type { PortConflict } from './port-conflicts.js'
import { TrackedTree } from '../process/tree.js'
import type { RunPort } from './run-env.js'
import { formatRunPorts, formatWait } from './run-env.js'

/** A declared port and our process(es) listening on it. */
export interface PortListener {
  port: RunPort
  sockets: SocketEntry[]
  holders: Holder[]
}

export type Readiness =
  /** Every declared port is listened on by the service or one of its descendants. */
  | { state: 'ready'; listeners: PortListener[]; elapsedMs: number }
  /** Someone else took a declared port between the preflight and the service's bind. */
  | { state: 'conflict'; conflicts: PortConflict[] }
  /** The service exited before it listened on every declared port. */
  | { state: 'exited'; missing: RunPort[] }
  /**
   * The time ran out: `missing` never came up, `listening` are the declared ports that did,
   * `elsewhere` the ports the service listens on instead.
   */
  | { state: 'timeout'; missing: RunPort[]; listening: PortListener[]; elsewhere: SocketEntry[] }

/** Where a wait stands, for a progress line: the declared ports up and not up yet. */
export interface WaitProgress {
  service: string
  listening: RunPort[]
  missing: RunPort[]
  elapsedMs: number
  timeoutMs: number
}

/** The process being watched, as the supervisor sees it. */
export interface WatchedChild {
  pid: number
  /** Resolves when it exits. */
  exited: Promise<unknown>
  hasExited(): boolean
  /** It exited with a non-zero code or died of a signal, and not because of a signal we relayed. */
  failed(): boolean
}

export interface ReadinessOptions {
  service: string
  timeoutMs: number
  procRoot?: string
  /**
   * Every process seen in the service's tree so far (default: a new record of the child's). A
   * process that was once ours stays ours after it is reparented (a worker whose parent exited).
   */
  tree?: TrackedTree
  /** How to name the outside holders of a port in the conflict sentence. */
  nameOwners(port: RunPort, sockets: SocketEntry[]): Promise<string[]>
  /** A progress line for people (e.g. "web listens on 8081, not 8080; still waiting"). */
  onNote?(text: string): void
  /**
   * Once the wait has lasted `WAIT_NOTICE_MS`, called after every look with where it stands;
   * with null when the wait is over (a live display clears itself then).
   */
  onProgress?(progress: WaitProgress | null): void
}

/** How long a child that failed early gets before we decide nobody else took its port. */
const RACE_GRACE_MS = 1000
/** How long a wrong-port state must hold before we mention it (a service may open ports in turn). */
const WRONG_PORT_NOTICE_MS = 2000
/** How long an outside listener must stay to count as having taken a port. */
const PERSIST_MS = 100
/** How long a wait stays quiet: a service that is up sooner needs no word about waiting. */
export const WAIT_NOTICE_MS = 1000

/**
 * Polls the socket tables until the child listens on every declared port, or not. A wait that
 * lasts says so once (what it waits for, and which ports are up already) and reports progress.
 */
export async function waitUntilListening(
  ports: readonly RunPort[],
  child: WatchedChild,
  options: ReadinessOptions,
): Promise<Readiness> {
  let progressing = false
  const onProgress = (progress: WaitProgress) => {
    progressing = true
    options.onProgress?.(progress)
  }
  const tree = options.tree ?? new TrackedTree(child.pid, options.procRoot)
  try {
    return await poll(ports, child, { ...options, tree }, onProgress)
  } finally {
    if (progressing) options.onProgress?.(null)
  }
}

async function poll(
  ports: readonly RunPort[],
  child: WatchedChild,
  options: ReadinessOptions,
  onProgress: (progress: WaitProgress) => void,
): Promise<Readiness> {
  const started = performance.now()
  const deadline = started + options.timeoutMs
  const notes: WaitNotes = {
    started,
    deadline,
    announced: false,
    noticed: false,
    wrongPortSince: null,
    wrongPortKey: '',
  }
  // Ports seen listened on at least once: a service that exits after binding did listen there.
  const listened = new Set<string>()
  for (;;) {
    const exitedBefore = child.hasExited()
    const view = await observe(ports, child.pid, options)
    const foreign = await foreignHolders(ports, view, options)
    if (foreign.length > 0) return { state: 'conflict', conflicts: foreign }
    for (const k of view.ours.keys()) listened.add(k)
    const missing = ports.filter((port) => view.ours.get(key(port)) === undefined)
    if (missing.length === 0) {
      return {
        state: 'ready',
        listeners: listenersOf(ports, view),
        elapsedMs: performance.now() - started,
      }
    }
    if (exitedBefore) {
      const never = missing.filter((port) => !listened.has(key(port)))
      return await afterEarlyExit(ports, child, never, options)
    }
    const now = performance.now()
    const elsewhere = view.elsewhere
    const up = ports.filter((port) => !missing.includes(port))
    if (now >= deadline)
      return { state: 'timeout', missing, listening: listenersOf(up, view), elsewhere }
    tellProgress(notes, options, onProgress, now, up, missing)
    tellWrongPort(notes, options, now, elsewhere, missing)
    await sleepUntilExit(
      Math.min(pollDelay(now - started), Math.max(1, deadline - now)),
      child.exited,
    )
  }
}

/** What a wait has said so far: each note is said once, and only when it is worth it. */
interface WaitNotes {
  started: number
  deadline: number
  announced: boolean
  noticed: boolean
  /** Since when the service has listened on the same undeclared ports (null: it does not). */
  wrongPortSince: number | null
  wrongPortKey: string
}

/** After a moment: one note that we wait, then a progress report after every look. */
function tellProgress(
  notes: WaitNotes,
  options: ReadinessOptions,
  onProgress: (progress: WaitProgress) => void,
  now: number,
  up: RunPort[],
  missing: RunPort[],
): void {
  if (now - notes.started < WAIT_NOTICE_MS) return
  if (!notes.announced && now + 500 < notes.deadline) {
    notes.announced = true
    const wait = formatWait(options.timeoutMs)
    options.onNote?.(
      up.length > 0
        ? `${options.service} listens on ${formatRunPorts(up)}; waiting up to ${wait} for ${formatRunPorts(missing)}`
        : `waiting up to ${wait} for ${options.service} to listen on ${formatRunPorts(missing)}`,
    )
  }
  onProgress({
    service: options.service,
    listening: up,
    missing,
    elapsedMs: now - notes.started,
    timeoutMs: options.timeoutMs,
  })
}

/** Mentions a wrong port once it has been the state of things for a while. */
function tellWrongPort(
  notes: WaitNotes,
  options: ReadinessOptions,
  now: number,
  elsewhere: SocketEntry[],
  missing: RunPort[],
): void {
  const stateKey = elsewhere.map((s) => `${s.protocol}:${s.localPort}`).join(',')
  if (elsewhere.length === 0) notes.wrongPortSince = null
  else if (stateKey !== notes.wrongPortKey || notes.wrongPortSince === null)
    notes.wrongPortSince = now
  notes.wrongPortKey = stateKey
  if (
    notes.noticed ||
    notes.wrongPortSince === null ||
    now - notes.wrongPortSince < WRONG_PORT_NOTICE_MS ||
    now + 500 >= notes.deadline
  )
    return
  notes.noticed = true
  options.onNote?.(
    `${options.service} listens on ${describePorts(elsewhere)}, not ${formatRunPorts(missing)}; waiting up to ${formatWait(options.timeoutMs)} for ${formatRunPorts(missing)}`,
  )
}

/** 50 ms while a service usually comes up, then backing off: a poll costs a few ms of /proc reads. */
function pollDelay(elapsedMs: number): number {
  if (elapsedMs < 2000) return 50
  if (elapsedMs < 10_000) return 100
  return 250
}

/**
 * The child is gone without listening. If it failed because another process took the port in
 * the meantime (the EADDRINUSE race), say who: that process may be a moment from listening.
 */
async function afterEarlyExit(
  ports: readonly RunPort[],
  child: WatchedChild,
  missing: RunPort[],
  options: ReadinessOptions,
): Promise<Readiness> {
  if (missing.length === 0) return { state: 'exited', missing }
  const graceEnd = performance.now() + (child.failed() ? RACE_GRACE_MS : 0)
  let view: View
  for (;;) {
    view = await observe(ports, child.pid, options)
    const foreign = await foreignHolders(missing, view, options)
    if (foreign.length > 0) return { state: 'conflict', conflicts: foreign }
    if (performance.now() >= graceEnd) break
    await sleep(50)
  }
  if (!child.failed()) return { state: 'exited', missing }
  // Nobody visible took it. One bind test (not one per poll: a test holds the port for a moment,
  // and could itself make the winner of a race fail) tells whether something out of sight did.
  const refused: PortConflict[] = []
  for (const port of missing) {
    if ((view.others.get(key(port))?.length ?? 0) > 0) continue
    const probes = await probeEveryAddress(port.protocol, port.port)
    if (!probes.some((p) => p.outcome === 'EADDRINUSE')) continue
    refused.push({
      port: port.port,
      protocol: port.protocol,
      reason: 'bind_failed',
      owners: await options.nameOwners(port, []),
      holders: [],
      allocation: null,
    })
  }
  return refused.length > 0
    ? { state: 'conflict', conflicts: refused }
    : { state: 'exited', missing }
}

interface View {
  /** Declared port → our listening sockets on it. */
  ours: Map<string, SocketEntry[]>
  /** Declared port → listening sockets on it that are not ours. */
  others: Map<string, SocketEntry[]>
  /** Our listening sockets on ports nobody declared. */
  elsewhere: SocketEntry[]
  /** Our pids (the live tree plus earlier members still running). */
  pids: Set<number>
  root: number
}

const key = (port: Pick<RunPort, 'protocol' | 'port'>) => `${port.protocol}:${port.port}`

/**
 * One look: the listening sockets (tables only), then which of them our processes hold, found
 * by walking only our own processes' fd tables. Nobody else's /proc is read.
 */
async function observe(
  ports: readonly RunPort[],
  root: number,
  options: ReadinessOptions,
): Promise<View> {
  const procRoot = options.procRoot
  const tree = options.tree ?? new TrackedTree(root, procRoot)
  tree.remember()
  const pids = new Set(tree.alive().map((mark) => mark.pid))
  const protocols = [...new Set(ports.map((p) => p.protocol))] as Protocol[]
  const inventory = await listSockets({ protocols, withProcesses: false, procRoot })
  const inodes = new Set(inventory.sockets.map((s) => s.inode).filter((inode) => inode !== 0))
  const scan = scanSocketHolders(inodes, { procRoot, pids: [...pids] })
  const reader = new ProcessReader({ procRoot })
  const declared = new Set(ports.map(key))
  const ours = new Map<string, SocketEntry[]>()
  const others = new Map<string, SocketEntry[]>()
  const elsewhere: SocketEntry[] = []
  for (const socket of inventory.sockets) {
    const holderPids = scan.holders.get(socket.inode)
    const k = key({ protocol: socket.protocol, port: socket.localPort })
    if (holderPids) {
      const entry = {
        ...socket,
        processes: holderPids
          .map((pid) => reader.holder(pid))
          .filter((h): h is Holder => h !== null),
      }
      if (declared.has(k)) ours.set(k, [...(ours.get(k) ?? []), entry])
      else elsewhere.push(entry)
    } else if (declared.has(k)) {
      others.set(k, [...(others.get(k) ?? []), socket])
    }
  }
  return { ours, others, elsewhere, pids, root }
}

/**
 * Declared ports that a process outside our tree listens on while we do not. A holder we cannot
 * see (another user's process, when not root) is not called a conflict: it may be our own
 * service after a change of user.
 */
async function foreignHolders(
  ports: readonly RunPort[],
  view: View,
  options: ReadinessOptions,
): Promise<PortConflict[]> {
  const suspects = ports.filter(
    (port) =>
      view.ours.get(key(port)) === undefined && (view.others.get(key(port))?.length ?? 0) > 0,
  )
  if (suspects.length === 0) return []
  const specs = suspects.map((p) => ({ from: p.port, to: p.port, protocol: p.protocol }))
  const foreign = async (): Promise<SocketEntry[]> =>
    (await listSockets({ ports: specs, procRoot: options.procRoot })).sockets.filter(
      (s) =>
        isListening(s.protocol, s.state) &&
        s.processes.length > 0 &&
        // Checked again live: a worker forked after our look is ours too.
        s.processes.every(
          (holder) =>
            !view.pids.has(holder.pid) && !isDescendantOf(holder.pid, view.root, options.procRoot),
        ),
    )
  const first = await foreign()
  if (first.length === 0) return []
  // A listener that is gone a moment later was someone's bind test (another `run`'s preflight),
  // not a service: only one that stays (same socket) has taken the port.
  await sleep(PERSIST_MS)
  const again = new Set((await foreign()).map((s) => s.inode))
  const staying = first.filter((s) => again.has(s.inode))
  const conflicts: PortConflict[] = []
  for (const port of suspects) {
    const sockets = staying.filter((s) => s.protocol === port.protocol && s.localPort === port.port)
    if (sockets.length === 0) continue
    conflicts.push({
      port: port.port,
      protocol: port.protocol,
      reason: 'in_use',
      owners: await options.nameOwners(port, sockets),
      holders: sockets,
      allocation: null,
    })
  }
  return conflicts
}

function listenersOf(ports: readonly RunPort[], view: View): PortListener[] {
  return ports.map((port) => {
    const sockets = view.ours.get(key(port)) ?? []
    const holders = new Map<number, Holder>()
    for (const socket of sockets)
      for (const holder of socket.processes) holders.set(holder.pid, holder)
    return { port, sockets, holders: [...holders.values()] }
  })
}

/** `8081, 9001/udp` for a set of sockets (each port once). */
export function describePorts(sockets: readonly SocketEntry[]): string {
  const seen = new Map<string, { protocol: Protocol; port: number }>()
  for (const s of sockets)
    seen.set(`${s.protocol}:${s.localPort}`, { protocol: s.protocol, port: s.localPort })
  return formatRunPorts([...seen.values()].sort((a, b) => a.port - b.port))
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Sleeps `ms`, or less if the child exits first (its exit is then seen at once). */
function sleepUntilExit(ms: number, exited: Promise<unknown>): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  return Promise.race([
    new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))),
    exited.then(() => undefined),
  ]).finally(() => clearTimeout(timer))
}

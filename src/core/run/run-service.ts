import type { ChildProcess } from 'node:child_process'
import { spawn } from 'node:child_process'
import { constants } from 'node:os'
import { errnoOf } from '../errors.js'
import { probeHost, probeService } from '../health/check-health.js'
import type { ServiceProbeResult } from '../health/probes.js'
import type { HealthCheckSpec, RegistryStore } from '../registry/types.js'
import type { BackendName } from '../sockets/query.js'
import type { SocketEntry } from '../types.js'
import type { PortConflict } from './port-conflicts.js'
import { conflictError, describeOwners, preflightPorts } from './port-conflicts.js'
import { TrackedTree } from '../process/tree.js'
import type { PortListener, Readiness, WaitProgress } from './readiness.js'
import { describePorts, waitUntilListening } from './readiness.js'
import type { RunPort } from './run-env.js'
import { formatRunPorts, formatWait, portEnvironment } from './run-env.js'

/**
 * What to start: an argument vector, run as is (no shell), or a manifest's command string,
 * run by `/bin/sh -c` so that it may use `$PORT`, `$PORT_<NAME>`, pipes and `&&`.
 */
export type RunCommand = { argv: readonly string[] } | { shell: string }

export interface RunRequest {
  /** The service's name, for messages and `PORT_<SERVICE>`. */
  service: string
  /** False when the name was only taken from the command (`sh`): no `PORT_<SERVICE>` then. */
  serviceVariable?: boolean
  /** The project it belongs to: registry allocations of project+service are its own. */
  project: string
  /** Its ports; the first becomes `PORT`. */
  ports: readonly RunPort[]
  command: RunCommand
  cwd?: string
  /** The environment to start from (default: ours); the port variables are added to it. */
  env?: NodeJS.ProcessEnv
  /** How long to wait for it to listen on every port. Default 30 s; 0 skips the wait. */
  timeoutMs?: number
  /** Run once it listens; null: listening is enough. */
  health?: HealthCheckSpec | null
  /** The registry: names owners by service, honours allocations. Null or absent: not consulted. */
  store?: RegistryStore | null
  procRoot?: string
  backend?: BackendName | 'auto'
  /**
   * Started for another service (`run web` starts its dependency db first, see
   * `runWithDependencies`): it must become ready, so its health check is retried until the
   * timeout, and its sentences do not promise that it keeps running (the caller stops it).
   */
  dependencyOf?: string
  /** Once aborted, the service is no longer spawned (readiness `not_started`, error `interrupted`). */
  abort?: AbortSignal
}

export type RunMessageKind = 'ready' | 'warning' | 'note' | 'error'

export interface RunMessage {
  kind: RunMessageKind
  text: string
}

/** The started process, for forwarding signals to it. */
export interface ServiceChild {
  service: string
  pid: number
  /** Sends a signal to the service (and, for a compound shell command, to the shell's processes). */
  signal(signal: NodeJS.Signals): void
  /** SIGTERM to the service and every process it started, SIGKILL after 2 s; resolves once it exited. */
  stop(): Promise<void>
}

/** A service past its readiness phase, still running (or not: see `outcome`). */
export interface StartedService {
  /** Readiness, listeners and health; the exit status is filled in once it exits. */
  outcome: RunOutcome
  /** Resolves once the service exited and whatever it left running was stopped. */
  finished: Promise<RunOutcome>
  /** Stops it (see `ServiceChild.stop`), then resolves as `finished` does. */
  stop(): Promise<RunOutcome>
  hasExited(): boolean
}

export interface RunHooks {
  /** Progress for people (stderr): readiness, health, problems. */
  onMessage?(message: RunMessage): void
  /** Called synchronously right after the spawn, before anything else can run. */
  onSpawn?(child: ServiceChild): void
  /** The readiness phase is over (ready or not); the registry is no longer needed. */
  onSettled?(): void | Promise<void>
  /** A wait that lasts: where it stands after every look; null once it is over (see `waitUntilListening`). */
  onProgress?(progress: WaitProgress | null): void
}

export type RunReadiness =
  'ready' | 'unhealthy' | 'timeout' | 'exited' | 'not_waited' | 'not_started'

export interface RunOutcome {
  service: string
  ports: RunPort[]
  /** The service's pid, or null when it could not be started. */
  pid: number | null
  readiness: RunReadiness
  /** The pids listening on the declared ports, once ready (after a timeout: on those that are up). */
  listeners: { port: RunPort; pids: number[] }[]
  /** The health check's result, once ready (after a timeout: when the checked port is up). */
  health: ServiceProbeResult | null
  /** The service's own exit status. */
  childExitCode: number | null
  childSignal: NodeJS.Signals | null
  /** What `run` exits with: the service's code, 128 + signal number, or 126/127 if it could not start. */
  exitCode: number
  /** Processes the service left behind when it exited, which run stopped. */
  leftovers: number[]
  /** Why it could not start, when it could not. */
  error: string | null
}

export const DEFAULT_TIMEOUT_MS = 30_000
/** How long a SIGKILLed leftover may take to vanish before run goes on without it. */
const KILL_WAIT_MS = 2000

/** How long the service's leftovers get between SIGTERM and SIGKILL, and a conflicting child too. */
const STOP_GRACE_MS = 2000
/** How long the service's processes get to exit by themselves after it did, before run stops them. */
const LEFTOVER_SETTLE_MS = 500
/** The same when a relayed signal went to all of them (a compound shell command): they may be shutting down gracefully. */
const RELAYED_SETTLE_MS = 5000
/** How often a dependency's failing health check is tried again while it may still be starting. */
const HEALTH_RETRY_MS = 250

/**
 * `portwarden run`: refuses to start when a declared port is taken (throws `port_in_use` with
 * the conflict sentence, nothing spawned); otherwise starts the service with its ports in
 * `PORT`/`PORT_<NAME>`, waits until it (or a descendant) listens on each, runs its health check
 * once, and resolves when it exits. If another process takes a port before the service binds
 * it, the service is stopped and `port_in_use` thrown, naming that process.
 *
 * Signals are the caller's to relay (see `onSpawn`); this function installs no handlers.
 */
export async function runService(request: RunRequest, hooks: RunHooks = {}): Promise<RunOutcome> {
  return (await startService(request, hooks)).finished
}

/** `runService` up to the end of the readiness phase: the service keeps running in the background. */
export async function startService(
  request: RunRequest,
  hooks: RunHooks = {},
): Promise<StartedService> {
  const ports = [...request.ports]
  const conflicts = await preflightPorts(ports, {
    project: request.project,
    service: request.service,
    store: request.store,
    procRoot: request.procRoot,
    backend: request.backend,
  })
  if (conflicts.length > 0) throw conflictError(conflicts)

  const run = await spawnService(request, hooks)
  if (!('child' in run)) {
    await hooks.onSettled?.()
    return notRunning(run)
  }
  hooks.onSpawn?.({
    service: request.service,
    pid: run.pid,
    stop: () => stopService(run),
    signal: (signal) => relaySignal(run, signal),
  })
  const readiness = await awaitReadiness(run)
  // What it started while coming up (only while it runs: an exited pid may be another's).
  if (run.exit === null) run.tree.remember()
  if (readiness?.state === 'conflict') {
    await refuseTakenPorts(run, readiness)
  }
  await judgeReadiness(run, readiness)
  await hooks.onSettled?.()

  const finished = superviseUntilExit(run, readiness)
  return {
    outcome: run.outcome,
    finished,
    stop: async () => {
      await stopService(run)
      return finished
    },
    hasExited: () => run.exit !== null,
  }
}

/** A started service and what `run` knows of it: the state its steps share. */
interface ServiceRun {
  request: RunRequest
  ports: RunPort[]
  say(kind: RunMessageKind, text: string): void
  hooks: RunHooks
  outcome: RunOutcome
  child: ChildProcess
  pid: number
  /** A compound shell command: signals go to every process of its tree. */
  compound: boolean
  /** Everything ever seen in the service's tree (pid + start time): what it leaves behind is ours. */
  tree: TrackedTree
  exit: { code: number | null; signal: NodeJS.Signals | null } | null
  exited: Promise<void>
  /** A signal was relayed to it: its exit is then no failure of its own. */
  relayed: boolean
  /** Stopped on purpose (see `stopService`): its exit is then no news. */
  stopping: boolean
  /** When the readiness phase (and a dependency's health retries) must end. */
  deadline: number
}

/** Spawns the service with its port variables; the outcome alone when it could not start. */
async function spawnService(
  request: RunRequest,
  hooks: RunHooks,
): Promise<ServiceRun | RunOutcome> {
  const ports = [...request.ports]
  const say = (kind: RunMessageKind, text: string) => hooks.onMessage?.({ kind, text })
  const outcome = notStartedOutcome(request.service, ports)
  const env = {
    ...(request.env ?? process.env),
    ...portEnvironment(request.serviceVariable === false ? null : request.service, ports),
  }
  const { file, args, compound } = commandLine(request.command)
  if (request.abort?.aborted) return { ...outcome, exitCode: 1, error: 'interrupted' }
  // The terminal's input is the service's own: a dependency started beside it reads nothing.
  const stdin = request.dependencyOf === undefined ? 'inherit' : 'ignore'
  const child = spawn(file, args, { cwd: request.cwd, env, stdio: [stdin, 'inherit', 'inherit'] })
  const failure = await whenSpawned(child)
  if (failure !== null) {
    const { exitCode, reason } = startFailure(failure, file)
    say('error', `cannot start ${request.service}: ${displayCommand(file)}: ${reason}`)
    return { ...outcome, exitCode, error: reason }
  }
  const pid = child.pid as number
  outcome.pid = pid
  const run: ServiceRun = {
    request,
    ports,
    say,
    hooks,
    outcome,
    child,
    pid,
    compound,
    tree: new TrackedTree(pid, request.procRoot),
    exit: null,
    exited: new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        run.exit = { code, signal }
        resolve()
      })
    }),
    relayed: false,
    stopping: false,
    deadline: performance.now() + (request.timeoutMs ?? DEFAULT_TIMEOUT_MS),
  }
  run.tree.remember()
  return run
}

/** Stops the service and its tree (once it exited, its pid may be another's: nothing to do). */
async function stopService(run: ServiceRun): Promise<void> {
  if (run.exit !== null) return
  run.stopping = true
  run.relayed = true
  await stopTree(run)
}

/** A signal for the service from our caller (a Ctrl-C): to it, or to its whole compound tree. */
function relaySignal(run: ServiceRun, signal: NodeJS.Signals): void {
  if (run.exit !== null) return
  run.relayed = true
  // The tree as it is now: once the service exits, what it started is reparented and no longer
  // found under its pid.
  const now = run.tree.remember()
  const root = now.filter((mark) => mark.pid === run.pid)
  run.tree.signal(run.compound ? now : root, signal)
}

/** Waits until the service (or a descendant) listens on every port; null when not waited. */
async function awaitReadiness(run: ServiceRun): Promise<Readiness | null> {
  const { request } = run
  const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS
  if (timeoutMs <= 0 || run.ports.length === 0) return null
  const failed = () =>
    !run.relayed && run.exit !== null && (run.exit.code !== 0 || run.exit.signal !== null)
  const nameOwners = async (port: RunPort, sockets: SocketEntry[]) => {
    const [allocation] = request.store
      ? await request.store.list({ port: port.port, protocol: port.protocol })
      : []
    return describeOwners(sockets, allocation ?? null, request.procRoot)
  }
  return waitUntilListening(
    run.ports,
    { pid: run.pid, exited: run.exited, hasExited: () => run.exit !== null, failed },
    {
      service: request.service,
      timeoutMs,
      procRoot: request.procRoot,
      tree: run.tree,
      nameOwners,
      onNote: (text) => run.say('note', text),
      onProgress: run.hooks.onProgress,
    },
  )
}

/**
 * Another process got a port between our check and the service's bind: the service cannot do
 * its job. Stops it (and whatever it started), then throws the sentence naming who has the port.
 */
async function refuseTakenPorts(
  run: ServiceRun,
  readiness: Extract<Readiness, { state: 'conflict' }>,
): Promise<never> {
  const stopped = run.exit === null
  await stopTree(run)
  await run.hooks.onSettled?.()
  const who = `${run.request.service} (pid ${run.pid})`
  const taken = formatRunPorts(readiness.conflicts)
  throw conflictError(
    readiness.conflicts,
    stopped
      ? `Stopped ${who}, which could not take ${taken}.`
      : `${who} exited: it could not take ${taken}.`,
  )
}

/** Fills in readiness, listeners and health, and says how the service came up. */
async function judgeReadiness(run: ServiceRun, readiness: Readiness | null): Promise<void> {
  const { outcome, request, ports } = run
  const keepsRunning = request.dependencyOf === undefined
  if (readiness === null) {
    outcome.readiness = 'not_waited'
  } else if (readiness.state === 'ready') {
    outcome.listeners = listenerPids(readiness.listeners)
    const health = await checkHealthWhileStarting(run, readiness.listeners)
    outcome.health = health
    outcome.readiness = health === null || health.ok ? 'ready' : 'unhealthy'
    if (health === null || health.ok) {
      const detail = health ? health.detail : listeningDetail(readiness.listeners)
      run.say('ready', `ready: ${request.service} on ${formatRunPorts(ports)} (${detail})`)
    } else {
      run.say(
        'warning',
        `${request.service} listens on ${formatRunPorts(ports)}, but its health check failed: ${health.detail}${keepsRunning ? ' (it keeps running)' : ''}`,
      )
    }
  } else if (readiness.state === 'timeout') {
    outcome.readiness = 'timeout'
    // The ports that are up are checked all the same: half a service is worth knowing about.
    outcome.listeners = listenerPids(readiness.listening)
    const health = request.health
      ? await runHealthCheck(request.health, ports, readiness.listening)
      : null
    outcome.health = health
    const timeoutMs = request.timeoutMs ?? DEFAULT_TIMEOUT_MS
    run.say('warning', timeoutSentence(request.service, readiness, health, timeoutMs, keepsRunning))
  } else {
    outcome.readiness = 'exited'
  }
}

/** The health check once; a dependency's again until the deadline (a database recovering listens first). */
async function checkHealthWhileStarting(
  run: ServiceRun,
  listeners: readonly PortListener[],
): Promise<ServiceProbeResult | null> {
  const spec = run.request.health
  if (!spec) return null
  const keepsRunning = run.request.dependencyOf === undefined
  let health = await runHealthCheck(spec, run.ports, listeners)
  while (
    !keepsRunning &&
    health !== null &&
    !health.ok &&
    run.exit === null &&
    performance.now() + HEALTH_RETRY_MS < run.deadline
  ) {
    await sleep(HEALTH_RETRY_MS)
    health = await runHealthCheck(spec, run.ports, listeners)
  }
  return health
}

/** Runs in the background once ready: waits for the exit, then stops what the service left. */
async function superviseUntilExit(
  run: ServiceRun,
  readiness: Readiness | null,
): Promise<RunOutcome> {
  const { outcome, request } = run
  // Keep a record of the service's processes while it runs, so that none outlives it.
  const watcher = setInterval(() => run.tree.remember(), 1000)
  watcher.unref()
  await run.exited
  clearInterval(watcher)
  const { code, signal } = run.exit ?? { code: null, signal: null }
  outcome.childExitCode = code
  outcome.childSignal = signal
  outcome.exitCode = code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)
  if (run.stopping) {
    // The caller stopped it and says so.
  } else if (readiness?.state === 'exited' && readiness.missing.length > 0) {
    run.say(
      'warning',
      `${request.service} exited (${describeExit(code, signal)}) before listening on ${formatRunPorts(readiness.missing)}`,
    )
  } else if (code !== 0) {
    run.say('note', `${request.service} exited (${describeExit(code, signal)})`)
  }
  const settleMs = run.relayed && run.compound ? RELAYED_SETTLE_MS : LEFTOVER_SETTLE_MS
  outcome.leftovers = await stopLeftovers(run.tree, settleMs)
  if (outcome.leftovers.length > 0) {
    const n = outcome.leftovers.length
    run.say(
      'note',
      `stopped ${n} process${n === 1 ? '' : 'es'} ${request.service} left running (pid${n === 1 ? '' : 's'} ${outcome.leftovers.join(', ')})`,
    )
  }
  return outcome
}

/** The outcome of a service before it starts (and of one that never does). */
export function notStartedOutcome(service: string, ports: readonly RunPort[]): RunOutcome {
  return {
    service,
    ports: [...ports],
    pid: null,
    readiness: 'not_started',
    listeners: [],
    health: null,
    childExitCode: null,
    childSignal: null,
    exitCode: 0,
    leftovers: [],
    error: null,
  }
}

/** A service that never ran: nothing to wait for or stop. */
function notRunning(outcome: RunOutcome): StartedService {
  const finished = Promise.resolve(outcome)
  return { outcome, finished, stop: () => finished, hasExited: () => true }
}

/** `exit code 3`, `killed by SIGTERM` */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code ?? '?'}`
}

function listenerPids(listeners: readonly PortListener[]): RunOutcome['listeners'] {
  return listeners.map((l) => ({ port: l.port, pids: l.holders.map((h) => h.pid) }))
}

function listeningDetail(listeners: readonly PortListener[]): string {
  const pids = [...new Set(listeners.flatMap((l) => l.holders.map((h) => h.pid)))]
  return pids.length === 0
    ? 'listening'
    : `listening, pid${pids.length === 1 ? '' : 's'} ${pids.join(', ')}`
}

/**
 * What a timeout leaves: `web listens on 8080 (HTTP 200 in 3 ms), but 9000/udp never came up
 * within 30 s (it keeps running)`; a service that listens only elsewhere, or nowhere, is named so.
 */
function timeoutSentence(
  service: string,
  readiness: Extract<Readiness, { state: 'timeout' }>,
  health: ServiceProbeResult | null,
  timeoutMs: number,
  keepsRunning: boolean,
): string {
  const waited = formatWait(timeoutMs)
  const keeps = keepsRunning ? ' (it keeps running)' : ''
  const missing = formatRunPorts(readiness.missing)
  const elsewhere = readiness.elsewhere.length > 0 ? describePorts(readiness.elsewhere) : null
  if (readiness.listening.length === 0) {
    return elsewhere
      ? `${service} listens on ${elsewhere}, not ${missing} (waited ${waited}${keepsRunning ? '; it keeps running' : ''})`
      : `${service} did not listen on ${missing} within ${waited}${keeps}`
  }
  const checked = health
    ? ` (${health.ok ? health.detail : `health check failed: ${health.detail}`})`
    : ''
  const instead = elsewhere ? `; it listens on ${elsewhere} instead` : ''
  return `${service} listens on ${formatRunPorts(readiness.listening.map((l) => l.port))}${checked}, but ${missing} never came up within ${waited}${instead}${keeps}`
}

/**
 * The health check, against the first declared TCP port (UDP has no connection to probe), when
 * it is up.
 */
async function runHealthCheck(
  spec: HealthCheckSpec,
  ports: readonly RunPort[],
  listeners: readonly PortListener[],
): Promise<ServiceProbeResult | null> {
  const first = ports.find((p) => p.protocol === 'tcp')
  const target = listeners.find(
    (l) => l.port.protocol === 'tcp' && l.port.port === first?.port && l.sockets.length > 0,
  )
  if (!target) return null
  const host = probeHost(target.sockets[0] as SocketEntry)
  const port = target.port.port
  return probeService(spec, host, port)
}

const RESERVED_WORDS = new Set([
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'while',
  'until',
  'do',
  'done',
  'in',
  'function',
  '{',
  '}',
  '!',
  '[[',
])

/**
 * A manifest command that is one simple command (`python3 -m http.server $PORT`) is run as
 * `exec ...`, so the shell becomes the service and signals reach it directly. A compound one
 * (`cd app && npm start`: any of `; & | < > ( ) \``, even quoted, or a leading keyword or
 * assignment) keeps the shell as its parent; signals then go to every process of it.
 */
export function commandLine(command: RunCommand): {
  file: string
  args: string[]
  compound: boolean
} {
  if ('argv' in command) {
    const [file, ...args] = command.argv
    return { file: file as string, args, compound: false }
  }
  const text = command.shell.trim()
  const firstWord = text.split(/\s+/)[0] ?? ''
  const simple =
    !/[;&|<>()`\n]/.test(text) &&
    !RESERVED_WORDS.has(firstWord) &&
    !/^[A-Za-z_][A-Za-z0-9_]*=/.test(firstWord)
  if (simple && firstWord === 'exec')
    return { file: '/bin/sh', args: ['-c', text], compound: false }
  return { file: '/bin/sh', args: ['-c', simple ? `exec ${text}` : text], compound: !simple }
}

/** Resolves null once the process runs, or with the error that kept it from starting. */
function whenSpawned(child: ChildProcess): Promise<Error | null> {
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(null))
    child.once('error', (error) => resolve(error))
  })
}

function startFailure(error: Error, file: string): { exitCode: number; reason: string } {
  const errno = errnoOf(error)
  if (errno === 'ENOENT')
    return {
      exitCode: 127,
      reason: file.includes('/') ? 'no such file' : 'command not found (not in PATH)',
    }
  if (errno === 'EACCES') return { exitCode: 126, reason: 'permission denied (not executable)' }
  return { exitCode: 126, reason: error.message }
}

function displayCommand(file: string): string {
  return JSON.stringify(file)
}

/** SIGTERM to the service and its processes; SIGKILL to what is left after the grace time. */
async function stopTree(run: ServiceRun): Promise<void> {
  const { tree } = run
  tree.remember()
  tree.signal(tree.alive(), 'SIGTERM')
  const deadline = performance.now() + STOP_GRACE_MS
  while (
    performance.now() < deadline &&
    (run.exit === null || tree.alive({ withoutRoot: true }).length > 0)
  )
    await sleep(50)
  tree.signal(tree.alive(), 'SIGKILL')
  await run.exited
}

/**
 * After the service exited: processes of its tree still running (recorded by pid + start time,
 * so a reused pid is never touched) get SIGTERM, then SIGKILL after the grace time.
 */
async function stopLeftovers(tree: TrackedTree, settleMs: number): Promise<number[]> {
  const alive = () => tree.alive({ withoutRoot: true })
  // Processes that got the same signal as the service may be on their way out: a moment for them.
  const settle = performance.now() + settleMs
  while (alive().length > 0 && performance.now() < settle) await sleep(50)
  const left = alive()
  if (left.length === 0) return []
  tree.signal(left, 'SIGTERM')
  const deadline = performance.now() + STOP_GRACE_MS
  while (performance.now() < deadline && alive().length > 0) await sleep(50)
  const killed = alive()
  tree.signal(killed, 'SIGKILL')
  // SIGKILL is not instant: "stopped" is said (and run exits) once they are gone, bounded.
  const gone = performance.now() + KILL_WAIT_MS
  while (killed.length > 0 && alive().length > 0 && performance.now() < gone) await sleep(20)
  return left.map((mark) => mark.pid).sort((a, b) => a - b)
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

export type { PortConflict }

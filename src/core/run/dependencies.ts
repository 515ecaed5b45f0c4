/**
 * `run web` when web has `depends_on`: its dependencies come up first, in order, and go down
 * after it. A dependency already up is left alone; one that cannot come up stops the start,
 * named in the error, and nothing it would have needed is left running.
 * @module
 */
import { PortwardenError, isPortwardenError } from '../errors.js'
import { probeHost, probeService } from '../health/check-health.js'
import type { ServiceProbeResult } from '../health/probes.js'
import { judgeOwnership } from '../registry/ownership.js'
import type { PortConflict } from './port-conflicts.js'
import { conflictError, preflightPorts } from './port-conflicts.js'
import type { RunPort } from './run-env.js'
import { formatRunPorts, formatWait } from './run-env.js'
import type {
  RunCommand,
  RunHooks,
  RunOutcome,
  RunRequest,
  ServiceChild,
  StartedService,
} from './run-service.js'
import { DEFAULT_TIMEOUT_MS, describeExit, notStartedOutcome, startService } from './run-service.js'

export interface DependencyRequest extends Omit<RunRequest, 'command' | 'dependencyOf' | 'abort'> {
  /** Null: it has no command (a database run by other means), so it must be running already. */
  command: RunCommand | null
  /** The project's directory (its git worktree): a holder running there is the dependency itself. */
  worktree: string
}

export interface DependencyOutcome {
  service: string
  ports: RunPort[]
  /** `started` by run (and stopped after the service), or `running` already (left alone). */
  state: 'started' | 'running'
  /** The processes serving it: the one run started, or those listening on its ports. */
  pids: number[]
  health: ServiceProbeResult | null
  /** For one run started: how it ended, once stopped. */
  run: RunOutcome | null
}

export interface RunWithDependenciesHooks extends RunHooks {
  /**
   * Aborting (a signal to run before its service started) stops the dependencies started so
   * far; the service is not started (readiness `not_started`, error `interrupted`).
   */
  abort?: AbortSignal
}

export interface RunWithDependenciesOutcome extends RunOutcome {
  dependencies: DependencyOutcome[]
}

/**
 * Brings up `dependencies` (in the order given: see `dependencyOrder`), each before the next:
 * - one whose every port is held by this project's own processes (or, when it has no command,
 *   by anyone) is running already: it is left alone, its health check run once;
 * - one without a command that is not running cannot be started: refused;
 * - otherwise its ports are checked as `run`'s own are (a conflict is refused), it is started
 *   and must become ready, healthy included, within the timeout.
 * Then `request` runs as `runService` runs it; once it exits, the dependencies run started are
 * stopped, last first. A dependency that cannot come up stops the ones started before it and
 * throws, naming it: `port_in_use` / `port_allocated` for a conflict, else `dependency_failed`.
 */
export async function runWithDependencies(
  dependencies: readonly DependencyRequest[],
  request: RunRequest,
  hooks: RunWithDependenciesHooks = {},
): Promise<RunWithDependenciesOutcome> {
  const started: StartedService[] = []
  const outcomes: DependencyOutcome[] = []
  const stopStarted = async () => {
    for (const service of started.splice(0).reverse()) {
      const running = !service.hasExited()
      const ended = await service.stop()
      if (running) note(hooks, `stopped ${ended.service} (pid ${ended.pid})`)
    }
  }
  // A signal while a dependency starts: stop it at once rather than wait out its timeout.
  let starting: ServiceChild | null = null
  const onAbort = () => void starting?.stop()
  hooks.abort?.addEventListener('abort', onAbort)

  let service: StartedService | null = null
  try {
    for (const dependency of dependencies) {
      const up = await bringUp(dependency, request.service, hooks, (child) => (starting = child))
      starting = null
      if (up.started) started.push(up.started)
      outcomes.push(up.outcome)
      if (hooks.abort?.aborted) break
      if (up.failure) throw up.failure
    }
    if (!hooks.abort?.aborted)
      service = await startService({ ...request, abort: hooks.abort }, hooks)
  } catch (error) {
    await stopStarted()
    throw error
  } finally {
    hooks.abort?.removeEventListener('abort', onAbort)
  }
  const ended = service
    ? await service.finished
    : { ...notStartedOutcome(request.service, request.ports), exitCode: 1, error: 'interrupted' }
  await stopStarted()
  return { ...ended, dependencies: outcomes }
}

interface BroughtUp {
  outcome: DependencyOutcome
  /** The dependency run started (to stop later, or now on a failure). */
  started: StartedService | null
  /** Why it did not come up (it is stopped by the caller). */
  failure: PortwardenError | null
}

async function bringUp(
  dependency: DependencyRequest,
  dependent: string,
  hooks: RunWithDependenciesHooks,
  onStarting: (child: ServiceChild) => void,
): Promise<BroughtUp> {
  const { service, ports } = dependency
  const outcome: DependencyOutcome = {
    service,
    ports: [...ports],
    state: 'running',
    pids: [],
    health: null,
    run: null,
  }
  const conflicts = await preflightPorts(ports, {
    project: dependency.project,
    service,
    store: dependency.store,
    procRoot: dependency.procRoot,
    backend: dependency.backend,
  })
  const failed = (reason: string, hint: string, cause?: PortwardenError): BroughtUp => ({
    outcome,
    started: null,
    failure: dependencyError(dependent, service, reason, hint, cause),
  })
  const running = runningAlready(dependency, conflicts)
  if (running !== null) return useRunning(dependency, conflicts, running, outcome, hooks, failed)
  if (dependency.command === null) {
    if (ports.length === 0) return { outcome, started: null, failure: null }
    const held = new Set(conflicts.filter((c) => c.reason !== 'allocated').map(portKey))
    const idle = ports.filter((port) => !held.has(portKey(port)))
    return failed(
      `is not running (nothing listens on ${formatRunPorts(idle)}), and it has no command to start it`,
      `Start ${service} first, or give [services.${service}] a command in the manifest.`,
    )
  }
  if (conflicts.length > 0) {
    const conflict = conflictError(conflicts)
    return failed(`cannot start: ${conflict.message}`, conflict.hint ?? '', conflict)
  }
  return startDependency(dependency, dependency.command, dependent, outcome, hooks, onStarting)
}

/** A dependency that is up already: used as it is, once its health check (if any) passes. */
async function useRunning(
  dependency: DependencyRequest,
  conflicts: PortConflict[],
  pids: number[],
  outcome: DependencyOutcome,
  hooks: RunWithDependenciesHooks,
  failed: (reason: string, hint: string) => BroughtUp,
): Promise<BroughtUp> {
  const { service } = dependency
  outcome.pids = pids
  const health = dependency.health ? await checkRunning(dependency, conflicts) : null
  outcome.health = health
  const holders = [...new Set(conflicts.flatMap((c) => c.owners))].join(', ')
  if (health && !health.ok)
    return failed(
      `is running (${holders}), but its health check failed: ${health.detail}`,
      `See what ${service} says, or restart it; then run again.`,
    )
  note(
    hooks,
    `${service} is running already (${holders} on ${formatRunPorts(dependency.ports)}${health ? `; ${health.detail}` : ''}): not starting it`,
  )
  return { outcome, started: null, failure: null }
}

/** Starts a dependency; it must become ready (healthy included) within its timeout. */
async function startDependency(
  dependency: DependencyRequest,
  command: RunCommand,
  dependent: string,
  outcome: DependencyOutcome,
  hooks: RunWithDependenciesHooks,
  onStarting: (child: ServiceChild) => void,
): Promise<BroughtUp> {
  const { service } = dependency
  let started: StartedService
  try {
    started = await startService(
      { ...dependency, command, dependencyOf: dependent, abort: hooks.abort },
      {
        onMessage: hooks.onMessage,
        onProgress: hooks.onProgress,
        onSpawn: (child) => {
          onStarting(child)
          hooks.onSpawn?.(child)
        },
      },
    )
  } catch (error) {
    // Another process took its port while it started (it was stopped).
    if (!isPortwardenError(error)) throw error
    const failure = dependencyError(
      dependent,
      service,
      `cannot start: ${error.message}`,
      error.hint ?? '',
      error,
    )
    return { outcome, started: null, failure }
  }
  const run = started.outcome
  outcome.state = 'started'
  outcome.pids = run.pid === null ? [] : [run.pid]
  outcome.health = run.health
  outcome.run = run
  if (run.readiness === 'ready' || run.readiness === 'not_waited')
    return { outcome, started, failure: null }
  const again = `See ${service}'s output above; try it alone with: portwarden run ${service}`
  const reason = await notReadyReason(dependency, started)
  return { outcome, started, failure: dependencyError(dependent, service, reason, again) }
}

/** Why a started dependency is not ready, in words (one that exited is waited for first). */
async function notReadyReason(
  dependency: DependencyRequest,
  started: StartedService,
): Promise<string> {
  const run = started.outcome
  const timeout = formatWait(dependency.timeoutMs ?? DEFAULT_TIMEOUT_MS)
  switch (run.readiness) {
    case 'timeout':
      return `did not become ready within ${timeout}`
    case 'unhealthy':
      return `failed its health check for ${timeout} (${run.health?.detail ?? 'no answer'})`
    case 'exited': {
      const ended = await started.stop()
      return `exited (${describeExit(ended.childExitCode, ended.childSignal)}) before it was ready`
    }
    default:
      return `could not be started (${run.error ?? 'unknown error'})`
  }
}

/**
 * The pids serving a dependency that is up already, or null: every port is held, by processes
 * of this project (running from its directory) when run could start it itself, by anyone
 * (even out of sight) when it has no command.
 */
function runningAlready(dependency: DependencyRequest, conflicts: PortConflict[]): number[] | null {
  if (dependency.ports.length === 0) return null
  const held = conflicts.filter((c) => c.reason !== 'allocated')
  if (held.length !== dependency.ports.length) return null
  const holders = held.flatMap((c) => c.holders.flatMap((socket) => socket.processes))
  if (dependency.command !== null) {
    const ours = (pid: number | null) => ({ pid, worktree: dependency.worktree })
    const owned = held.every(
      (c) =>
        c.reason === 'in_use' &&
        c.holders.some((socket) => socket.processes.length > 0) &&
        c.holders.every((socket) =>
          socket.processes.every(
            (holder) => judgeOwnership(ours(null), holder, dependency.procRoot) === 'owned',
          ),
        ),
    )
    if (!owned) return null
  }
  return [...new Set(holders.map((holder) => holder.pid))].sort((a, b) => a - b)
}

/** The health check of a dependency found running, on its first TCP port. */
async function checkRunning(
  dependency: DependencyRequest,
  conflicts: PortConflict[],
): Promise<ServiceProbeResult | null> {
  const first = dependency.ports.find((port) => port.protocol === 'tcp')
  if (!first || !dependency.health) return null
  const socket = conflicts.find((c) => portKey(c) === portKey(first))?.holders[0]
  return probeService(dependency.health, socket ? probeHost(socket) : '127.0.0.1', first.port)
}

function dependencyError(
  dependent: string,
  dependency: string,
  reason: string,
  hint: string,
  cause?: PortwardenError,
): PortwardenError {
  return new PortwardenError(
    cause?.code ?? 'dependency_failed',
    `cannot start ${dependent}: its dependency ${dependency} ${reason}`,
    {
      hint: [hint, `${dependent} was not started.`].filter(Boolean).join('\n'),
      details: { ...cause?.details, service: dependent, dependency },
    },
  )
}

function note(hooks: RunHooks, text: string): void {
  hooks.onMessage?.({ kind: 'note', text })
}

const portKey = (port: Pick<RunPort, 'protocol' | 'port'>) => `${port.protocol}:${port.port}`

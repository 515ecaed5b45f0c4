import {
  describeProcesses,
  displayName,
  outOfSightSentence,
  portInUseSentence,
  publishedSentence,
} from '../messages.js'
import { listSockets } from '../sockets/list-sockets.js'
import { isListening } from '../sockets/query.js'
import type { SocketEntry } from '../types.js'
import { whoHolds } from '../who-holds.js'
import type { FreeSignal } from './options.js'
import { formatDuration } from './options.js'
import type { FreePlan, FreeTarget, PortKey, PortPlan, Refusal } from './plan-free.js'
import { heldOnlyByPublishers } from './plan-free.js'
import type { ProcessIdentity } from '../process/identity.js'
import { processExited, verifyIdentity } from '../process/identity.js'
import type { KillFunction, SignalAttempt } from '../process/signal.js'
import { signalVerified } from '../process/signal.js'

export interface ExecuteOptions {
  /** Asked once per target that may be signalled, before anything is sent. Default: yes. */
  approve?: (target: FreeTarget) => boolean | Promise<boolean>
  /** Progress, as it happens (a CLI prints it; an API may ignore it). */
  onEvent?: (event: FreeEvent) => void
  /** How signals are delivered (tests); default process.kill. */
  kill?: KillFunction<FreeSignal>
  /** How often the ports are re-checked while waiting (default 100 ms). */
  pollIntervalMs?: number
}

export type FreeEvent =
  | { type: 'signal'; target: FreeTarget; signal: FreeSignal }
  | { type: 'not_signalled'; target: FreeTarget; signal: FreeSignal; message: string }
  | {
      type: 'waiting'
      ports: PortKey[]
      signal: FreeSignal
      ms: number
      killAfterMs: number | null
    }

/** One signal that was delivered. */
export interface SignalRecord {
  signal: FreeSignal
  at: string
  /** Since the first signal of this run. */
  elapsedMs: number
}

/**
 * `exited`: signalled and gone; `released`: still running but let go of the port; `survived`:
 * still running and holding it; `refused`: never signalled (a safety rule, a container, pid 1);
 * `declined`: the user said no; `gone`: it exited or let go before we signalled; `changed`: the
 * pid became another process (pid reuse), not signalled; `permission_denied`: EPERM.
 */
export type TargetOutcome =
  | 'exited'
  | 'released'
  | 'survived'
  | 'refused'
  | 'declined'
  | 'gone'
  | 'changed'
  | 'permission_denied'
  | 'failed'

export interface TargetReport {
  target: FreeTarget
  outcome: TargetOutcome
  signals: SignalRecord[]
  /** A sentence fragment, no final period. */
  message: string
}

export type PortStatus = 'freed' | 'still_held' | 'nothing_to_free'

export interface PortReport extends PortKey {
  status: PortStatus
  /** Who holds it now (still_held), from a fresh read of the socket tables. */
  holders: SocketEntry[]
  heldOutOfSight: boolean
  /** One sentence, no final period. */
  message: string
  /** Why it is still held and what to do: refusals and blockers that concern this port. */
  refusals: Refusal[]
}

/** The overall answer: exit 0, 1, 1 and 3 in the CLI. */
export type FreeOutcome = 'freed' | 'not_freed' | 'nothing_to_free' | 'permission_denied'

export interface FreeReport {
  plan: FreePlan
  outcome: FreeOutcome
  ports: PortReport[]
  targets: TargetReport[]
  elapsedMs: number
}

/** How long a port may stay held after every signalled holder has exited before we stop waiting. */
const EXIT_GRACE_MS = 300

interface State {
  target: FreeTarget
  signals: SignalRecord[]
  /** Set when we stopped dealing with it. */
  final: { outcome: TargetOutcome; message: string } | null
}

/**
 * Carries out a plan: asks `approve` for every target that may be signalled, then for each one
 * re-reads the socket table (does it still hold the port?) and its identity (is the pid still the
 * same process?) right before the signal; waits until the *ports* are released (socket tables
 * and a bind test on every address), and with `killAfterMs` sends SIGKILL after a fresh check
 * to the holders of ports still held that long after the first signal.
 */
export async function executeFree(
  plan: FreePlan,
  options: ExecuteOptions = {},
): Promise<FreeReport> {
  const started = Date.now()
  const run: FreeRun = {
    plan,
    options,
    emit: options.onEvent ?? (() => {}),
    states: plan.targets.map((target) => ({ target, signals: [], final: null })),
    released: new Set(),
    firstSignalAt: null,
  }
  await settleUnsignallable(run)
  for (const state of active(run)) await sendSignal(run, state, plan.signal)
  if (signalled(run).length > 0) await waitAndEscalate(run)

  // The final answer, from fresh reads.
  const ports: PortReport[] = []
  for (const port of plan.ports)
    ports.push(await reportPort(plan, port, run.released.has(keyOf(port)), run.states))
  const targets = run.states.map((state) => finalTarget(plan, state, run.released, keyOf))
  return {
    plan,
    outcome: overallOutcome(ports, targets),
    ports,
    targets,
    elapsedMs: Date.now() - started,
  }
}

/** One execution of a plan: what its steps share. */
interface FreeRun {
  plan: FreePlan
  options: ExecuteOptions
  emit(event: FreeEvent): void
  states: State[]
  /** Ports seen released (`protocol:port`). */
  released: Set<string>
  firstSignalAt: number | null
}

function keyOf(key: PortKey): string {
  return `${key.protocol}:${key.port}`
}

function active(run: FreeRun): State[] {
  return run.states.filter((s) => s.final === null)
}

function signalled(run: FreeRun): State[] {
  return active(run).filter((s) => s.signals.length > 0)
}

/** Targets that are never signalled: refused by the plan, already gone, or not approved. */
async function settleUnsignallable(run: FreeRun): Promise<void> {
  const approve = run.options.approve ?? (() => true)
  for (const state of run.states) {
    const { target } = state
    if (target.refusal) {
      const { code, message } = target.refusal
      state.final = { outcome: code === 'gone' || code === 'changed' ? code : 'refused', message }
    } else if (!target.identity)
      state.final = { outcome: 'gone', message: `pid ${target.holder.pid} has exited` }
    else if (!(await approve(target))) {
      state.final = { outcome: 'declined', message: 'not confirmed; not signalled' }
    }
  }
}

/**
 * Signals one target, right after a fresh look that it still holds a port (it may have let go,
 * or exited) and through `signalVerified` (the pid is still that process). True when sent.
 */
async function sendSignal(run: FreeRun, state: State, signal: FreeSignal): Promise<boolean> {
  const { target } = state
  const identity = target.identity
  if (!identity) return false
  if (!(await holdsAnyPort(run.plan, target))) {
    state.final = letGoOutcome(run.plan, state)
    if (state.signals.length === 0) {
      run.emit({ type: 'not_signalled', target, signal, message: state.final.message })
    }
    return false
  }
  const attempt = signalVerified(identity, signal, {
    procRoot: run.plan.procRoot,
    kill: run.options.kill,
  })
  if (attempt.sent) {
    const now = Date.now()
    run.firstSignalAt ??= now
    state.signals.push({ signal, at: attempt.at, elapsedMs: now - run.firstSignalAt })
    run.emit({ type: 'signal', target, signal })
    return true
  }
  state.final = notSentOutcome(state, attempt)
  run.emit({ type: 'not_signalled', target, signal, message: state.final.message })
  return false
}

/** A target that no longer holds its ports: released or exited after our signal, or before it. */
function letGoOutcome(plan: FreePlan, state: State): NonNullable<State['final']> {
  const identity = state.target.identity as ProcessIdentity
  const alive = verifyIdentity(identity, plan.procRoot).status === 'same'
  const after = state.signals[state.signals.length - 1]?.signal
  if (after) {
    return alive
      ? { outcome: 'released', message: `let go of the port after ${after} but is still running` }
      : { outcome: 'exited', message: `exited after ${after}` }
  }
  return {
    outcome: 'gone',
    message: alive ? 'no longer holds the port; not signalled' : 'exited before it was signalled',
  }
}

/** Why a signal was not sent, as the target's outcome. */
function notSentOutcome(
  state: State,
  attempt: Extract<SignalAttempt<FreeSignal>, { sent: false }>,
): NonNullable<State['final']> {
  const { target } = state
  const known = ['gone', 'changed', 'permission_denied', 'failed'] as const
  const reason = known.find((r) => r === attempt.reason)
  const outcome: TargetOutcome =
    reason === undefined
      ? 'refused'
      : reason === 'gone' && state.signals.length > 0
        ? 'exited'
        : reason
  const message =
    outcome === 'permission_denied'
      ? `not allowed to signal it (EPERM): it is owned by ${displayName(target.holder.user)} (uid ${target.holder.uid}); ` +
        `run as root: sudo portwarden free ${target.ports.map((p) => `${p.port}/${p.protocol}`).join(' ')}`
      : attempt.message
  return { outcome, message }
}

/** Waits for the ports; with `killAfterMs`, SIGKILL to the holders of ports still held, then waits again. */
async function waitAndEscalate(run: FreeRun): Promise<void> {
  const { plan } = run
  const escalate = plan.killAfterMs !== null && plan.signal !== 'SIGKILL'
  await waitForPorts(run, escalate ? (plan.killAfterMs as number) : plan.waitMs, plan.signal)
  if (!escalate) return
  const stubborn = signalled(run).filter((s) =>
    s.target.ports.some((p) => !run.released.has(keyOf(p))),
  )
  let killed = 0
  for (const state of stubborn) if (await sendSignal(run, state, 'SIGKILL')) killed++
  if (killed > 0) await waitForPorts(run, plan.waitMs, 'SIGKILL')
}

/** Waits until every port a signalled target holds is released, or until none of them is alive. */
async function waitForPorts(run: FreeRun, ms: number, signal: FreeSignal): Promise<void> {
  const { plan, released } = run
  const poll = run.options.pollIntervalMs ?? 100
  const watched = plan.ports.filter(
    (p) => p.held && !released.has(keyOf(p)) && signalled(run).some((s) => holdsKey(s.target, p)),
  )
  if (watched.length === 0) return
  const ports = watched.map(({ port, protocol }) => ({ port, protocol }))
  run.emit({ type: 'waiting', ports, signal, ms, killAfterMs: plan.killAfterMs })
  const deadline = Date.now() + ms
  let allExitedAt: number | null = null
  for (;;) {
    let pending = 0
    for (const port of watched) {
      if (released.has(keyOf(port))) continue
      if (await portReleased(plan, port)) released.add(keyOf(port))
      else pending++
    }
    if (pending === 0) return
    // Stop early when every signalled holder of the ports still held has exited (every thread:
    // see processExited) and the port stays held a moment longer: someone else holds it, and
    // waiting longer changes nothing.
    if (holderStillRunning(run, watched)) allExitedAt = null
    else allExitedAt ??= Date.now()
    const now = Date.now()
    if (now >= deadline || (allExitedAt !== null && now - allExitedAt >= EXIT_GRACE_MS)) return
    await sleep(Math.min(poll, Math.max(0, deadline - now)))
  }
}

/** Does a signalled target that holds one of the unreleased `watched` ports still run? */
function holderStillRunning(run: FreeRun, watched: readonly PortPlan[]): boolean {
  return signalled(run).some(
    (s) =>
      s.target.identity !== null &&
      watched.some((p) => !run.released.has(keyOf(p)) && holdsKey(s.target, p)) &&
      !processExited(s.target.identity, run.plan.procRoot),
  )
}

function holdsKey(target: FreeTarget, key: PortKey): boolean {
  return target.ports.some((p) => p.port === key.port && p.protocol === key.protocol)
}

/** Does the target still hold one of its ports? A fresh read of the tables and of its fds only. */
async function holdsAnyPort(plan: FreePlan, target: FreeTarget): Promise<boolean> {
  const inventory = await listSockets({
    all: true,
    ports: target.ports.map(({ port, protocol }) => ({ from: port, to: port, protocol })),
    pid: target.holder.pid,
    backend: plan.backend,
    procRoot: plan.procRoot,
  })
  return inventory.sockets.some(
    (s) => s.state !== 'TIME-WAIT' && s.processes.some((p) => p.pid === target.holder.pid),
  )
}

/**
 * Released: no listening (or bound UDP) socket on the port in the tables, and no bind test on
 * any address (0.0.0.0, :: with V6ONLY) fails with EADDRINUSE. Not "the pid is gone": a child
 * that inherited the socket keeps the port.
 */
async function portReleased(plan: FreePlan, key: PortKey): Promise<boolean> {
  const inventory = await rawSocketsOnPort(plan, key)
  if (inventory.sockets.some((s) => isListening(s.protocol, s.state))) return false
  // Only EADDRINUSE counts: EACCES (a privileged port probed without root) or a missing address
  // family says nothing about who holds the port.
  const { probeEveryAddress } = await import('../bind-probe.js')
  const probes = await probeEveryAddress(key.protocol, key.port)
  return probes.every((p) => p.outcome !== 'EADDRINUSE')
}

async function reportPort(
  plan: FreePlan,
  port: PortPlan,
  releasedWhileWaiting: boolean,
  states: readonly State[],
): Promise<PortReport> {
  const label = `${port.protocol.toUpperCase()} port ${port.port}`
  const base = { port: port.port, protocol: port.protocol }
  if (!port.held) {
    return {
      ...base,
      status: 'nothing_to_free',
      holders: [],
      heldOutOfSight: false,
      message: `nothing to free: no process holds ${label}`,
      refusals: [],
    }
  }
  if (heldOnlyByPublishers(port)) {
    // Nothing was signalled: a bind test succeeds, yet the rule still takes the traffic.
    return {
      ...base,
      status: 'still_held',
      holders: [],
      heldOutOfSight: false,
      message: publishedSentence(port.protocol, port.port, port.publishers),
      refusals: [...port.blockers],
    }
  }
  if (releasedWhileWaiting || (await portReleased(plan, port))) {
    const signalled = states
      .filter((s) => s.signals.length > 0 && holdsKey(s.target, port))
      .map((s) => s.target.holder)
    return {
      ...base,
      status: 'freed',
      holders: [],
      heldOutOfSight: false,
      message:
        signalled.length > 0
          ? `${label} was freed: ${describeProcesses(signalled)} stopped`
          : `${label} is free now`,
      refusals: [],
    }
  }
  const who = await whoHolds([{ from: port.port, to: port.port, protocol: port.protocol }], {
    backend: plan.backend,
    procRoot: plan.procRoot,
    publishers: false,
  })
  const now = who.ports[0]
  const holders = now?.sockets ?? []
  const heldOutOfSight = now?.heldOutOfSight ?? false
  const refusals = [
    ...port.blockers,
    ...states
      .filter((s) => s.target.refusal !== null && holdsKey(s.target, port))
      .map((s) => s.target.refusal as Refusal),
  ]
  let message: string
  if (holders.length > 0) {
    message = portInUseSentence(port.protocol, port.port, holders, 'is still held by')
  } else if (await onlyTimeWait(plan, port)) {
    message =
      `${label} is still blocked by a TIME-WAIT socket left by a server without SO_REUSEADDR ` +
      '(binding fails until it expires, within 60 s)'
  } else if (heldOutOfSight) {
    message = outOfSightSentence(port.protocol, port.port, 'is still in use')
  } else {
    message = `${label} is still in use: a bind test fails`
  }
  return { ...base, status: 'still_held', holders, heldOutOfSight, message, refusals }
}

/** Every socket on the port, from the tables alone (no holder scan: the answer needs none). */
function rawSocketsOnPort(plan: FreePlan, key: PortKey) {
  return listSockets({
    all: true,
    ports: [{ from: key.port, to: key.port, protocol: key.protocol }],
    withProcesses: false,
    backend: plan.backend,
    procRoot: plan.procRoot,
  })
}

async function onlyTimeWait(plan: FreePlan, key: PortKey): Promise<boolean> {
  const inventory = await rawSocketsOnPort(plan, key)
  return inventory.sockets.length > 0 && inventory.sockets.every((s) => s.state === 'TIME-WAIT')
}

function finalTarget(
  plan: FreePlan,
  state: State,
  released: ReadonlySet<string>,
  keyOf: (key: PortKey) => string,
): TargetReport {
  const { target, signals } = state
  if (state.final)
    return { target, outcome: state.final.outcome, signals, message: state.final.message }
  const last = signals[signals.length - 1]
  const identity = target.identity
  const alive = identity !== null && verifyIdentity(identity, plan.procRoot).status === 'same'
  const portsFree = target.ports.every((p) => released.has(keyOf(p)))
  if (!last) return { target, outcome: 'gone', signals, message: 'not signalled' }
  if (!alive) {
    return { target, outcome: 'exited', signals, message: `exited after ${last.signal}` }
  }
  if (portsFree)
    return {
      target,
      outcome: 'released',
      signals,
      message: `let go of the port after ${last.signal} but is still running`,
    }
  const waited =
    plan.killAfterMs !== null && last.signal === 'SIGKILL'
      ? plan.waitMs
      : (plan.killAfterMs ?? plan.waitMs)
  return {
    target,
    outcome: 'survived',
    signals,
    message: `is still running ${formatDuration(waited)} after ${last.signal}`,
  }
}

function overallOutcome(
  ports: readonly PortReport[],
  targets: readonly TargetReport[],
): FreeOutcome {
  const stillHeld = ports.filter((p) => p.status === 'still_held')
  if (targets.some((t) => t.outcome === 'permission_denied')) return 'permission_denied'
  if (stillHeld.some((p) => p.refusals.some((r) => r.permission))) return 'permission_denied'
  if (stillHeld.length > 0) return 'not_freed'
  if (ports.every((p) => p.status === 'nothing_to_free')) return 'nothing_to_free'
  return 'freed'
}

/** What a dry run would answer: `freed` when something would be signalled. */
export function planOutcome(plan: FreePlan): FreeOutcome {
  const held = plan.ports.filter((p) => p.held)
  if (held.length === 0) return 'nothing_to_free'
  if (held.some((p) => p.blockers.some((b) => b.permission))) return 'permission_denied'
  return plan.targets.some((t) => t.refusal === null && t.identity !== null) ? 'freed' : 'not_freed'
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

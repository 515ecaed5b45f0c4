import { toJsonHolder, toJsonJudgement, toJsonSocket } from '../wire.js'
import type { FreeReport, TargetReport } from './execute-free.js'
import { planOutcome } from './execute-free.js'
import type { FreePlan, FreeTarget, Refusal } from './plan-free.js'

/** The wire shapes of `free --json` and `POST /api/ports/{port}/free` (snake_case). */
export function toJsonRefusal(refusal: Refusal) {
  return {
    code: refusal.code,
    message: refusal.message,
    suggestion: refusal.suggestion,
    command: refusal.command,
    permission: refusal.permission,
  }
}

export function toJsonFreeTarget(target: FreeTarget) {
  return {
    ...toJsonHolder(target.holder),
    container: target.container?.name ?? target.holder.container,
    uid: target.holder.uid,
    ports: target.ports.map((p) => `${p.port}/${p.protocol}`),
    action: target.refusal ? ('refuse' as const) : ('signal' as const),
    refusal: target.refusal ? toJsonRefusal(target.refusal) : null,
    container_address: target.container?.address ?? null,
    caveats: target.caveats,
    ...(target.judgement
      ? toJsonJudgement(target.judgement)
      : { evidence: null, verdict: null, reasons: [] }),
  }
}

function header(plan: FreePlan) {
  return {
    signal: plan.signal,
    wait_ms: plan.waitMs,
    kill_after_ms: plan.killAfterMs,
  }
}

/** `--dry-run`: what would be signalled, and what would not and why. */
export function toJsonFreePlan(plan: FreePlan) {
  return {
    dry_run: true,
    outcome: planOutcome(plan),
    ...header(plan),
    ports: plan.ports.map((port) => ({
      port: port.port,
      protocol: port.protocol,
      held: port.held,
      holders: port.sockets.map(toJsonSocket),
      held_out_of_sight: port.heldOutOfSight,
      blockers: port.blockers.map(toJsonRefusal),
    })),
    targets: plan.targets.map(toJsonFreeTarget),
    warnings: plan.warnings.map((w) => w.message),
  }
}

export function toJsonTargetReport(report: TargetReport) {
  return {
    ...toJsonFreeTarget(report.target),
    outcome: report.outcome,
    message: report.message,
    signals: report.signals.map((s) => ({ signal: s.signal, at: s.at, elapsed_ms: s.elapsedMs })),
  }
}

/** What was done: per port `freed` / `still_held` / `nothing_to_free`, per process what it got. */
export function toJsonFreeReport(report: FreeReport) {
  return {
    dry_run: false,
    outcome: report.outcome,
    ...header(report.plan),
    elapsed_ms: report.elapsedMs,
    ports: report.ports.map((port) => ({
      port: port.port,
      protocol: port.protocol,
      status: port.status,
      message: port.message,
      holders: port.holders.map(toJsonSocket),
      held_out_of_sight: port.heldOutOfSight,
      refusals: port.refusals.map(toJsonRefusal),
    })),
    targets: report.targets.map(toJsonTargetReport),
    warnings: report.plan.warnings.map((w) => w.message),
  }
}

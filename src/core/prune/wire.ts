import { toJsonFreePlan, toJsonFreeReport } from '../free/wire.js'
import { toJsonAllocation, toJsonHolder, toJsonJudgement, toJsonKernelHolder } from '../wire.js'
import type { PruneReport } from './execute-prune.js'
import type { PruneCandidate, PrunePlan } from './plan-prune.js'

/** The wire shapes of `prune --json`, `POST /api/prune` and the MCP `prune` tool (snake_case). */
export function toJsonPruneCandidate(candidate: PruneCandidate) {
  return {
    ...toJsonHolder(candidate.holder),
    ports: candidate.ports.map((p) => `${p.port}/${p.protocol}`),
    decision: candidate.decision,
    why: candidate.why,
    ours: candidate.ours,
    ...toJsonJudgement(candidate.judgement),
    tree: {
      below: candidate.tree.below.map((m) => m.pid),
      above: candidate.tree.above.map((m) => m.pid),
    },
  }
}

function body(plan: PrunePlan) {
  return {
    project: plan.scope.project,
    roots: plan.scope.roots,
    candidates: plan.candidates.map(toJsonPruneCandidate),
    kernel: plan.kernel.map(({ port, holder, user }) => ({
      port: port.port,
      protocol: port.protocol,
      holder: toJsonKernelHolder(holder, user),
    })),
    warnings: plan.warnings.map((w) => w.message),
  }
}

/** `--dry-run`: what would be stopped and released, and what is left alone and why. */
export function toJsonPrunePlan(plan: PrunePlan) {
  const stopping = plan.candidates.filter((c) => c.decision === 'stop').length
  return {
    dry_run: true,
    outcome:
      stopping > 0 || plan.gone.length > 0
        ? ('pruned' as const)
        : plan.candidates.some((c) => c.decision === 'refused')
          ? ('not_pruned' as const)
          : ('nothing_to_prune' as const),
    ...body(plan),
    release: plan.gone.map(toJsonAllocation),
    free: toJsonFreePlan(plan.free),
  }
}

export function toJsonPruneReport(report: PruneReport) {
  return {
    dry_run: false,
    outcome: report.outcome,
    ...body(report.plan),
    elapsed_ms: report.elapsedMs,
    tree: report.tree.map((t) => ({
      pid: t.mark.pid,
      of: t.candidate.holder.pid,
      outcome: t.outcome,
      signals: t.signals.map((s) =>
        s.sent ? { signal: s.signal, at: s.at } : { signal: s.signal, not_sent: s.message },
      ),
    })),
    released: report.released.map(toJsonAllocation),
    free: toJsonFreeReport(report.free),
  }
}

/**
 * The judgement on evidence, as a table of signs with a weight each. Conservative by design:
 * a holder with live traffic is never `stale`; one weak sign never makes `stale`.
 */
import type { Evidence } from './evidence.js'

export type Verdict = 'stale' | 'maybe stale' | 'in use'
export type Weight = 'strong' | 'weak'

export interface Reason {
  sign: string
  weight: Weight
  /** A short fact for one line: `orphaned 3 days ago`, `its worktree feature-x was deleted`. */
  text: string
}

export interface Judgement {
  verdict: Verdict
  reasons: Reason[]
}

/** One row per sign: when it applies, how much it weighs, how it reads. */
export const SIGNS: ReadonlyArray<{
  sign: string
  weight: Weight
  applies: (e: Evidence) => boolean
  text: (e: Evidence) => string
}> = [
  {
    sign: 'worktree_gone',
    weight: 'strong',
    applies: (e) => e.worktree !== null && (!e.worktree.exists || e.worktree.listed === false),
    text: (e) => `its worktree ${e.worktree?.name ?? '?'} was deleted`,
  },
  {
    sign: 'cwd_deleted',
    // The same fact as a removed worktree when that is where it ran: counted once.
    weight: 'strong',
    applies: (e) => e.cwdDeleted && !(e.worktree !== null && !e.worktree.exists),
    text: () => 'its working directory was deleted',
  },
  {
    sign: 'http_503',
    weight: 'strong',
    applies: (e) => e.httpStatus === 503,
    text: () => 'it answers 503',
  },
  {
    sign: 'registry',
    weight: 'strong',
    applies: (e) => e.registry !== null,
    text: (e) =>
      e.registry?.kind === 'other_pid'
        ? `the registry gives the port to ${e.registry.project}/${e.registry.service} with pid ${e.registry.pid ?? '?'}`
        : `the port is allocated to ${e.registry?.project ?? '?'}/${e.registry?.service ?? '?'}`,
  },
  {
    sign: 'orphaned',
    weight: 'weak',
    applies: (e) => e.orphaned !== null,
    text: (e) =>
      `orphaned${e.ageMs === null ? '' : ` ${formatAge(e.ageMs)} ago`}` +
      (e.orphaned?.launcher
        ? ` with its launcher ${e.orphaned.launcher.name} (pid ${e.orphaned.launcher.pid})`
        : '') +
      (e.orphaned && e.orphaned.parentPid !== 1 ? ` (parent ${e.orphaned.parentName})` : ''),
  },
  {
    sign: 'exe_changed',
    // Package upgrades replace executables under running services: weak.
    weight: 'weak',
    applies: (e) => e.exe !== null,
    text: (e) => `its executable was ${e.exe ?? '?'}`,
  },
  {
    sign: 'duplicate',
    weight: 'weak',
    applies: (e) => e.duplicate !== null,
    text: (e) =>
      `a duplicate (pid ${e.duplicate?.pid ?? '?'}) runs on port ${e.duplicate?.port ?? '?'}`,
  },
]

export function formatAge(ms: number): string {
  const minutes = Math.floor(ms / 60_000)
  if (minutes < 1) return `${Math.max(0, Math.floor(ms / 1000))} s`
  if (minutes < 60) return `${minutes} min`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h`
  return `${Math.floor(hours / 24)} days`
}

/**
 * | live connections | strong signs | weak signs | verdict      |
 * | ≥ 1              | any          | any        | in use       |
 * | 0                | ≥ 2          | any        | stale        |
 * | 0                | 1            | ≥ 1        | stale        |
 * | 0                | 1            | 0          | maybe stale  |
 * | 0                | 0            | ≥ 2        | maybe stale  |
 * | 0                | 0            | ≤ 1        | in use       |
 */
export function judge(evidence: Evidence): Judgement {
  const reasons = SIGNS.filter((row) => row.applies(evidence)).map((row) => ({
    sign: row.sign,
    weight: row.weight,
    text: row.text(evidence),
  }))
  const strong = reasons.filter((r) => r.weight === 'strong').length
  const weak = reasons.length - strong
  if (evidence.connections.established > 0) {
    const n = evidence.connections.established
    return {
      verdict: 'in use',
      reasons: [
        { sign: 'connections', weight: 'strong', text: `${n} connection${n === 1 ? '' : 's'} now` },
        ...reasons,
      ],
    }
  }
  const verdict: Verdict =
    strong >= 2 || (strong === 1 && weak >= 1)
      ? 'stale'
      : strong === 1 || weak >= 2
        ? 'maybe stale'
        : 'in use'
  if (verdict !== 'in use') {
    reasons.push({ sign: 'no_connections', weight: 'weak', text: 'no connections' })
  }
  return { verdict, reasons }
}

/** `looks stale: orphaned 3 days ago, its worktree feature-x was deleted, no connections`. */
export function describeJudgement(judgement: Judgement): string | null {
  if (judgement.verdict === 'in use') return null
  const head = judgement.verdict === 'stale' ? 'looks stale' : 'maybe stale'
  return `${head}: ${judgement.reasons.map((r) => r.text).join(', ')}`
}

/** Every verdict in words, `in use` too: `in use: 2 connections now`, `in use: no sign of a leftover`. */
export function explainJudgement(judgement: Judgement): string {
  const described = describeJudgement(judgement)
  if (described !== null) return described
  const texts = judgement.reasons.map((r) => r.text).join(', ')
  if (judgement.reasons[0]?.sign === 'connections') return `in use: ${texts}`
  return texts
    ? `in use: only ${texts}, not enough to call it stale`
    : 'in use: no sign of a leftover'
}

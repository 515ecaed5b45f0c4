/**
 * A holder's stale verdict as the server judged it (`verdict`, `reasons` on holder objects of
 * `GET /api/ports/{port}`, the free plan and the prune plan): a badge, with the reasons beside it.
 */
import { el, foreignText } from './dom.js'

export interface Judged {
  verdict?: string | null
  reasons?: readonly { sign: string; text: string }[]
}

/** `looks stale` / `maybe stale` and its reasons; an `in use` holder with traffic says so quietly. */
export function verdictNodes(judged: object): (Node | string)[] {
  // Holder objects carry these fields only where the server judged them (asked ports, plans).
  const holder = judged as Judged
  const reasons = (holder.reasons ?? []).map((r) => r.text).join(', ')
  if (holder.verdict === 'stale' || holder.verdict === 'maybe stale') {
    const label = holder.verdict === 'stale' ? 'looks stale' : 'maybe stale'
    return [
      ' ',
      el(
        'span',
        {
          class: `badge verdict-${holder.verdict === 'stale' ? 'stale' : 'maybe'}`,
          attrs: { title: reasons, 'data-verdict': holder.verdict },
        },
        [label],
      ),
      el('div', { class: 'reasons' }, [foreignText(reasons)]),
    ]
  }
  if (holder.verdict === 'in use' && holder.reasons?.[0]?.sign === 'connections')
    return [el('div', { class: 'reasons muted' }, [`in use: ${reasons}`])]
  return []
}

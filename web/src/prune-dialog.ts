/**
 * "Prune stale…": for one project, ask the server for the prune plan (a dry run), show who would
 * be stopped and why (the verdict and its reasons), who is left alone and why, and act only after
 * an explicit confirmation; then show what happened. Never a signal without the plan first.
 */
import { ApiError, api } from './api.js'
import { el, foreignText } from './dom.js'
import { holderName } from './format.js'
import { verdictNodes } from './stale.js'
import { TOKEN_NEEDED, currentToken } from './token.js'
import type { WirePrunePlan, WirePruneReport } from './wire.js'

const DECISION_LABEL: Record<string, string> = {
  stop: 'Will stop:',
  refused: 'Will not signal:',
  not_stale: 'Left alone (not stale):',
  not_ours: "Left alone (not this project's):",
}

export function createPruneDialog(): {
  element: HTMLDialogElement
  open: (projects: readonly string[]) => void
} {
  const title = el('h2', { attrs: { id: 'prune-title' } }, ['Prune stale processes'])
  const select = el('select', { attrs: { id: 'prune-project', 'aria-label': 'Project' } })
  const content = el('div', {
    class: 'dialog-body',
    attrs: { id: 'prune-body', 'aria-live': 'polite' },
  })
  const actions = el('div', { class: 'dialog-actions' })
  const dialog = el(
    'dialog',
    { class: 'prune-dialog', attrs: { 'aria-labelledby': 'prune-title' } },
    [title, el('label', {}, ['Project ', select]), content, actions],
  )
  let current = 0
  const closeButton = (label: string) =>
    el(
      'button',
      { attrs: { type: 'button', 'data-action': 'close' }, on: { click: () => dialog.close() } },
      [label],
    )
  const showError = (error: unknown): void => {
    content.replaceChildren(
      el('p', { class: 'error' }, [error instanceof ApiError ? error.message : String(error)]),
    )
    actions.replaceChildren(closeButton('Close'))
  }
  select.addEventListener('change', () => void plan())

  async function plan(): Promise<void> {
    const request = ++current
    if (currentToken() === null) {
      content.replaceChildren(el('p', { class: 'error' }, [TOKEN_NEEDED]))
      actions.replaceChildren(closeButton('Close'))
      return
    }
    const project = select.value || undefined
    content.replaceChildren(el('p', {}, ['Asking the server what looks stale…']))
    actions.replaceChildren(closeButton('Cancel'))
    let answer: WirePrunePlan
    try {
      answer = await api<WirePrunePlan>('/api/prune', {
        method: 'POST',
        body: { project, dry_run: true, release_gone: true },
      })
    } catch (error) {
      if (request === current) showError(error)
      return
    }
    if (request !== current) return
    content.replaceChildren(...renderPlan(answer))
    const stopping = answer.candidates.filter((c) => c.decision === 'stop').length
    if (stopping === 0 && answer.release.length === 0) {
      actions.replaceChildren(closeButton('Close'))
      return
    }
    const confirm = el(
      'button',
      { class: 'danger', attrs: { type: 'button', 'data-action': 'confirm' } },
      [
        stopping > 0
          ? `Stop ${stopping === 1 ? '1 stale process' : `${stopping} stale processes`}`
          : 'Release the gone worktrees’ ports',
      ],
    )
    confirm.addEventListener('click', () => void act(project, request))
    actions.replaceChildren(closeButton('Cancel'), confirm)
    confirm.focus()
  }

  async function act(project: string | undefined, request: number): Promise<void> {
    content.replaceChildren(el('p', {}, ['Stopping the stale processes…']))
    actions.replaceChildren()
    try {
      const report = await api<WirePruneReport>('/api/prune', {
        method: 'POST',
        body: { project, release_gone: true },
      })
      if (request !== current) return
      content.replaceChildren(...renderReport(report))
      actions.replaceChildren(closeButton('Close'))
    } catch (error) {
      if (request === current) showError(error)
    }
  }

  function open(projects: readonly string[]): void {
    select.replaceChildren(
      el('option', { attrs: { value: '' } }, ["the server's directory"]),
      ...projects.map((p) => el('option', { attrs: { value: p } }, [foreignText(p)])),
    )
    if (projects.length > 0) select.value = projects[0] as string
    if (!dialog.open) dialog.showModal()
    void plan()
  }

  dialog.addEventListener('close', () => current++)
  return { element: dialog, open }
}

function renderPlan(plan: WirePrunePlan): Node[] {
  const nodes: Node[] = []
  if (plan.candidates.length === 0 && plan.release.length === 0)
    nodes.push(el('p', {}, ['No process holds a port of this project or runs from its directory.']))
  if (plan.candidates.length > 0) {
    nodes.push(
      el(
        'ul',
        { class: 'plan' },
        plan.candidates.map((c) =>
          el('li', { class: c.decision === 'stop' ? 'will-signal' : 'refused' }, [
            el('strong', {}, [DECISION_LABEL[c.decision] ?? c.decision]),
            ' ',
            foreignText(holderName(c)),
            ` on ${c.ports.join(', ')}`,
            ...verdictNodes(c),
            c.decision === 'refused' || c.decision === 'not_ours'
              ? el('div', { class: 'refusal' }, [foreignText(c.why)])
              : null,
          ]),
        ),
      ),
    )
  }
  for (const row of plan.release)
    nodes.push(
      el('p', {}, [
        'Will release ',
        foreignText(`${row.service} (${row.port}/${row.protocol})`),
        ': its worktree is gone.',
      ]),
    )
  for (const warning of plan.warnings)
    nodes.push(el('p', { class: 'warning' }, [foreignText(warning)]))
  return nodes
}

function renderReport(report: WirePruneReport): Node[] {
  const nodes: Node[] = [
    el(
      'p',
      {
        class: report.outcome === 'pruned' ? 'ok' : 'error',
        attrs: { 'data-outcome': report.outcome },
      },
      [
        report.outcome === 'pruned'
          ? 'Done: the stale processes were stopped.'
          : report.outcome === 'nothing_to_prune'
            ? 'Nothing looked stale: nothing was stopped.'
            : 'Not everything stale could be stopped.',
      ],
    ),
    ...report.free.ports.map((p) =>
      el('p', { attrs: { 'data-status': p.status } }, [
        el('strong', {}, [`${p.port}/${p.protocol}: `]),
        foreignText(p.message),
      ]),
    ),
  ]
  for (const row of report.released)
    nodes.push(
      el('p', {}, ['Released ', foreignText(`${row.service} (${row.port}/${row.protocol})`), '.']),
    )
  return nodes
}

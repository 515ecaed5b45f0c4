/**
 * "Free this port": ask the server for the plan (dry run), show who would get which signal and
 * who would be left alone and why, act only after an explicit confirmation, then show what
 * happened to each process and port. The page never sends a signal without a dry run first.
 */
import { ApiError, api } from './api.js'
import { el, foreignText } from './dom.js'
import { verdictNodes } from './stale.js'
import { holderName } from './format.js'
import { TOKEN_NEEDED, currentToken } from './token.js'
import type { WireFreePlan, WireFreeReport } from './wire.js'

type Target = { port: number; protocol: 'tcp' | 'udp' }

const OUTCOME_TEXT: Record<string, string> = {
  freed: 'The port is free now.',
  nothing_to_free: 'Nothing held the port: nothing to free.',
}

export function createFreeDialog(): { element: HTMLDialogElement; open: (target: Target) => void } {
  const title = el('h2', { attrs: { id: 'free-title' } })
  const content = el('div', {
    class: 'dialog-body',
    attrs: { id: 'free-body', 'aria-live': 'polite' },
  })
  const actions = el('div', { class: 'dialog-actions' })
  const dialog = el(
    'dialog',
    { class: 'free-dialog', attrs: { 'aria-labelledby': 'free-title' } },
    [title, content, actions],
  )
  let current = 0

  const closeButton = (label: string) =>
    el(
      'button',
      { attrs: { type: 'button', 'data-action': 'close' }, on: { click: () => dialog.close() } },
      [label],
    )

  function showError(error: unknown): void {
    content.replaceChildren(
      el('p', { class: 'error' }, [error instanceof ApiError ? error.message : String(error)]),
    )
    actions.replaceChildren(closeButton('Close'))
  }

  async function open(target: Target): Promise<void> {
    const request = ++current
    const spec = `${target.port}/${target.protocol}`
    title.textContent = `Free port ${spec}`
    if (!dialog.open) dialog.showModal()
    if (currentToken() === null) {
      content.replaceChildren(el('p', { class: 'error' }, [TOKEN_NEEDED]))
      actions.replaceChildren(closeButton('Close'))
      return
    }
    content.replaceChildren(el('p', {}, ['Asking the server what would be stopped…']))
    actions.replaceChildren(closeButton('Cancel'))
    let plan: WireFreePlan
    try {
      plan = await api<WireFreePlan>(`/api/ports/${target.port}/free`, {
        method: 'POST',
        body: { protocol: target.protocol, dry_run: true },
      })
    } catch (error) {
      if (request === current) showError(error)
      return
    }
    if (request !== current) return
    const toSignal = plan.targets.filter((t) => t.action === 'signal')
    content.replaceChildren(...renderPlan(plan, spec))
    if (toSignal.length === 0) {
      actions.replaceChildren(closeButton('Close'))
      return
    }
    const confirm = el(
      'button',
      { class: 'danger', attrs: { type: 'button', 'data-action': 'confirm' } },
      [
        `Send ${signalName(plan.signal)} to ${toSignal.length === 1 ? '1 process' : `${toSignal.length} processes`}`,
      ],
    )
    confirm.addEventListener('click', () => void act(target, plan, request))
    actions.replaceChildren(closeButton('Cancel'), confirm)
    confirm.focus()
  }

  async function act(target: Target, plan: WireFreePlan, request: number): Promise<void> {
    content.replaceChildren(
      el('p', {}, [`Sending ${signalName(plan.signal)} and waiting for the port to be released…`]),
    )
    actions.replaceChildren()
    try {
      const report = await api<WireFreeReport>(`/api/ports/${target.port}/free`, {
        method: 'POST',
        body: { protocol: target.protocol, signal: plan.signal, dry_run: false },
      })
      if (request !== current) return
      content.replaceChildren(...renderReport(report))
      actions.replaceChildren(closeButton('Close'))
    } catch (error) {
      if (request === current) showError(error)
    }
  }

  dialog.addEventListener('close', () => current++)
  return { element: dialog, open: (target) => void open(target) }
}

function renderPlan(plan: WireFreePlan, spec: string): Node[] {
  const nodes: Node[] = []
  const held = plan.ports.some((p) => p.held || p.held_out_of_sight)
  if (!held) nodes.push(el('p', {}, [`Nothing holds ${spec}: nothing to free.`]))
  if (plan.targets.length > 0) {
    nodes.push(
      el(
        'ul',
        { class: 'plan' },
        plan.targets.map((t) =>
          el('li', { class: t.action === 'signal' ? 'will-signal' : 'refused' }, [
            el('strong', {}, [
              t.action === 'signal' ? `${signalName(plan.signal)} →` : 'Left alone:',
            ]),
            ' ',
            foreignText(holderName(t)),
            `, user `,
            foreignText(t.user),
            t.container ? el('span', {}, [' (container ', foreignText(t.container), ')']) : null,
            ...verdictNodes(t),
            el('div', { class: 'command' }, [foreignText(t.command)]),
            t.refusal ? el('div', { class: 'refusal' }, refusalText(t.refusal)) : null,
          ]),
        ),
      ),
    )
  }
  for (const port of plan.ports) {
    for (const blocker of port.blockers)
      nodes.push(el('p', { class: 'refusal' }, refusalText(blocker)))
    if (port.held_out_of_sight && port.holders.length === 0) {
      nodes.push(
        el('p', { class: 'refusal' }, [
          `${port.port}/${port.protocol} is held by a process portwarden cannot see (another user or network namespace).`,
        ]),
      )
    }
  }
  for (const warning of plan.warnings)
    nodes.push(el('p', { class: 'warning' }, [foreignText(warning)]))
  if (plan.targets.some((t) => t.action === 'signal')) {
    nodes.push(
      el('p', { class: 'muted' }, [
        `The server re-checks each process right before it signals it, waits up to ${Math.round(plan.wait_ms / 1000)} s for the port to be released`,
        plan.kill_after_ms === null
          ? ', and never sends SIGKILL.'
          : `, and sends SIGKILL after ${Math.round(plan.kill_after_ms / 1000)} s.`,
      ]),
    )
  }
  return nodes
}

function renderReport(report: WireFreeReport): Node[] {
  return [
    ...report.ports.map((p) =>
      el(
        'p',
        {
          class: p.status === 'freed' ? 'ok' : p.status === 'still_held' ? 'error' : '',
          attrs: { 'data-status': p.status },
        },
        [
          el('strong', {}, [`${p.port}/${p.protocol}: `]),
          foreignText(p.message ?? OUTCOME_TEXT[p.status] ?? p.status),
        ],
      ),
    ),
    el(
      'ul',
      { class: 'plan' },
      report.targets.map((t) =>
        el('li', {}, [foreignText(holderName(t)), ': ', foreignText(t.message)]),
      ),
    ),
    ...report.warnings.map((w) => el('p', { class: 'warning' }, [foreignText(w)])),
  ]
}

function refusalText(refusal: { message: string; suggestion: string | null }): Node[] {
  const nodes = [foreignText(refusal.message)]
  if (refusal.suggestion) nodes.push(document.createTextNode('. '), foreignText(refusal.suggestion))
  return nodes
}

/** The API names signals as the CLI takes them (`TERM` or `SIGTERM`); show the full name. */
function signalName(signal: string): string {
  return signal.startsWith('SIG') ? signal : `SIG${signal}`
}

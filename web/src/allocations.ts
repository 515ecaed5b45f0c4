/** The registry: allocations with their health, and the conflicts `status --check-conflicts` finds. */
import { ApiError, api } from './api.js'
import { el, foreignText } from './dom.js'
import { holderName, timeAgo } from './format.js'
import { TOKEN_NEEDED, currentToken } from './token.js'
import type { ManagedAllocation, WireConflict } from './wire.js'

const HEALTH_LABEL: Record<string, string> = {
  healthy: 'healthy',
  unhealthy: 'unhealthy',
  not_running: 'not running',
  unknown: 'not checked',
}

const CONFLICT_LABEL: Record<string, string> = {
  registry_conflict: 'Registry conflict',
  system_conflict: 'System conflict',
  allocation_mismatch: 'Allocation mismatch',
}

export interface RegistryView {
  element: HTMLElement
  show(allocations: readonly ManagedAllocation[], conflicts: readonly WireConflict[]): void
}

export function createRegistryView(
  reload: () => Promise<void>,
  onPrune: (projects: string[]) => void,
): RegistryView {
  let projects: string[] = []
  const pruneButton = el('button', { attrs: { type: 'button', id: 'prune-button' } }, [
    'Prune stale…',
  ])
  pruneButton.addEventListener('click', () => onPrune(projects))
  const body = el('tbody', { attrs: { id: 'allocation-rows' } })
  const conflictList = el('ul', { class: 'conflicts', attrs: { id: 'conflict-list' } })
  const note = el('p', { class: 'note', attrs: { 'aria-live': 'polite' } })
  const checkButton = el('button', { attrs: { type: 'button' } }, ['Run health checks'])
  checkButton.addEventListener('click', async () => {
    if (currentToken() === null) {
      note.textContent = TOKEN_NEEDED
      return
    }
    checkButton.disabled = true
    note.textContent = 'Running the health checks…'
    try {
      await api('/api/health-checks', { method: 'POST', body: {} })
      note.textContent = 'Health checks done.'
      await reload()
    } catch (error) {
      note.textContent = error instanceof ApiError ? error.message : String(error)
    } finally {
      checkButton.disabled = false
    }
  })

  const element = el('section', { attrs: { 'aria-labelledby': 'registry-title' } }, [
    el('div', { class: 'section-head' }, [
      el('h2', { attrs: { id: 'registry-title' } }, ['Allocations']),
      checkButton,
      pruneButton,
    ]),
    note,
    el('div', { class: 'table-wrap' }, [
      el('table', { class: 'allocations' }, [
        el('caption', { class: 'visually-hidden' }, [
          'Ports allocated in the registry, with their health',
        ]),
        el('thead', {}, [
          el(
            'tr',
            {},
            ['Project', 'Service', 'Port', 'Health', 'Last checked', 'Held by', 'Actions'].map(
              (label) => el('th', { attrs: { scope: 'col' } }, [label]),
            ),
          ),
        ]),
        body,
      ]),
    ]),
    el('h3', { attrs: { id: 'conflicts-title' } }, ['Conflicts']),
    conflictList,
  ])

  /**
   * Release, in two steps: the first click asks (in the row, naming what goes), the second
   * deletes the allocation (token-protected, like every change), then the view reloads.
   */
  function releaseControl(allocation: ManagedAllocation): HTMLElement {
    const cell = el('div', { class: 'row-actions' })
    const what = `${allocation.service} of ${allocation.project} (${allocation.port}/${allocation.protocol})`
    const start = el(
      'button',
      {
        attrs: { type: 'button', 'data-action': 'release', 'aria-label': `Release ${what}` },
        on: { click: () => ask() },
      },
      ['Release…'],
    )
    const ask = () => {
      if (currentToken() === null) {
        note.textContent = TOKEN_NEEDED
        return
      }
      const confirm = el(
        'button',
        {
          class: 'danger',
          attrs: { type: 'button', 'data-action': 'confirm-release' },
          on: { click: () => void releaseNow(confirm) },
        },
        ['Release'],
      )
      const cancel = el(
        'button',
        { attrs: { type: 'button' }, on: { click: () => cell.replaceChildren(start) } },
        ['Cancel'],
      )
      cell.replaceChildren(confirm, ' ', cancel)
      confirm.focus()
    }
    const releaseNow = async (button: HTMLButtonElement) => {
      button.disabled = true
      try {
        await api(`/api/allocations/${allocation.id}`, { method: 'DELETE' })
        note.textContent = `Released ${what}.`
        await reload()
      } catch (error) {
        note.textContent = error instanceof ApiError ? error.message : String(error)
        cell.replaceChildren(start)
      }
    }
    cell.append(start)
    return cell
  }

  return {
    element,
    show(allocations, conflicts) {
      projects = [...new Set(allocations.map((a) => a.project))].sort()
      const now = Date.now()
      body.replaceChildren(
        ...allocations.map((a) => {
          const holders = (a.holders ?? []).flatMap((socket) => socket.processes)
          return el('tr', { attrs: { 'data-allocation': String(a.id) } }, [
            el('td', { attrs: { 'data-label': 'Project' } }, [foreignText(a.project)]),
            el('td', { attrs: { 'data-label': 'Service' } }, [foreignText(a.service)]),
            el('td', { class: 'num', attrs: { 'data-label': 'Port' } }, [
              `${a.port}/${a.protocol}`,
            ]),
            el('td', { attrs: { 'data-label': 'Health' } }, [
              el(
                'span',
                {
                  class: `badge health-${a.health_status}`,
                  attrs: a.health_detail ? { title: a.health_detail } : {},
                },
                [HEALTH_LABEL[a.health_status] ?? a.health_status],
              ),
            ]),
            el('td', { attrs: { 'data-label': 'Last checked' } }, [
              timeAgo(a.last_checked_at, now),
            ]),
            el('td', { attrs: { 'data-label': 'Held by' } }, [
              holders.length === 0
                ? el('span', { class: 'muted' }, ['—'])
                : foreignText(holders.map(holderName).join(', ')),
            ]),
            el('td', { attrs: { 'data-label': 'Actions' } }, [releaseControl(a)]),
          ])
        }),
      )
      if (allocations.length === 0) {
        body.append(
          el('tr', { class: 'empty' }, [
            el('td', { attrs: { colspan: '7' } }, [
              'No allocations in the registry. `portwarden alloc SERVICE` makes one.',
            ]),
          ]),
        )
      }
      conflictList.replaceChildren(
        ...conflicts.map((c) =>
          el('li', { class: `conflict conflict-${c.kind}` }, [
            el('span', { class: 'badge' }, [
              `${CONFLICT_LABEL[c.kind] ?? c.kind}${c.verified ? '' : ' (unverified)'}`,
            ]),
            ' ',
            foreignText(c.message),
            c.resolution
              ? el('div', { class: 'resolution' }, [
                  'Fix: ',
                  el('code', {}, [foreignText(c.resolution)]),
                ])
              : null,
          ]),
        ),
      )
      if (conflicts.length === 0)
        conflictList.append(el('li', { class: 'muted' }, ['No conflicts.']))
    },
  }
}

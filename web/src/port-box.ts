/**
 * "Is this port free?" as you type: debounced, one request in flight (a newer keystroke aborts
 * the older question), the answer in one sentence read out by screen readers.
 */
import { ApiError, api } from './api.js'
import { el, foreignText } from './dom.js'
import { verdictNodes } from './stale.js'
import { holderName } from './format.js'
import type { WireCheck } from './wire.js'

const DEBOUNCE_MS = 250

export interface PortTarget {
  port: number
  protocol: 'tcp' | 'udp'
}

/** `8080`, `8080/udp` (the CLI's port spec, one port); null when it is not one. */
export function parsePortInput(text: string, fallback: 'tcp' | 'udp'): PortTarget | null {
  const match = /^\s*(\d{1,5})\s*(?:\/\s*(tcp|udp))?\s*$/i.exec(text)
  if (!match) return null
  const port = Number(match[1])
  if (port < 1 || port > 65535) return null
  return { port, protocol: (match[2]?.toLowerCase() as 'tcp' | 'udp' | undefined) ?? fallback }
}

export function createPortBox(onFree: (target: PortTarget) => void): HTMLElement {
  const input = el('input', {
    attrs: {
      id: 'port-input',
      type: 'text',
      inputmode: 'numeric',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: '8080',
      'aria-describedby': 'port-answer',
    },
  })
  const protocol = el('select', { attrs: { id: 'port-protocol' } }, [
    el('option', { attrs: { value: 'tcp' } }, ['TCP']),
    el('option', { attrs: { value: 'udp' } }, ['UDP']),
  ])
  const answer = el(
    'output',
    { class: 'answer', attrs: { id: 'port-answer', 'aria-live': 'polite', for: 'port-input' } },
    ['Type a port number to see whether it is free.'],
  )
  let timer: ReturnType<typeof setTimeout> | undefined
  let inFlight: AbortController | null = null

  const show = (state: string, children: (Node | string)[]) => {
    answer.dataset.state = state
    answer.replaceChildren(...children)
  }

  async function ask(target: PortTarget): Promise<void> {
    inFlight?.abort()
    const controller = new AbortController()
    inFlight = controller
    const spec = `${target.port}/${target.protocol}`
    show('checking', [`Checking ${spec}…`])
    try {
      const check = await api<WireCheck>(`/api/ports/${target.port}?protocol=${target.protocol}`, {
        signal: controller.signal,
      })
      if (controller.signal.aborted) return
      if (check.free) {
        const allocation = check.allocation
        show('free', [
          el('strong', {}, [`${spec} is free`]),
          ...(allocation
            ? [
                ' (but allocated in the registry to ',
                foreignText(allocation.service),
                ' of project ',
                foreignText(allocation.project),
                ')',
              ]
            : []),
          // TCP and UDP ports are separate: 51820/tcp is free while wireguard-go holds 51820/udp.
          ...(check.other_protocol
            ? [el('br'), 'Note: ', foreignText(`${check.other_protocol.message}.`)]
            : []),
        ])
        return
      }
      const holder = check.holders.flatMap((socket) => socket.processes)[0]
      const who = holder
        ? [' by ', foreignText(holderName(holder))]
        : [': ', foreignText(check.message ?? 'a process portwarden cannot see')]
      show('in-use', [
        el('strong', {}, [`${spec} is in use`]),
        ...who,
        ...(holder ? verdictNodes(holder) : []),
        ' ',
        el(
          'button',
          { class: 'danger', attrs: { type: 'button' }, on: { click: () => onFree(target) } },
          ['Free this port…'],
        ),
      ])
    } catch (error) {
      if (controller.signal.aborted) return
      show('error', [error instanceof ApiError ? error.message : String(error)])
    }
  }

  function changed(): void {
    clearTimeout(timer)
    const text = input.value
    if (text.trim() === '') {
      inFlight?.abort()
      show('idle', ['Type a port number to see whether it is free.'])
      return
    }
    const target = parsePortInput(text, protocol.value as 'tcp' | 'udp')
    if (!target) {
      inFlight?.abort()
      show('error', [
        'A port is a whole number from 1 to 65535, optionally with /tcp or /udp (8080, 51820/udp).',
      ])
      return
    }
    // `51820/udp` says the protocol itself: the selector follows, so the two never disagree.
    if (/\/\s*(tcp|udp)\s*$/i.test(text)) protocol.value = target.protocol
    timer = setTimeout(() => void ask(target), DEBOUNCE_MS)
  }
  input.addEventListener('input', changed)
  protocol.addEventListener('change', changed)

  return el('section', { class: 'port-box', attrs: { 'aria-labelledby': 'port-title' } }, [
    el('h2', { attrs: { id: 'port-title' } }, ['Check a port']),
    el('div', { class: 'port-form' }, [
      el('label', { attrs: { for: 'port-input' } }, ['Port']),
      input,
      el('label', { class: 'visually-hidden', attrs: { for: 'port-protocol' } }, ['Protocol']),
      protocol,
    ]),
    answer,
  ])
}

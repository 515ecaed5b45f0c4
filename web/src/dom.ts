/**
 * The one way this page makes DOM: elements by name, text only as text nodes. Nothing from the
 * server ever goes through innerHTML, so a project named `<img onerror=…>` stays a name.
 */
import { escapeUnsafe, hasUnsafeCharacters } from '../../src/shared/safe-text.js'

export type Child = Node | string | null | undefined | false

export interface Props {
  class?: string
  /** Attributes, set with setAttribute (never event handlers: use `on`). */
  attrs?: Record<string, string>
  on?: Partial<Record<keyof HTMLElementEventMap, (event: Event) => void>>
}

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  children: readonly Child[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag)
  if (props.class) element.className = props.class
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value)
  for (const [type, listener] of Object.entries(props.on ?? {})) {
    if (listener) element.addEventListener(type, listener)
  }
  append(element, children)
  return element
}

export function append(parent: Node, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    parent.appendChild(typeof child === 'string' ? document.createTextNode(child) : child)
  }
}

/**
 * Someone else's text (process names, command lines, project names): control, zero-width and
 * bidi characters are shown as visible escapes (`\x1b`, `\u202e`), marked so a reader sees that
 * the name was not typed that way. The same rule as the CLI's (src/core/safe-text.ts).
 */
export function foreignText(text: string): Node {
  if (!hasUnsafeCharacters(text)) return document.createTextNode(text)
  const shown = el('span', { class: 'foreign' })
  let plain = ''
  let unsafe = ''
  const flush = () => {
    if (plain) shown.append(plain)
    if (unsafe) {
      shown.append(
        el(
          'span',
          { class: 'escaped', attrs: { title: 'control or invisible characters, shown escaped' } },
          [escapeUnsafe(unsafe)],
        ),
      )
    }
    plain = ''
    unsafe = ''
  }
  for (const character of text) {
    if (hasUnsafeCharacters(character)) {
      if (plain) flush()
      unsafe += character
    } else {
      if (unsafe) flush()
      plain += character
    }
  }
  flush()
  return shown
}

/** Visible-escaped text for attributes and aria labels. */
export function foreignString(text: string): string {
  return escapeUnsafe(text)
}

export function byId<T extends HTMLElement>(id: string): T {
  const element = document.getElementById(id)
  if (!element) throw new Error(`the page has no #${id}`)
  return element as T
}

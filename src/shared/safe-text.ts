/**
 * Text from other people (process names, command lines, project names, manifest lines) must
 * never move the cursor, recolour the terminal, or reorder what is shown: C0/C1 controls, DEL,
 * zero-width, line/paragraph separators and bidi controls are shown as escapes instead.
 *
 * One rule for every front end: the CLI, the server and the dashboard (in the browser) import
 * it from here; `src/shared/` depends on nothing but the language.
 */
/* eslint-disable no-control-regex -- matching control characters is the point */
const UNSAFE =
  /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/
/* eslint-enable no-control-regex */
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g')
// JSON.stringify already escapes C0 controls; what it leaves raw starts at DEL.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/g

const unicodeEscape = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`

export function hasUnsafeCharacters(text: string): boolean {
  return UNSAFE.test(text)
}

/** `\x1b` for a byte-range control, `\u202e` above it; everything else as it is. */
export function escapeUnsafe(text: string): string {
  return text.replace(UNSAFE_ALL, (c) => {
    const code = c.charCodeAt(0)
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : unicodeEscape(c)
  })
}

/** `escapeUnsafe` line by line: a message of several lines keeps its line breaks. */
export function escapeUnsafeLines(text: string): string {
  return text.split('\n').map(escapeUnsafe).join('\n')
}

/** A JSON string literal of `text`, safe to print on a terminal. */
export function quoteForTerminal(text: string): string {
  return JSON.stringify(text).replace(UNSAFE_IN_JSON, unicodeEscape)
}

/** One JSON document, safe to print on a terminal; it parses to exactly `value`. */
export function stringifyForTerminal(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_IN_JSON, unicodeEscape)
}

/** `text` cut to at most `max` code units, an ellipsis marking the cut; never half a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text
  let cut = max - 1
  const last = text.charCodeAt(cut - 1)
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1
  return `${text.slice(0, cut)}…`
}

/** A value as an error message shows it: `"abc"`, `-1`, `null`, `an object`; never a dump. */
export function showValue(value: unknown): string {
  if (typeof value === 'string') return quoteForTerminal(truncate(value, 41))
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'boolean' || value === null || value === undefined) return String(value)
  if (typeof value === 'function') return 'a function'
  if (typeof value === 'symbol') return 'a symbol'
  if (Array.isArray(value))
    return value.length === 0
      ? 'an empty array'
      : `an array of ${value.length} item${value.length === 1 ? '' : 's'}`
  const kind = Object.getPrototypeOf(value)?.constructor?.name
  return typeof kind === 'string' && kind !== 'Object' && /^[A-Za-z]\w{0,30}$/.test(kind)
    ? `a ${kind}`
    : 'an object'
}

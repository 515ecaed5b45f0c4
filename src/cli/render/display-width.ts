/**
 * Terminal columns, not UTF-16 code units: a CJK character or an emoji takes two columns, a
 * combining mark none. Tables pad and cut by these widths so columns line up whatever a process
 * is called. Printable ASCII (nearly every cell) is measured by its length, without segmenting.
 */
import stringWidth from 'string-width'

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

export function displayWidth(text: string): number {
  return PRINTABLE_ASCII.test(text) ? text.length : stringWidth(text)
}

/** `text` padded with spaces to `columns` terminal columns. */
export function padToWidth(text: string, columns: number): string {
  const missing = columns - displayWidth(text)
  return missing > 0 ? text + ' '.repeat(missing) : text
}

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })

/**
 * `text` in at most `columns` terminal columns, an ellipsis marking the cut; cut between
 * graphemes, so never through a wide character, a surrogate pair or an emoji sequence.
 * (cli-truncate 5 lets a wide character that straddles the edge overflow by one column.)
 */
export function fitToWidth(text: string, columns: number): string {
  if (PRINTABLE_ASCII.test(text))
    return text.length <= columns ? text : `${text.slice(0, Math.max(0, columns - 1))}…`
  if (stringWidth(text) <= columns) return text
  let kept = ''
  let width = 0
  for (const { segment } of graphemes.segment(text)) {
    const next = stringWidth(segment)
    if (width + next > columns - 1) break
    kept += segment
    width += next
  }
  return `${kept}…`
}

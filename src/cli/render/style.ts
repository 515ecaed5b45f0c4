/** Colour only for a terminal, and never when NO_COLOR is set (no-color.org) or TERM is dumb. */
export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '') return false
  if (process.env.TERM === 'dumb') return false
  return stream.isTTY === true
}

export interface Style {
  pass(text: string): string
  fail(text: string): string
  warn(text: string): string
  dim(text: string): string
  bold(text: string): string
}

const wrap = (open: number, close: number) => (text: string) =>
  `\u001b[${open}m${text}\u001b[${close}m`
const plain = (text: string) => text

export function createStyle(enabled: boolean): Style {
  if (!enabled) return { pass: plain, fail: plain, warn: plain, dim: plain, bold: plain }
  return {
    pass: wrap(32, 39),
    fail: wrap(31, 39),
    warn: wrap(33, 39),
    dim: wrap(2, 22),
    bold: wrap(1, 22),
  }
}

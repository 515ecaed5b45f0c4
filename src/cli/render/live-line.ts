/**
 * One line of stderr redrawn in place (`\r` + erase line), for progress on a terminal only:
 * piped or on a dumb terminal it draws nothing. Anything else written to the stream should
 * call `clear()` first, so that the line never runs into it.
 */
export class LiveLine {
  private readonly stream: NodeJS.WriteStream
  private readonly enabled: boolean
  private shown = ''

  constructor(stream: NodeJS.WriteStream) {
    this.stream = stream
    this.enabled = stream.isTTY === true && process.env.TERM !== 'dumb'
  }

  /** Shows `text` in place of the current line (nothing is written when it is unchanged). */
  draw(text: string): void {
    if (!this.enabled || text === this.shown) return
    this.stream.write(`\r\u001b[2K${text}`)
    this.shown = text
  }

  clear(): void {
    if (this.shown === '') return
    this.stream.write('\r\u001b[2K')
    this.shown = ''
  }
}

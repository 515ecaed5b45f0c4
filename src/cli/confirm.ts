import { createInterface } from 'node:readline'

/** What a shell reports for a command that Ctrl-C (SIGINT) ended: 128 + 2. */
export const EXIT_INTERRUPTED = 130

/** Where a command that stops processes talks to a person: questions and progress on stderr. */
export interface ConfirmIo {
  stdin: NodeJS.ReadStream
  stderr: NodeJS.WriteStream
}

/**
 * One `[y/N]` question per item (`free`'s processes, `prune`'s stale holders), all before anything
 * is sent. End of input means no to the rest; Ctrl-C means nothing at all (null).
 */
export async function confirmEach<T>(
  items: readonly T[],
  questionOf: (item: T) => string,
  io: ConfirmIo,
): Promise<Set<T> | null> {
  const approved = new Set<T>()
  const rl = createInterface({ input: io.stdin, output: io.stderr, terminal: true })
  let closed = false
  let interrupted = false
  rl.on('close', () => (closed = true))
  try {
    for (const item of items) {
      if (closed) break
      const answer = await new Promise<string | null>((resolve) => {
        const onClose = (): void => resolve(null)
        rl.once('close', onClose)
        rl.once('SIGINT', () => {
          io.stderr.write('^C')
          interrupted = true
          rl.close()
        })
        rl.question(`${questionOf(item)} [y/N] `, (text) => {
          rl.off('close', onClose)
          resolve(text)
        })
      })
      if (answer === null) {
        io.stderr.write('\n')
        break
      }
      if (/^\s*y(es)?\s*$/i.test(answer)) approved.add(item)
    }
  } finally {
    rl.close()
  }
  return interrupted ? null : approved
}

/**
 * Serialises async work within one process. The database lock serialises processes; this keeps
 * two callers in the same process (the HTTP server) from interleaving on one connection.
 */
export function createMutex(): <T>(work: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve()
  return <T>(work: () => Promise<T>): Promise<T> => {
    const run = tail.then(work, work)
    tail = run.catch(() => {})
    return run
  }
}

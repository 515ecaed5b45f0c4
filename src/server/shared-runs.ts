/**
 * At most one run of a piece of work per key at a time, shared by every caller that waits for
 * it: a caller that arrives while a run is in flight waits for the *next* run (its answer is
 * never older than its request), and every caller waiting then shares that one. Fifty clients
 * asking the same question cost one run at a time, not fifty.
 */
export class SharedRuns<T> {
  private readonly states = new Map<
    string,
    { current: Promise<T> | null; next: Promise<T> | null }
  >()

  run(key: string, work: () => Promise<T>): Promise<T> {
    let state = this.states.get(key)
    if (state === undefined) {
      state = { current: null, next: null }
      this.states.set(key, state)
    }
    const own = state
    if (own.current === null) {
      own.current = work().finally(() => {
        own.current = null
        if (own.next === null && this.states.get(key) === own) this.states.delete(key)
      })
      return own.current
    }
    own.next ??= own.current
      .catch(() => undefined)
      .then(() => {
        own.next = null
        // A run started since the last one ended began after these callers asked: share it.
        // (Starting another beside it would run the work twice at once.) The state stays; the
        // run's own `finally` removes it.
        return own.current ?? this.run(key, work)
      })
    return own.next
  }
}

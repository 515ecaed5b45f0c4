import { constants, PerformanceObserver } from 'node:perf_hooks'
import type { PerformanceEntry } from 'node:perf_hooks'
import { releaseFreeMemory } from '../core/sockets/native-addon.js'

/** A `gc` performance entry: its kind tells a full collection from a scavenge. */
type GcEntry = PerformanceEntry & { detail?: { kind?: number } }

/** The least time between two trims: each walks the allocator's free lists (1-8 ms at 100k sockets). */
const TRIM_SPACING_MS = 1000

/**
 * Hands the allocator's free pages back to the kernel after V8's full collections. The server
 * frees large buffers (a 100k-socket dump is 4 MB, a rendered answer tens of MB) and glibc keeps
 * their pages: its mmap threshold rises to the largest buffer freed, so later ones come from a
 * heap it trims only at the top. At 100k sockets that was 25-55 MiB of resident memory after
 * load (bench/RESULTS.md). A trim follows each full collection within a second (the last one too,
 * so an idle server ends trimmed); without the addon, or off glibc, it does nothing. `onTrim`
 * hears whether each trim handed pages back. Returns the function that stops it.
 */
export function trimAfterFullCollections(onTrim?: (released: boolean) => void): () => void {
  let lastTrim = -Infinity
  let timer: NodeJS.Timeout | null = null
  const trim = () => {
    timer = null
    lastTrim = performance.now()
    onTrim?.(releaseFreeMemory())
  }
  const observer = new PerformanceObserver((list) => {
    if (timer !== null) return
    const full = list
      .getEntries()
      .some((entry) => (entry as GcEntry).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
    if (!full) return
    timer = setTimeout(trim, Math.max(0, lastTrim + TRIM_SPACING_MS - performance.now()))
    timer.unref()
  })
  observer.observe({ entryTypes: ['gc'] })
  return () => {
    observer.disconnect()
    if (timer !== null) clearTimeout(timer)
    timer = null
  }
}

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterEach, describe, expect, it } from 'vitest'
import { nativeAddon } from '../core/sockets/native-addon.js'
import { trimAfterFullCollections } from './memory-trim.js'

// A full collection on demand, without starting node with --expose-gc.
setFlagsFromString('--expose-gc')
const fullCollection = runInNewContext('gc') as () => void

const glibcTrim = nativeAddon().addon?.trimMemory !== undefined
if (!glibcTrim) console.warn('[memory-trim] the addon has no trimMemory: only the wiring is tested')

describe('trimAfterFullCollections', () => {
  let stop: (() => void) | null = null
  afterEach(() => {
    stop?.()
    stop = null
  })

  it('trims after a full collection, and two close together make one trim', async () => {
    const trims: boolean[] = []
    let heard: () => void = () => {}
    stop = trimAfterFullCollections((released) => {
      trims.push(released)
      heard()
    })
    const firstTrim = new Promise<void>((resolve) => (heard = resolve))
    fullCollection()
    await firstTrim
    const firstAt = performance.now()
    // A second collection at once: its trim waits out the spacing (a second after the first).
    const secondTrim = new Promise<void>((resolve) => (heard = resolve))
    fullCollection()
    fullCollection()
    await secondTrim
    expect(performance.now() - firstAt).toBeGreaterThanOrEqual(900)
    expect(trims).toHaveLength(2)
    if (!glibcTrim) expect(trims).toEqual([false, false])
  })

  it('stops trimming when stopped', async () => {
    const trims: boolean[] = []
    trimAfterFullCollections((released) => trims.push(released))()
    // A second trimmer hears the same collection: once it has trimmed, the first would have too.
    let heard: () => void = () => {}
    const other = new Promise<void>((resolve) => (heard = resolve))
    stop = trimAfterFullCollections(() => heard())
    fullCollection()
    await other
    await new Promise((resolve) => setImmediate(resolve))
    expect(trims).toEqual([])
  })
})

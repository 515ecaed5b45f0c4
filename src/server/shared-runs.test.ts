import { describe, expect, it } from 'vitest'
import { SharedRuns } from './shared-runs.js'

/** A piece of work whose runs the test finishes by hand, in order. */
function controlledWork() {
  const pending: ((value: number) => void)[] = []
  let runs = 0
  const work = () =>
    new Promise<number>((resolve) => {
      runs++
      pending.push(resolve)
    })
  return { work, runs: () => runs, finish: (value: number) => pending.shift()?.(value) }
}

describe('SharedRuns', () => {
  it('callers during a run wait for the next run, and all of them share it', async () => {
    const shared = new SharedRuns<number>()
    const { work, runs, finish } = controlledWork()
    const first = shared.run('k', work)
    const late = [shared.run('k', work), shared.run('k', work), shared.run('k', work)]
    expect(runs()).toBe(1)
    finish(1)
    expect(await first).toBe(1)
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs()).toBe(2) // one more run for the three late callers, not three
    finish(2)
    expect(await Promise.all(late)).toEqual([2, 2, 2])
  })

  it('keys are independent; a failed run fails its callers only, the next run starts afresh', async () => {
    const shared = new SharedRuns<number>()
    const failing = shared.run('a', () => Promise.reject(new Error('boom')))
    const other = shared.run('b', () => Promise.resolve(7))
    const after = shared.run('a', () => Promise.resolve(3))
    await expect(failing).rejects.toThrow('boom')
    expect(await other).toBe(7)
    expect(await after).toBe(3)
    expect(await shared.run('a', () => Promise.resolve(4))).toBe(4)
  })

  it('a caller that asks again right after its run ends shares one run with the waiting ones', async () => {
    const shared = new SharedRuns<number>()
    let active = 0
    let most = 0
    const { work: controlled, runs, finish } = controlledWork()
    const work = async () => {
      active++
      most = Math.max(most, active)
      try {
        return await controlled()
      } finally {
        active--
      }
    }
    const first = shared.run('k', work)
    const waiting = shared.run('k', work)
    const again = first.then(() => shared.run('k', work)) // asks again the moment it has its answer
    finish(1)
    await first
    await new Promise((resolve) => setImmediate(resolve))
    expect(runs()).toBe(2) // not a third run beside the second
    finish(2)
    expect(await Promise.all([waiting, again])).toEqual([2, 2])
    expect(most).toBe(1)
  })
})

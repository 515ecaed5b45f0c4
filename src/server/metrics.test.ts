import { afterEach, describe, expect, it } from 'vitest'
import { METRICS_MAX_AGE_MS, ScrapeAhead } from './metrics.js'

const running: ScrapeAhead[] = []
afterEach(() => running.splice(0).forEach((ahead) => ahead.cancel()))

/** A ScrapeAhead whose polls are counted, with the times they were asked at. */
function counted() {
  const polls: number[] = []
  const ahead = new ScrapeAhead(async () => polls.push(performance.now()))
  running.push(ahead)
  return { ahead, polls }
}

const after = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('ScrapeAhead: a steady scraper finds a snapshot polled just before it', () => {
  it('after two equal gaps longer than the snapshot bound it polls a second before the next scrape is due', async () => {
    const { ahead, polls } = counted()
    const gap = METRICS_MAX_AGE_MS + 500
    const now = performance.now()
    // Scrapes "in the past", a steady gap apart: the last one is now.
    ahead.scraped(now - 2 * gap)
    ahead.scraped(now - gap)
    ahead.scraped(now)
    expect(polls).toHaveLength(0)
    await after(gap - 1000 + 300)
    expect(polls).toHaveLength(1)
    const lead = now + gap - (polls[0] as number)
    expect(lead).toBeGreaterThan(500)
    expect(lead).toBeLessThanOrEqual(1000 + 50)
  })

  it('does nothing for an unsteady scraper, for one within the snapshot bound, or after cancel', async () => {
    const unsteady = counted()
    const now = performance.now()
    unsteady.ahead.scraped(now - 5000)
    unsteady.ahead.scraped(now - 3000)
    unsteady.ahead.scraped(now) // gaps 2000 then 3000
    const quick = counted()
    quick.ahead.scraped(now - 2000)
    quick.ahead.scraped(now - 1000)
    quick.ahead.scraped(now) // steady, but every snapshot is young enough already
    const steady = counted()
    steady.ahead.scraped(now - 2 * 2600)
    steady.ahead.scraped(now - 2600)
    steady.ahead.scraped(now)
    steady.ahead.cancel()
    await after(2000)
    expect(unsteady.polls).toHaveLength(0)
    expect(quick.polls).toHaveLength(0)
    expect(steady.polls).toHaveLength(0)
  })
})

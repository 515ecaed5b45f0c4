/**
 * Issue 6, the app in-process (`createApp` + `app.request()`, no socket): the event stream's
 * heartbeat, and the one shared SocketWatcher behind every stream: started by the first client,
 * polling once per interval however many clients listen, stopped when the last one leaves.
 */
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/server/app.js'
import { removeServeDirs, serveTempDir } from './helpers/serve.js'

afterAll(removeServeDirs)

async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  pattern: RegExp,
  ms = 5000,
): Promise<string> {
  const decoder = new TextDecoder()
  let text = ''
  const deadline = Date.now() + ms
  while (!pattern.test(text)) {
    if (Date.now() > deadline) throw new Error(`no ${pattern} in:\n${text}`)
    const { value, done } = await reader.read()
    if (done) throw new Error(`stream ended:\n${text}`)
    text += decoder.decode(value, { stream: true })
  }
  return text
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('event streams in-process', () => {
  it('heartbeats, one watcher for many clients, stopped with the last', async () => {
    const served = createApp({
      token: 't',
      registry: join(serveTempDir(), 'registry.db'),
      watchIntervalMs: 100,
      heartbeatMs: 50,
    })
    const { watcher, metrics } = served.context
    const open = async () => {
      const response = await served.app.request('/api/events', { headers: { host: 'localhost' } })
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
      return response.body!.getReader()
    }
    try {
      const first = await open()
      await readUntil(first, /: heartbeat\n\n/)
      const second = await open()
      const third = await open()
      expect((await metrics.sseClients.get()).values[0]?.value).toBe(3)
      // Three clients, one poller: about one poll per interval, not three.
      const before = watcher.stats.polls
      await sleep(1000)
      const polls = watcher.stats.polls - before
      expect(polls).toBeGreaterThanOrEqual(3)
      expect(polls).toBeLessThanOrEqual(12)
      await first.cancel()
      await second.cancel()
      await third.cancel()
      expect((await metrics.sseClients.get()).values[0]?.value).toBe(0)
      await sleep(300) // a poll already running may finish
      const stopped = watcher.stats.polls
      await sleep(500)
      expect(watcher.stats.polls).toBe(stopped)
    } finally {
      await served.close()
    }
  })
})

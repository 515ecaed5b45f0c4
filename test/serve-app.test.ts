/**
 * Issue 6, the app in-process (`createApp` + `app.request()`, no socket): the event stream's
 * heartbeat, and the one shared SocketWatcher behind every stream: started by the first client,
 * polling once per interval however many clients listen, stopped when the last one leaves.
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
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
      // Three clients, one poller (the app's): it polls, and never faster than its interval.
      const before = watcher.stats.polls
      const started = Date.now()
      while (watcher.stats.polls - before < 2 && Date.now() - started < 10_000) await sleep(20)
      const polls = watcher.stats.polls - before
      expect(polls).toBeGreaterThanOrEqual(2)
      expect(polls).toBeLessThanOrEqual((Date.now() - started) / 100 + 2)
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

describe('the dashboard files', () => {
  it('serves index.html at / and files under /assets/, nothing outside the web root', async () => {
    const dir = serveTempDir()
    const web = join(dir, 'web')
    mkdirSync(join(web, 'assets'), { recursive: true })
    writeFileSync(join(web, 'index.html'), '<!doctype html><title>pw</title>')
    writeFileSync(join(web, 'assets', 'index-Ab_1.js'), 'console.log(1)')
    writeFileSync(join(web, 'assets', 'index-Ab_1.css'), 'body{}')
    writeFileSync(join(dir, 'secret.txt'), 'secret')
    symlinkSync(join(dir, 'secret.txt'), join(web, 'assets', 'link.txt'))
    const served = createApp({ token: 't', registry: join(dir, 'registry.db'), webRoot: web })
    const get = (path: string) => served.app.request(path, { headers: { host: '127.0.0.1' } })
    try {
      const page = await get('/')
      expect(page.status).toBe(200)
      expect(page.headers.get('content-type')).toMatch(/^text\/html/)
      expect(await page.text()).toContain('<title>pw</title>')
      const script = await get('/assets/index-Ab_1.js')
      expect(script.headers.get('content-type')).toMatch(/^text\/javascript/)
      expect(script.headers.get('x-content-type-options')).toBe('nosniff')
      expect((await get('/assets/index-Ab_1.css')).headers.get('content-type')).toMatch(
        /^text\/css/,
      )
      for (const path of [
        '/assets/link.txt',
        '/assets/../../secret.txt',
        '/assets/%2e%2e/%2e%2e/secret.txt',
        '/assets/missing.js',
        '/secret.txt',
      ]) {
        const answer = await get(path)
        expect(answer.status, path).toBe(404)
        expect(await answer.text()).not.toContain('secret')
      }
    } finally {
      await served.close()
    }
  })

  it('without a built dashboard, / says how to build it', async () => {
    const dir = serveTempDir()
    const served = createApp({
      token: 't',
      registry: join(dir, 'r.db'),
      webRoot: join(dir, 'none'),
    })
    try {
      const page = await served.app.request('/', { headers: { host: 'localhost' } })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('npm run build')
    } finally {
      await served.close()
    }
  })
})

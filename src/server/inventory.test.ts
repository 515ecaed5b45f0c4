import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { SocketWatcher } from '../core/watch/socket-watcher.js'
import { InventoryScanner } from './inventory.js'

const servers: Server[] = []

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
  )
})

async function listen(): Promise<number> {
  const server = createServer()
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

const hasPort = (sockets: { localPort: number }[], port: number) =>
  sockets.some((s) => s.localPort === port)

/** Resolves once the watcher has begun one more poll than `before`. */
async function pollBegun(watcher: SocketWatcher, before: number): Promise<void> {
  while (watcher.stats.polls === before) await new Promise((resolve) => setImmediate(resolve))
}

describe('InventoryScanner.scan: on-demand polls of the shared watcher', () => {
  it('requests that arrive before a poll begins share it; one that arrives while it runs waits for the next, and sees a socket opened meanwhile', async () => {
    const watcher = new SocketWatcher()
    const scanner = new InventoryScanner({ watcher })
    await scanner.scan() // the baseline
    const polls = watcher.stats.polls

    // Ten requests at once (the next poll waits its spacing): one poll for all of them.
    const together = await Promise.all(Array.from({ length: 10 }, () => scanner.scan()))
    expect(watcher.stats.polls).toBe(polls + 1)
    expect(new Set(together).size).toBe(1)

    // A request while a poll runs: it must not take that poll's answer, begun before it asked.
    const running = scanner.scan()
    await pollBegun(watcher, polls + 1)
    const port = await listen()
    const late = scanner.scan()
    await running
    const answer = await late
    expect(watcher.stats.polls).toBe(polls + 3)
    expect(hasPort(answer.sockets, port)).toBe(true)
  })

  it('a poll that fails fails the requests that shared it; the next request polls again', async () => {
    const watcher = new SocketWatcher({ backend: 'proc', procRoot: '/nonexistent-proc-root' })
    const scanner = new InventoryScanner({ watcher })
    const shared = await Promise.allSettled([scanner.scan(), scanner.scan(), scanner.scan()])
    expect(shared.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected'])
    expect(watcher.stats.polls).toBe(1)
    await expect(scanner.scan()).rejects.toThrow()
    expect(watcher.stats.polls).toBe(2)
  })
})

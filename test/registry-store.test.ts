/**
 * Allocation semantics through the library, the same suite on both backends: SQLite (a temp
 * file) and PostgreSQL (a fresh database on a real server started for this file). Ports held by
 * "the system" are held by a real node process (test/fixtures/registry-listen.mjs).
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import type { RegistryStore } from '../src/core/index.js'
import { allocate, openRegistry, preferredPort, release } from '../src/core/index.js'
import type { Backend, RegistryTarget } from './helpers/registry.js'
import {
  PORT_ZONES,
  backends,
  freePortBlock,
  releasePortBlocks,
  LISTEN,
  holdPorts,
  killChildren,
  removeTempDirs,
} from './helpers/registry.js'
import { startProcess, stopStarted } from './helpers/processes.js'

const ZONE = PORT_ZONES.store

async function codeOf(
  promise: Promise<unknown>,
): Promise<{ code: string; message: string; details: Record<string, unknown> }> {
  try {
    await promise
  } catch (error) {
    const e = error as { code?: string; message?: string; details?: Record<string, unknown> }
    return { code: e.code ?? 'none', message: e.message ?? '', details: e.details ?? {} }
  }
  throw new Error('expected the call to fail, but it succeeded')
}

const snapshot = async (store: RegistryStore) =>
  (await store.list())
    .map((a) => `${a.project}/${a.service}/${a.protocol}=${a.port}#${a.id}`)
    .sort()

for (const backend of backends()) describeBackend(backend)

function describeBackend(backend: Backend): void {
  const title = backend.skipReason
    ? `${backend.name} [SKIPPED: ${backend.skipReason}]`
    : backend.name
  if (backend.skipReason)
    console.warn(`[registry-store] SKIPPING ${backend.name}: ${backend.skipReason}`)

  describe.skipIf(backend.skipReason !== null)(`allocation semantics on ${title}`, () => {
    let target: RegistryTarget
    let store: RegistryStore
    const opened: RegistryStore[] = []
    const open = async (location = target.location) => {
      const s = await openRegistry({ location })
      opened.push(s)
      return s
    }

    beforeAll(async () => {
      await backend.start()
    }, 60_000)
    afterAll(async () => {
      await backend.stop()
      removeTempDirs()
    }, 60_000)
    beforeEach(async () => {
      target = await backend.fresh()
      store = await open()
    })
    afterEach(async () => {
      await Promise.all([killChildren(), stopStarted()])
      for (const s of opened.splice(0)) await s.close()
      releasePortBlocks()
    })

    it('is idempotent: the same project+service gets the same port back, created=false, one row', async () => {
      const range = await freePortBlock(50, ZONE)
      const first = await allocate(store, { project: 'shop', service: 'web', range })
      expect(first.created).toBe(true)
      expect(first.allocation.port).toBeGreaterThanOrEqual(range.from)
      expect(first.allocation.port).toBeLessThanOrEqual(range.to)
      const again = await allocate(store, { project: 'shop', service: 'web', range })
      expect(again.created).toBe(false)
      expect(again.allocation).toEqual(first.allocation)
      // a second connection (another process would see the same) agrees
      const other = await open()
      const third = await allocate(other, { project: 'shop', service: 'web', range })
      expect(third.allocation.port).toBe(first.allocation.port)
      expect(third.created).toBe(false)
      expect(await target.rows()).toEqual([
        { project: 'shop', service: 'web', protocol: 'tcp', port: first.allocation.port },
      ])
    })

    it('keeps a stable preferred port across release + re-allocation and in a new registry', async () => {
      const range = await freePortBlock(200, ZONE)
      const expected = preferredPort('review-GH-42', 'api', 'tcp', range)
      const first = await allocate(store, { project: 'review-GH-42', service: 'api', range })
      expect(first.allocation.port).toBe(expected)
      await release(store, { project: 'review-GH-42', service: 'api' })
      expect(await store.list()).toEqual([])
      const again = await allocate(store, { project: 'review-GH-42', service: 'api', range })
      expect(again.created).toBe(true)
      expect(again.allocation.port).toBe(expected)
      // the worktree is deleted and made again, with a new registry: same port
      const elsewhere = await open((await backend.fresh()).location)
      expect(
        (await allocate(elsewhere, { project: 'review-GH-42', service: 'api', range })).allocation
          .port,
      ).toBe(expected)
      // when the preferred port is taken, the next candidate is used, and still stable
      const other = await allocate(store, {
        project: 'review-GH-42',
        service: 'api',
        protocol: 'udp',
        range,
      })
      expect(other.allocation.protocol).toBe('udp')
    })

    it('hands out distinct ports inside the range and says range_exhausted (with the range) when full', async () => {
      const range = await freePortBlock(5, ZONE)
      const ports = []
      for (const service of ['a', 'b', 'c', 'd', 'e'])
        ports.push((await allocate(store, { project: 'p', service, range })).allocation.port)
      expect([...ports].sort()).toEqual([0, 1, 2, 3, 4].map((i) => range.from + i))
      const before = await snapshot(store)
      const full = await codeOf(allocate(store, { project: 'p', service: 'f', range }))
      expect(full.code).toBe('range_exhausted')
      expect(full.message).toContain(`${range.from}-${range.to}`)
      expect(await snapshot(store)).toEqual(before)
      // the same range is still empty for UDP
      expect(
        (await allocate(store, { project: 'p', service: 'f', protocol: 'udp', range })).allocation
          .protocol,
      ).toBe('udp')
    })

    it('treats UDP independently of TCP (the same port number, the same service name)', async () => {
      const range = await freePortBlock(20, ZONE)
      const port = range.from + 3
      const tcp = await allocate(store, { project: 'vpn', service: 'wg', port })
      const udp = await allocate(store, { project: 'vpn', service: 'other', protocol: 'udp', port })
      expect([tcp.allocation.protocol, tcp.allocation.port]).toEqual(['tcp', port])
      expect([udp.allocation.protocol, udp.allocation.port]).toEqual(['udp', port])
      const wgUdp = await allocate(store, { project: 'vpn', service: 'wg', protocol: 'udp', range })
      expect(wgUdp.created).toBe(true)
      expect(await store.list({ project: 'vpn', service: 'wg' })).toHaveLength(2)
      const removed = await release(store, { project: 'vpn', service: 'wg', protocol: 'udp' })
      expect(removed.map((a) => a.protocol)).toEqual(['udp'])
      expect((await store.list({ service: 'wg' })).map((a) => a.protocol)).toEqual(['tcp'])
      expect(
        (await codeOf(release(store, { project: 'vpn', service: 'wg', protocol: 'udp' }))).code,
      ).toBe('not_found')
    })

    it('--port: exact, port_allocated when another service has it or the service has another port', async () => {
      const range = await freePortBlock(10, ZONE)
      const exact = await allocate(store, { project: 'shop', service: 'web', port: range.from })
      expect(exact.allocation.port).toBe(range.from)
      expect(
        (await allocate(store, { project: 'shop', service: 'web', port: range.from })).created,
      ).toBe(false)
      const before = await snapshot(store)
      const taken = await codeOf(
        allocate(store, { project: 'blog', service: 'web', port: range.from }),
      )
      expect(taken.code).toBe('port_allocated')
      expect(taken.message).toMatch(/web of project shop/)
      const moved = await codeOf(
        allocate(store, { project: 'shop', service: 'web', port: range.from + 1 }),
      )
      expect(moved.code).toBe('port_allocated')
      expect(moved.message).toMatch(/release/)
      expect(await snapshot(store)).toEqual(before)
    })

    it('--port: port_in_use naming the holder (name and pid) when a real process listens on it', async () => {
      const range = await freePortBlock(4, ZONE)
      const holder = await holdPorts({
        tcp: [{ host: '127.0.0.1', port: range.from }],
        udp: [{ host: '::1', port: range.from + 1 }],
      })
      const tcp = await codeOf(allocate(store, { project: 'p', service: 'web', port: range.from }))
      expect(tcp.code).toBe('port_in_use')
      expect(tcp.details).toMatchObject({
        port: range.from,
        protocol: 'tcp',
        process: 'node',
        pid: holder.pid,
      })
      expect(tcp.message).toContain(`pid ${holder.pid}`)
      expect(tcp.message).toMatch(/node/)
      const udp = await codeOf(
        allocate(store, { project: 'p', service: 'dns', protocol: 'udp', port: range.from + 1 }),
      )
      expect(udp.code).toBe('port_in_use')
      expect(udp.details).toMatchObject({ protocol: 'udp', pid: holder.pid })
      expect(await store.list()).toEqual([])
    })

    it('never hands out a port held by the system (listeners on half of the range, every family)', async () => {
      const range = await freePortBlock(10, ZONE)
      const p = (i: number) => range.from + i
      const holder = await holdPorts({
        tcp: [
          { host: '127.0.0.1', port: p(0) },
          { host: '::1', port: p(2) },
          { host: '0.0.0.0', port: p(4) },
          { host: '::', port: p(6) },
          { host: '127.0.0.1', port: p(8) },
        ],
        udp: [
          { host: '127.0.0.1', port: p(1) },
          { host: '::1', port: p(3) },
        ],
      })
      const tcpPorts = []
      for (let i = 0; i < 5; i++)
        tcpPorts.push(
          (await allocate(store, { project: 'p', service: `s${i}`, range })).allocation.port,
        )
      expect(tcpPorts.sort()).toEqual([p(1), p(3), p(5), p(7), p(9)])
      expect((await codeOf(allocate(store, { project: 'p', service: 's5', range }))).code).toBe(
        'range_exhausted',
      )
      const udpPorts = []
      for (let i = 0; i < 8; i++)
        udpPorts.push(
          (await allocate(store, { project: 'p', service: `u${i}`, protocol: 'udp', range }))
            .allocation.port,
        )
      expect(udpPorts).not.toContain(p(1))
      expect(udpPorts).not.toContain(p(3))
      expect(
        (await codeOf(allocate(store, { project: 'p', service: 'u8', protocol: 'udp', range })))
          .code,
      ).toBe('range_exhausted')
      await holder.stop()
    })

    it('rejects bad input with invalid_request and leaves the registry unchanged', async () => {
      const range = await freePortBlock(10, ZONE)
      await allocate(store, { project: 'shop', service: 'web', range })
      const before = await snapshot(store)
      const bad: [string, Parameters<typeof allocate>[1]][] = [
        ['empty service', { project: 'shop', service: '', range }],
        ['empty project', { project: '', service: 'x', range }],
        ['500-char service', { project: 'shop', service: 'x'.repeat(500), range }],
        ['control char', { project: 'shop', service: 'a\u0007b', range }],
        ['newline', { project: 'sh\nop', service: 'web2', range }],
        ['bidi override', { project: 'shop', service: 'evil\u202Etxt', range }],
        ['zero-width', { project: 'shop', service: 'we\u200Bb', range }],
        ['port 0', { project: 'shop', service: 'x', port: 0 }],
        ['port 65536', { project: 'shop', service: 'x', port: 65536 }],
        ['port 1.5', { project: 'shop', service: 'x', port: 1.5 }],
        [
          'inverted range',
          { project: 'shop', service: 'x', range: { from: range.to, to: range.from } },
        ],
        ['range to 70000', { project: 'shop', service: 'x', range: { from: 60000, to: 70000 } }],
      ]
      for (const [what, request] of bad) {
        const failure = await codeOf(allocate(store, request))
        expect(failure.code, what).toBe('invalid_request')
        expect(failure.message.length, what).toBeGreaterThan(10)
      }
      expect((await codeOf(release(store, { project: 'shop', service: '' }))).code).toBe(
        'invalid_request',
      )
      expect((await codeOf(release(store, { port: 0, protocol: 'tcp' }))).code).toBe(
        'invalid_request',
      )
      expect(await snapshot(store)).toEqual(before)
    })

    it('release by port removes exactly that allocation; not_found when there is none', async () => {
      const range = await freePortBlock(10, ZONE)
      const a = await allocate(store, { project: 'p', service: 'a', range })
      const b = await allocate(store, { project: 'p', service: 'b', range })
      const removed = await release(store, { port: a.allocation.port, protocol: 'tcp' })
      expect(removed.map((r) => r.service)).toEqual(['a'])
      expect((await store.list()).map((r) => r.port)).toEqual([b.allocation.port])
      const none = await codeOf(release(store, { port: a.allocation.port, protocol: 'tcp' }))
      expect(none.code).toBe('not_found')
    })

    it('--pid adopts a running service: recorded on the allocation it has; a port held by exactly that pid (or its child) is allocatable to it, never to another pid', async () => {
      const range = await freePortBlock(6, ZONE)
      const first = await allocate(store, { project: 'p', service: 'cache', range })
      expect(first.allocation.pid).toBeNull()
      const service = await holdPorts({ tcp: [{ host: '127.0.0.1', port: first.allocation.port }] })
      const recorded = await allocate(store, {
        project: 'p',
        service: 'cache',
        range,
        pid: service.pid,
      })
      expect(recorded).toMatchObject({
        created: false,
        adopted: true,
        allocation: { id: first.allocation.id, port: first.allocation.port, pid: service.pid },
      })
      const [stored] = await (await open()).list({ service: 'cache' })
      expect(stored?.pid).toBe(service.pid)
      const again = await allocate(store, { project: 'p', service: 'cache', pid: service.pid })
      expect(again).toMatchObject({ created: false, adopted: false })

      // A port the service already holds: allocatable to its pid, and to that pid only.
      const [heldPort, childPort] = Array.from({ length: 6 }, (_, i) => range.from + i).filter(
        (port) => port !== first.allocation.port,
      )
      const running = await holdPorts({ tcp: [{ host: '127.0.0.1', port: heldPort! }] })
      const before = await snapshot(store)
      const stranger = await codeOf(
        allocate(store, { project: 'p', service: 'api', port: heldPort, pid: service.pid }),
      )
      expect(stranger.code).toBe('port_in_use')
      expect(stranger.details).toMatchObject({ pid: running.pid })
      expect(await snapshot(store)).toEqual(before)
      const adopted = await allocate(store, {
        project: 'p',
        service: 'api',
        port: heldPort,
        pid: running.pid,
      })
      expect(adopted).toMatchObject({
        created: true,
        adopted: true,
        allocation: { port: heldPort, pid: running.pid },
      })

      // Held by a child of the named pid (a shell that started the server, say).
      const parent = startProcess('bash', [
        '-c',
        '"$0" "$1" "$2"; :',
        process.execPath,
        LISTEN,
        JSON.stringify({ tcp: [{ host: '127.0.0.1', port: childPort }] }),
      ])
      await parent.waitForLine(/^READY /)
      const child = await allocate(store, {
        project: 'p',
        service: 'worker',
        port: childPort,
        pid: parent.pid,
      })
      expect(child).toMatchObject({ created: true, adopted: true, allocation: { pid: parent.pid } })
    })

    it('records health and reads it back', async () => {
      const range = await freePortBlock(10, ZONE)
      const { allocation } = await allocate(store, {
        project: 'p',
        service: 'web',
        range,
        healthCheck: { kind: 'http', path: '/healthz', expect: 200 },
        pid: 4242,
        worktree: '/tmp/wt',
      })
      expect(allocation).toMatchObject({
        healthStatus: 'unknown',
        lastCheckedAt: null,
        healthCheck: { kind: 'http', path: '/healthz', expect: 200 },
        pid: 4242,
        worktree: '/tmp/wt',
      })
      await store.recordHealth(allocation.id, 'healthy', 'HTTP 200', '2026-01-02T03:04:05Z')
      const [row] = await (await open()).list()
      expect(row).toMatchObject({
        healthStatus: 'healthy',
        healthDetail: 'HTTP 200',
        lastCheckedAt: '2026-01-02T03:04:05Z',
      })
    })
  })
}

/**
 * The netlink (sock_diag) backend against the /proc/net backend on one live population: every
 * state we can hold still (LISTEN, ESTAB, TIME-WAIT, FIN-WAIT-2, CLOSE-WAIT, UDP UNCONN and
 * ESTAB), both families, v4-mapped IPv6, several processes and a forked holder. Both must
 * return the same sockets, field for field, holders included; and the kernel-side port filter
 * must return exactly the sockets of that port.
 *
 * Other sockets on this shared machine come and go between two reads, so only our own
 * endpoints are compared.
 */
import { createConnection, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PortSpec } from '../src/core/port-spec.js'
import { normalizeAddress } from '../src/core/sockets/inet-address.js'
import { listSockets } from '../src/core/sockets/list-sockets.js'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { netlinkAvailable, readTablesNetlink } from '../src/core/sockets/netlink-backend.js'
import type { SocketEntry } from '../src/core/types.js'
import type { Fixture } from './helpers/processes.js'
import { startSockets, stopStarted } from './helpers/processes.js'

const available = netlinkAvailable()
if (!available) {
  console.warn(
    `SKIPPED netlink-backend.test.ts: the netlink backend is unavailable (${nativeAddon().reason || 'the kernel refused sock_diag'})`,
  )
}

describe.runIf(available)('netlink backend vs /proc backend (live population)', () => {
  const fixtures: Fixture[] = []
  const endpoints = new Set<string>()
  const servers: Server[] = []
  const clients: Socket[] = []
  const own = (s: SocketEntry) => endpoints.has(`${s.localAddress}:${s.localPort}`)
  const canonicalAddress = (text: string) => normalizeAddress(text)?.address ?? text

  beforeAll(async () => {
    fixtures.push(
      await startSockets(
        [
          'tcp@127.0.0.2*6',
          'bound@127.0.0.2*2', // bound, never listening: in neither table
          'tcp@::1*3',
          'tcp6only@::1*2',
          'tcp@::ffff:127.0.0.1*2',
          'udp@127.0.0.3*5',
          'udp@::1*2',
          'udp6only@::1*2',
          'udp@::ffff:127.0.0.1*2',
          'pair@127.0.0.4*4',
          'pair@::1*2',
          'pair@::ffff:127.0.0.1*2',
          'udppair@127.0.0.5*2',
          'udppair@::1*2',
          'reusetimewait@127.0.0.6*2',
          'reusetimewait@::1',
        ],
        { name: 'pw-nl-a' },
      ),
      await startSockets(['tcp@127.0.0.7*3', 'udp@127.0.0.7*2', 'pair@127.0.0.8*2'], {
        name: 'pw-nl-b',
        fork: true,
      }),
    )
    for (const fixture of fixtures) {
      for (const s of fixture.sockets) {
        const host = canonicalAddress(s.host)
        endpoints.add(`${host}:${s.port}`)
        if (s.client_port !== undefined)
          endpoints.add(`${canonicalAddress(s.client_host!)}:${s.client_port}`)
        if (s.peer_port !== undefined) endpoints.add(`${host}:${s.peer_port}`)
      }
    }
    // FIN-WAIT-2 and CLOSE-WAIT, held by this process: the server half-closes, the client not.
    for (let i = 0; i < 2; i++) {
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        clients.push(socket)
        socket.end()
      })
      servers.push(server)
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.9', resolve))
      const port = (server.address() as { port: number }).port
      const client = createConnection({ host: '127.0.0.9', port, allowHalfOpen: true })
      clients.push(client)
      await new Promise<void>((resolve) => client.once('end', resolve))
      endpoints.add(`127.0.0.9:${port}`)
      endpoints.add(`127.0.0.1:${client.localPort}`)
      endpoints.add(`127.0.0.9:${client.localPort}`)
    }
    // The server's end reaches FIN-WAIT-2 when the client's ACK lands, just after 'end'.
    for (let i = 0; i < 500; i++) {
      const sockets = (await listSockets({ all: true, backend: 'proc' })).sockets.filter(own)
      if (sockets.filter((s) => s.state === 'FIN-WAIT-2').length === servers.length) break
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }, 60_000)

  afterAll(async () => {
    for (const socket of clients) socket.destroy()
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))))
    await stopStarted()
  })

  /** Both backends, read back to back; a foreign socket changing in between is filtered out. */
  async function both(
    options: Parameters<typeof listSockets>[0],
  ): Promise<[SocketEntry[], SocketEntry[]]> {
    const viaNetlink = await listSockets({ ...options, backend: 'netlink' })
    const viaProc = await listSockets({ ...options, backend: 'proc' })
    expect(viaNetlink.backend).toBe('netlink')
    expect(viaProc.backend).toBe('proc')
    return [viaNetlink.sockets.filter(own), viaProc.sockets.filter(own)]
  }

  it('every state and family: the same sockets, fields and holders', async () => {
    const [netlink, proc] = await both({ all: true })
    expect(netlink).toEqual(proc)
    const states = new Set(netlink.map((s) => `${s.protocol} ${s.state}`))
    for (const state of [
      'tcp LISTEN',
      'tcp ESTAB',
      'tcp TIME-WAIT',
      'tcp FIN-WAIT-2',
      'tcp CLOSE-WAIT',
      'udp UNCONN',
      'udp ESTAB',
    ])
      expect(states, `a ${state} socket in the population`).toContain(state)
    const mapped = netlink.filter((s) => s.localAddress === '::ffff:127.0.0.1')
    expect(mapped.map((s) => s.family)).toContain('ipv6')
    expect(mapped.some((s) => s.protocol === 'udp')).toBe(true)
    expect(netlink.some((s) => s.family === 'ipv6' && s.localAddress === '::1')).toBe(true)
    const forked = fixtures[1]!
    const forkedPids = [forked.pid, ...forked.children].sort((a, b) => a - b)
    const heldByFork = netlink.filter((s) => s.processes.some((p) => p.pid === forked.pid))
    expect(heldByFork.length).toBeGreaterThan(0)
    for (const s of heldByFork) expect(s.processes.map((p) => p.pid)).toEqual(forkedPids)
  })

  it('the listening view (state filter in the kernel request) and one family at a time', async () => {
    const [listening, procListening] = await both({})
    expect(listening).toEqual(procListening)
    expect(new Set(listening.map((s) => s.state))).toEqual(new Set(['LISTEN', 'UNCONN']))
    for (const family of ['ipv4', 'ipv6'] as const) {
      const [netlink, proc] = await both({ all: true, families: [family], protocols: ['udp'] })
      expect(netlink).toEqual(proc)
      expect(netlink.length).toBeGreaterThan(0)
      for (const s of netlink) expect([s.family, s.protocol]).toEqual([family, 'udp'])
    }
  })

  it('a port filter in the kernel returns exactly that port, for one port, a range and overlaps', async () => {
    const everything = (await listSockets({ all: true, backend: 'netlink' })).sockets.filter(own)
    const pair = fixtures[0]!.sockets.find((s) => s.kind === 'pair')!
    const udp = fixtures[0]!.sockets.find((s) => s.kind === 'udp')!
    const ports = fixtures[0]!.sockets.map((s) => s.port).sort((a, b) => a - b)
    const range = { from: ports[2]!, to: ports[ports.length - 3]! }
    const cases: { name: string; specs: PortSpec[] }[] = [
      { name: 'one TCP port', specs: [{ protocol: 'tcp', from: pair.port, to: pair.port }] },
      { name: 'one UDP port', specs: [{ protocol: 'udp', from: udp.port, to: udp.port }] },
      { name: 'a range', specs: [{ protocol: 'tcp', ...range }] },
      {
        name: 'overlapping specs',
        specs: [
          { protocol: 'tcp', ...range },
          { protocol: 'tcp', from: pair.port, to: pair.port },
          { protocol: 'udp', from: udp.port, to: udp.port },
        ],
      },
    ]
    for (const { name, specs } of cases) {
      const protocols = [...new Set(specs.map((s) => s.protocol))]
      const [netlink, proc] = await both({ all: true, ports: specs, protocols })
      const expected = everything.filter((s) =>
        specs.some(
          (spec) =>
            spec.protocol === s.protocol && s.localPort >= spec.from && s.localPort <= spec.to,
        ),
      )
      expect(netlink, name).toEqual(expected)
      expect(proc, name).toEqual(expected)
      expect(expected.length, name).toBeGreaterThan(0)
    }
    // The pair's port: its listener, its accepted end and nothing else.
    const [onPair] = await both({ all: true, ports: [cases[0]!.specs[0]!], protocols: ['tcp'] })
    expect(onPair.map((s) => s.state).sort(), JSON.stringify(onPair)).toEqual(['ESTAB', 'LISTEN'])
  })
})

describe.runIf(available)('a sock_diag request the addon refuses', () => {
  it('is a sentence in user terms: what was asked, never the addon call or its arguments', async () => {
    // Out of range: the public functions refuse it first (invalid_request); only an internal
    // caller could get this far, and the addon throws a TypeError naming its own signature.
    const error = await readTablesNetlink({
      ports: [{ from: 70000, to: 70000, protocol: 'tcp' }],
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ name: 'PortwardenError', code: 'backend_unavailable' })
    const message = (error as Error).message
    expect(message).toBe(
      'The kernel could not be asked for its TCP sockets on port 70000 through netlink (sock_diag).',
    )
    expect(message).not.toMatch(/dumpSockets|tcpStates|portFrom/)
  })
})

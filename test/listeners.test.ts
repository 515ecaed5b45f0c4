/**
 * Issue 2, "Done when": TCP/UDP x IPv4/IPv6 x wildcard/loopback listeners held by a child
 * process are listed with the right protocol, family, state, address, port and inode, and with
 * the child's pid, name, user, command line and start time; library and CLI alike.
 */
import { userInfo } from 'node:os'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { SocketEntry } from '../src/core/index.js'
import { listSockets, parsePortSpec, whoHolds } from '../src/core/index.js'
import { netlinkAvailable } from '../src/core/sockets/netlink-backend.js'
import { mapLimit, parseJson, runCli, stackTraceLines } from './helpers/cli.js'
import type { Fixture, FixtureSocket } from './helpers/processes.js'
import { startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

interface Case {
  spec: string
  protocol: 'tcp' | 'udp'
  family: 'ipv4' | 'ipv6'
  state: 'LISTEN' | 'UNCONN'
  address: string
  endpoint: (port: number) => string
}

const v4 = (address: string) => (port: number) => `${address}:${port}`
const v6 = (address: string) => (port: number) => `[${address}]:${port}`

const CASES: Case[] = [
  {
    spec: 'tcp@127.0.0.1',
    protocol: 'tcp',
    family: 'ipv4',
    state: 'LISTEN',
    address: '127.0.0.1',
    endpoint: v4('127.0.0.1'),
  },
  {
    spec: 'tcp@0.0.0.0',
    protocol: 'tcp',
    family: 'ipv4',
    state: 'LISTEN',
    address: '0.0.0.0',
    endpoint: v4('0.0.0.0'),
  },
  {
    spec: 'tcp@::1',
    protocol: 'tcp',
    family: 'ipv6',
    state: 'LISTEN',
    address: '::1',
    endpoint: v6('::1'),
  },
  {
    spec: 'tcp@::',
    protocol: 'tcp',
    family: 'ipv6',
    state: 'LISTEN',
    address: '::',
    endpoint: v6('::'),
  },
  {
    spec: 'tcp6only@::',
    protocol: 'tcp',
    family: 'ipv6',
    state: 'LISTEN',
    address: '::',
    endpoint: v6('::'),
  },
  {
    spec: 'udp@127.0.0.1',
    protocol: 'udp',
    family: 'ipv4',
    state: 'UNCONN',
    address: '127.0.0.1',
    endpoint: v4('127.0.0.1'),
  },
  {
    spec: 'udp@0.0.0.0',
    protocol: 'udp',
    family: 'ipv4',
    state: 'UNCONN',
    address: '0.0.0.0',
    endpoint: v4('0.0.0.0'),
  },
  {
    spec: 'udp@::1',
    protocol: 'udp',
    family: 'ipv6',
    state: 'UNCONN',
    address: '::1',
    endpoint: v6('::1'),
  },
  {
    spec: 'udp@::',
    protocol: 'udp',
    family: 'ipv6',
    state: 'UNCONN',
    address: '::',
    endpoint: v6('::'),
  },
  {
    spec: 'udp6only@::',
    protocol: 'udp',
    family: 'ipv6',
    state: 'UNCONN',
    address: '::',
    endpoint: v6('::'),
  },
]

const me = userInfo()
let fixture: Fixture
let spawnedAt: number

beforeAll(async () => {
  spawnedAt = Date.now()
  fixture = await startSockets(
    CASES.map((c) => c.spec),
    { name: 'pw-listener' },
  )
})

afterAll(stopStarted)

function socketFor(c: Case): FixtureSocket {
  const found = fixture.sockets.find((s) => s.spec === c.spec)
  if (!found) throw new Error(`no fixture socket for ${c.spec}`)
  return found
}

/** started_at is whole seconds from /proc/<pid>/stat and btime: allow for both roundings. */
function expectStartedNearSpawn(startedAt: string | null): void {
  expect(startedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
  const at = Date.parse(startedAt as string)
  expect(at).toBeGreaterThanOrEqual(spawnedAt - 2_500)
  expect(at).toBeLessThanOrEqual(Date.now() + 1_500)
}

function expectLibrarySocket(socket: SocketEntry | undefined, c: Case, held: FixtureSocket): void {
  expect(socket, `${c.spec} is listed`).toBeDefined()
  const s = socket as SocketEntry
  expect({
    protocol: s.protocol,
    family: s.family,
    state: s.state,
    localAddress: s.localAddress,
    localPort: s.localPort,
    remoteAddress: s.remoteAddress,
    remotePort: s.remotePort,
    inode: s.inode,
    uid: s.uid,
    user: s.user,
  }).toEqual({
    protocol: c.protocol,
    family: c.family,
    state: c.state,
    localAddress: c.address,
    localPort: held.port,
    remoteAddress: c.family === 'ipv4' ? '0.0.0.0' : '::',
    remotePort: 0,
    inode: held.inode,
    uid: me.uid,
    user: me.username,
  })
  expect(s.processes).toHaveLength(1)
  const holder = s.processes[0]!
  expect(holder).toMatchObject({
    pid: fixture.pid,
    name: fixture.comm,
    command: fixture.argv.join(' '),
    user: me.username,
    uid: me.uid,
    container: null,
  })
  expect(holder.startTicks).toEqual(expect.any(Number))
  expectStartedNearSpawn(holder.startedAt)
}

describe('listeners held by a child process: TCP/UDP x IPv4/IPv6 x wildcard/loopback', () => {
  it('the fixture named itself (sanity)', () => {
    expect(fixture.comm).toBe('pw-listener')
    expect(fixture.sockets).toHaveLength(CASES.length)
  })

  it('library listSockets() (default: listeners and bound UDP) lists each one with its holder', async () => {
    const inventory = await listSockets()
    // netlink when the addon is built (auto), the /proc tables in the PORTWARDEN_NO_NATIVE pass
    expect(inventory.backend).toBe(netlinkAvailable() ? 'netlink' : 'proc')
    for (const c of CASES) {
      const held = socketFor(c)
      expectLibrarySocket(
        inventory.sockets.find((s) => s.inode === held.inode),
        c,
        held,
      )
    }
  })

  it('library listSockets({ports, protocols, families}) filters down to exactly the asked socket', async () => {
    for (const c of CASES) {
      const held = socketFor(c)
      const inventory = await listSockets({
        ports: [{ from: held.port, to: held.port, protocol: c.protocol }],
        protocols: [c.protocol],
        families: [c.family],
      })
      const ours = inventory.sockets.filter((s) => s.processes.some((p) => p.pid === fixture.pid))
      expect(ours, c.spec).toHaveLength(1)
      expectLibrarySocket(ours[0], c, held)
      // and filtering by the holder's pid walks only that process, with the same answer
      const byPid = await listSockets({
        pid: fixture.pid,
        ports: [{ from: held.port, to: held.port, protocol: c.protocol }],
      })
      expect(byPid.sockets.map((s) => s.inode)).toEqual([held.inode])
    }
  })

  it('library whoHolds() names the holder of each port', async () => {
    const specs = CASES.map((c) => ({
      from: socketFor(c).port,
      to: socketFor(c).port,
      protocol: c.protocol,
    }))
    const result = await whoHolds(specs)
    for (const c of CASES) {
      const held = socketFor(c)
      const entry = result.ports.find((p) => p.port === held.port && p.protocol === c.protocol)
      expect(entry, c.spec).toBeDefined()
      expect(entry!.sockets.map((s) => s.inode)).toEqual([held.inode])
      expect(entry!.sockets[0]!.processes.map((p) => p.pid)).toEqual([fixture.pid])
    }
  })

  it("CLI `list --json` prints the spec's snake_case socket shape for each one", async () => {
    const result = await runCli(['list', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const sockets = parseJson<WireSocket[]>(result)
    expect(Array.isArray(sockets)).toBe(true)
    for (const c of CASES) {
      const held = socketFor(c)
      const socket = sockets.find((s) => s.inode === held.inode)
      expect(socket, c.spec).toBeDefined()
      expect(Object.keys(socket!).sort()).toEqual(
        [
          'protocol',
          'family',
          'state',
          'local_address',
          'local_port',
          'remote_address',
          'remote_port',
          'inode',
          'uid',
          'user',
          'processes',
        ].sort(),
      )
      expect(socket).toMatchObject({
        protocol: c.protocol,
        family: c.family,
        state: c.state,
        local_address: c.address,
        local_port: held.port,
        remote_address: c.family === 'ipv4' ? '0.0.0.0' : '::',
        remote_port: 0,
        inode: held.inode,
        uid: me.uid,
        user: me.username,
      })
      expect(socket!.processes).toHaveLength(1)
      const holder = socket!.processes[0]!
      // `kind` joined the spec's six fields with kernel-held sockets (issue 12).
      expect(Object.keys(holder).sort()).toEqual([
        'command',
        'container',
        'kind',
        'name',
        'pid',
        'started_at',
        'user',
      ])
      expect(holder).toMatchObject({
        kind: 'process',
        pid: fixture.pid,
        name: fixture.comm,
        command: fixture.argv.join(' '),
        user: me.username,
        container: null,
      })
      expectStartedNearSpawn(holder.started_at)
    }
  })

  it('CLI `list --port P` prints one table row per socket with protocol, state, endpoint, process and user', async () => {
    const args = ['list', ...CASES.flatMap((c) => ['--port', `${socketFor(c).port}/${c.protocol}`])]
    const result = await runCli(args)
    expect(result.code, result.stderr).toBe(0)
    expect(stackTraceLines(result.stderr)).toEqual([])
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(/^PROTO\s+STATE\s+LOCAL\s+PROCESS\s+USER\s+COMMAND$/)
    for (const c of CASES) {
      const held = socketFor(c)
      const proto = c.family === 'ipv6' ? `${c.protocol}6` : c.protocol
      const row = lines.find((line) => line.split(/\s+/)[2] === c.endpoint(held.port))
      expect(row, `${c.spec} row in:\n${result.stdout}`).toBeDefined()
      expect(row!.split(/\s+/).slice(0, 5)).toEqual([
        proto,
        c.state,
        c.endpoint(held.port),
        `pw-listener[${fixture.pid}]`,
        me.username,
      ])
      expect(row).toContain(fixture.argv.join(' '))
    }
  })

  it('CLI `who PORT/PROTO` says who holds it in one sentence, with pid, user, command line and uptime', async () => {
    const results = await mapLimit(CASES, 3, (c) =>
      runCli(['who', `${socketFor(c).port}/${c.protocol}`]),
    )
    CASES.forEach((c, i) => {
      const held = socketFor(c)
      const result = results[i]!
      expect(result.code, result.stderr).toBe(0)
      const lines = result.stdout.trimEnd().split('\n')
      expect(lines[0]).toBe(
        `${c.protocol.toUpperCase()} port ${held.port} is already in use by pw-listener (pid ${fixture.pid}, user ${me.username}) on ${c.endpoint(held.port)}`,
      )
      expect(result.stdout).toMatch(
        new RegExp(`pid ${fixture.pid}\\s+pw-listener\\s+user ${me.username}\\s+up \\d+s`),
      )
      expect(result.stdout).toContain(`command: ${fixture.argv.join(' ')}`)
    })
  })

  it('CLI `who --json` gives in_use, the sentence and the holders', async () => {
    const c = CASES[3]! // tcp@:: dual-stack
    const held = socketFor(c)
    const result = await runCli(['who', String(held.port), '--json'])
    expect(result.code, result.stderr).toBe(0)
    const body = parseJson<{
      ports: {
        port: number
        protocol: string
        in_use: boolean
        message: string
        holders: WireSocket[]
      }[]
    }>(result)
    expect(body.ports).toHaveLength(1)
    expect(body.ports[0]).toMatchObject({
      port: held.port,
      protocol: 'tcp',
      in_use: true,
      message: `TCP port ${held.port} is already in use by pw-listener (pid ${fixture.pid}, user ${me.username}) on [::]:${held.port}`,
    })
    expect(body.ports[0]!.holders.map((h) => h.inode)).toEqual([held.inode])
  })

  it('a port spec with upper-case protocol (8080/TCP) names the same socket', async () => {
    const held = socketFor(CASES[0]!)
    const spec = parsePortSpec(`${held.port}/TCP`)
    expect(spec).toEqual({ from: held.port, to: held.port, protocol: 'tcp' })
    expect((await whoHolds([spec])).ports[0]!.sockets.map((s) => s.inode)).toEqual([held.inode])
  })
})

/**
 * The second backend (`lsof -F`), tested for real: on the same live sockets, `--backend lsof`
 * must agree with the /proc backend on protocol, family, state, addresses, ports, inode and pids.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { PortSpec, SocketEntry } from '../src/core/index.js'
import { listSockets, whoHolds } from '../src/core/index.js'
import { parseJson, runCli } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { commandExists, startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

const lsofMissing = commandExists('lsof') ? null : 'lsof is not installed'
if (lsofMissing) console.warn(`[linux/lsof] SKIPPING the lsof backend tests: ${lsofMissing}`)
const title = (text: string) => (lsofMissing ? `${text} [SKIPPED: ${lsofMissing}]` : text)

const SPECS = [
  'tcp@127.0.0.1',
  'tcp@0.0.0.0',
  'tcp@::1',
  'tcp@::',
  'tcp6only@::',
  'udp@127.0.0.1',
  'udp@::1',
  'udp@::',
  'pair@127.0.0.1',
  'pair@::1',
  'pair@::ffff:127.0.0.1', // an IPv6 socket with a v4-mapped address
  'udppair@127.0.0.1',
]

describe.skipIf(lsofMissing !== null)(
  'lsof backend vs proc backend on the same live sockets',
  () => {
    let fixture: Fixture
    let inodes: Set<number>
    let specs: PortSpec[]

    beforeAll(async () => {
      // A 15-character name (the most comm holds) and a forked child: two pids per socket.
      fixture = await startSockets(SPECS, { name: 'pw-lsof-service', fork: true })
      inodes = new Set(
        fixture.sockets.flatMap((s) =>
          [s.inode, s.client_inode, s.server_inode, s.peer_inode].filter(
            (n): n is number => n !== undefined,
          ),
        ),
      )
      const ports = new Map<string, PortSpec>()
      for (const s of fixture.sockets) {
        const protocol = s.kind.startsWith('udp') ? 'udp' : 'tcp'
        for (const port of [s.port, s.client_port, s.peer_port]) {
          if (port !== undefined)
            ports.set(`${protocol}:${port}`, { from: port, to: port, protocol })
        }
      }
      specs = [...ports.values()]
    })
    afterAll(stopStarted)

    const project = (s: SocketEntry) => ({
      protocol: s.protocol,
      family: s.family,
      state: s.state,
      localAddress: s.localAddress,
      localPort: s.localPort,
      remoteAddress: s.remoteAddress,
      remotePort: s.remotePort,
      inode: s.inode,
      pids: s.processes.map((p) => p.pid).sort((a, b) => a - b),
      names: [...new Set(s.processes.map((p) => p.name))],
      users: [...new Set(s.processes.map((p) => p.user))],
    })
    const ours = (sockets: SocketEntry[]) =>
      sockets
        .filter((s) => inodes.has(s.inode))
        .map(project)
        .sort((a, b) => a.inode - b.inode)

    it(
      title(
        'library: listSockets({backend: "lsof"}) equals listSockets({backend: "proc"}) socket for socket',
      ),
      async () => {
        const proc = await listSockets({ all: true, ports: specs, backend: 'proc' })
        const lsof = await listSockets({ all: true, ports: specs, backend: 'lsof' })
        expect(proc.backend).toBe('proc')
        expect(lsof.backend).toBe('lsof')
        const expected = ours(proc.sockets)
        expect(expected).toHaveLength(inodes.size) // every fixture socket, each once
        const pids = [fixture.pid, ...fixture.children].sort((a, b) => a - b)
        for (const socket of expected) expect(socket.pids).toEqual(pids)
        expect(ours(lsof.sockets)).toEqual(expected)
      },
    )

    it(title('library: the default (listening) view agrees too'), async () => {
      const proc = await listSockets({ ports: specs, backend: 'proc' })
      const lsof = await listSockets({ ports: specs, backend: 'lsof' })
      expect(ours(lsof.sockets)).toEqual(ours(proc.sockets))
      expect(ours(proc.sockets).every((s) => s.state === 'LISTEN' || s.state === 'UNCONN')).toBe(
        true,
      )
    })

    it(title('CLI: `list --all --json --backend lsof` matches `--backend proc`'), async () => {
      const portArgs = specs.flatMap((s) => ['--port', `${s.from}/${s.protocol}`])
      const [proc, lsof] = await Promise.all([
        runCli(['list', '--all', '--json', '--backend', 'proc', ...portArgs]),
        runCli(['list', '--all', '--json', '--backend', 'lsof', ...portArgs]),
      ])
      expect(proc.code, proc.stderr).toBe(0)
      expect(lsof.code, lsof.stderr).toBe(0)
      const view = (sockets: WireSocket[]) =>
        sockets
          .filter((s) => inodes.has(s.inode))
          .map((s) => ({
            protocol: s.protocol,
            family: s.family,
            state: s.state,
            local_address: s.local_address,
            local_port: s.local_port,
            remote_address: s.remote_address,
            remote_port: s.remote_port,
            inode: s.inode,
            pids: s.processes.map((p) => p.pid).sort((a, b) => a - b),
            names: s.processes.map((p) => p.name),
            commands: s.processes.map((p) => p.command),
          }))
          .sort((a, b) => a.inode - b.inode)
      const expected = view(parseJson<WireSocket[]>(proc))
      expect(expected).toHaveLength(inodes.size)
      expect(view(parseJson<WireSocket[]>(lsof))).toEqual(expected)
    })

    it(title('`who` gives the same sentence with either backend'), async () => {
      const held = fixture.sockets.filter((s) => !s.kind.startsWith('pair') && s.kind !== 'udppair')
      const ports = held.map((s) => ({
        from: s.port,
        to: s.port,
        protocol: s.kind.startsWith('udp') ? ('udp' as const) : ('tcp' as const),
      }))
      const proc = await whoHolds(ports, { backend: 'proc' })
      const lsof = await whoHolds(ports, { backend: 'lsof' })
      expect(lsof.backend).toBe('lsof')
      const inodesOf = (r: typeof proc) =>
        r.ports.map((p) => [p.port, p.protocol, p.sockets.map((s) => s.inode)])
      expect(inodesOf(lsof)).toEqual(inodesOf(proc))

      const port = fixture.sockets.find((s) => s.spec === 'tcp@::')!.port
      const [a, b] = await Promise.all([
        runCli(['who', String(port), '--backend', 'proc']),
        runCli(['who', String(port), '--backend', 'lsof']),
      ])
      expect(b.code).toBe(0)
      expect(b.stdout.split('\n')[0]).toBe(a.stdout.split('\n')[0])
    })
  },
)

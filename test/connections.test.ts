/**
 * Issue 2, "Done when": established connections (both ends, each with its own holder), a socket
 * held by two processes, and processes that exit while the scanner walks /proc.
 */
import { userInfo } from 'node:os'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { listSockets, whoHolds } from '../src/core/index.js'
import { ProcessReader, scanSocketHolders } from '../src/core/process/read-process.js'
import { parseJson, runCli, stackTraceLines } from './helpers/cli.js'
import {
  FIXTURES,
  PYTHON,
  socketOf,
  startProcess,
  startSockets,
  stopStarted,
} from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

const me = userInfo()

afterEach(stopStarted)

describe('established connections', () => {
  it('`list --all` shows ESTAB at both ends, each held by its own process (IPv4 and IPv6)', async () => {
    const server = await startSockets(['server@127.0.0.1', 'server@::1'], { name: 'pw-server' })
    const v4 = socketOf(server, 'server@127.0.0.1')
    const v6 = socketOf(server, 'server@::1')
    const client = await startSockets(
      [`connect@127.0.0.1:${v4.port}`, `connect@[::1]:${v6.port}`],
      { name: 'pw-client' },
    )
    const c4 = client.sockets[0]!
    const c6 = client.sockets[1]!
    // Wait until the server has accepted both (an unaccepted connection has no holder yet).
    const accepted4 = JSON.parse(
      (
        await server.process.waitForLine(
          new RegExp(`^ACCEPTED (.*"peer_port": ${c4.client_port}\\b.*)$`),
        )
      )[1]!,
    ) as { inode: number }
    const accepted6 = JSON.parse(
      (
        await server.process.waitForLine(
          new RegExp(`^ACCEPTED (.*"peer_port": ${c6.client_port}\\b.*)$`),
        )
      )[1]!,
    ) as { inode: number }

    const result = await runCli(['list', '--all', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const sockets = parseJson<WireSocket[]>(result)
    const find = (inode: number | undefined) => sockets.find((s) => s.inode === inode)

    for (const [family, listener, conn, accepted, loopback] of [
      ['ipv4', v4, c4, accepted4, '127.0.0.1'],
      ['ipv6', v6, c6, accepted6, '::1'],
    ] as const) {
      expect(find(listener.inode)).toMatchObject({
        state: 'LISTEN',
        local_address: loopback,
        local_port: listener.port,
      })
      expect(find(listener.inode)!.processes.map((p) => p.pid)).toEqual([server.pid])
      const serverEnd = find(accepted.inode)
      expect(serverEnd, `server end (${family})`).toMatchObject({
        protocol: 'tcp',
        family,
        state: 'ESTAB',
        local_address: loopback,
        local_port: listener.port,
        remote_address: loopback,
        remote_port: conn.client_port,
      })
      expect(serverEnd!.processes.map((p) => [p.pid, p.name])).toEqual([[server.pid, 'pw-server']])
      const clientEnd = find(conn.client_inode)
      expect(clientEnd, `client end (${family})`).toMatchObject({
        protocol: 'tcp',
        family,
        state: 'ESTAB',
        local_address: loopback,
        local_port: conn.client_port,
        remote_address: loopback,
        remote_port: listener.port,
      })
      expect(clientEnd!.processes.map((p) => [p.pid, p.name, p.user])).toEqual([
        [client.pid, 'pw-client', me.username],
      ])
    }

    // The default list (listeners and bound UDP, like ss -l) leaves the connections out.
    const listeners = parseJson<WireSocket[]>(await runCli(['list', '--json']))
    expect(listeners.some((s) => s.inode === accepted4.inode || s.inode === c4.client_inode)).toBe(
      false,
    )
    expect(listeners.some((s) => s.inode === v4.inode)).toBe(true)

    // The human table has a REMOTE column with --all.
    const table = await runCli(['list', '--all', '--port', String(c4.client_port)])
    expect(table.stdout).toMatch(
      new RegExp(
        `^tcp\\s+ESTAB\\s+127\\.0\\.0\\.1:${c4.client_port}\\s+127\\.0\\.0\\.1:${v4.port}\\s+pw-client\\[${client.pid}\\]`,
        'm',
      ),
    )
  })

  it("`who` names the listener (plus its connection count) and, for a client port, the connection's local end", async () => {
    const server = await startSockets(['server@127.0.0.1'], { name: 'pw-server' })
    const listener = server.sockets[0]!
    const client = await startSockets([`connect@127.0.0.1:${listener.port}`], { name: 'pw-client' })
    const clientPort = client.sockets[0]!.client_port!
    await server.process.waitForLine(new RegExp(`^ACCEPTED .*"peer_port": ${clientPort}\\b`))

    const who = await runCli(['who', String(listener.port)])
    expect(who.code, who.stderr).toBe(0)
    expect(who.stdout.split('\n')[0]).toBe(
      `TCP port ${listener.port} is already in use by pw-server (pid ${server.pid}, user ${me.username}) on 127.0.0.1:${listener.port}`,
    )
    expect(who.stdout).toContain('and 1 connection on this port')

    const whoClient = await runCli(['who', String(clientPort)])
    expect(whoClient.code, whoClient.stderr).toBe(0)
    expect(whoClient.stdout.split('\n')[0]).toBe(
      `TCP port ${clientPort} is already in use by pw-client (pid ${client.pid}, user ${me.username}) as the local end of a connection on 127.0.0.1:${clientPort}`,
    )

    const library = await whoHolds([{ from: listener.port, to: listener.port, protocol: 'tcp' }])
    expect(library.ports[0]!.connections).toBe(1)
    expect(library.ports[0]!.sockets.map((s) => s.state)).toEqual(['LISTEN'])
  })

  it('connected UDP sockets are ESTAB', async () => {
    const fixture = await startSockets(['udppair@127.0.0.1'])
    const pair = fixture.sockets[0]!
    const inventory = await listSockets({
      all: true,
      protocols: ['udp'],
      ports: [{ from: pair.port, to: pair.port, protocol: 'udp' }],
    })
    const socket = inventory.sockets.find((s) => s.inode === pair.inode)
    expect(socket).toMatchObject({
      state: 'ESTAB',
      localPort: pair.port,
      remotePort: pair.peer_port,
      remoteAddress: '127.0.0.1',
    })
    expect(socket!.processes.map((p) => p.pid)).toEqual([fixture.pid])
    // ... and not "listening": the default list leaves them out, like ss -l
    const listening = await listSockets({
      protocols: ['udp'],
      ports: [{ from: pair.port, to: pair.port, protocol: 'udp' }],
    })
    expect(listening.sockets.some((s) => s.inode === pair.inode)).toBe(false)
  })
})

describe('a socket held by two processes (fork after listen)', () => {
  it('lists both pids in `processes`, in the table and in the who sentence', async () => {
    const fixture = await startSockets(['tcp@127.0.0.1', 'udp@::1'], {
      name: 'pw-shared',
      fork: true,
    })
    expect(fixture.children).toHaveLength(1)
    const pids = [fixture.pid, ...fixture.children].sort((a, b) => a - b)
    const tcp = socketOf(fixture, 'tcp@127.0.0.1')
    const udp = socketOf(fixture, 'udp@::1')

    const inventory = await listSockets({ all: true })
    for (const held of [tcp, udp]) {
      const socket = inventory.sockets.find((s) => s.inode === held.inode)
      expect(socket, held.spec).toBeDefined()
      expect(socket!.processes.map((p) => p.pid)).toEqual(pids)
      expect(socket!.processes.every((p) => p.name === 'pw-shared')).toBe(true)
    }

    const json = parseJson<WireSocket[]>(
      await runCli(['list', '--json', '--port', `${udp.port}/udp`]),
    )
    expect(json.find((s) => s.inode === udp.inode)!.processes.map((p) => p.pid)).toEqual(pids)

    const table = await runCli(['list', '--port', String(tcp.port)])
    expect(table.stdout).toContain(`pw-shared[${pids.join(',')}]`)

    const who = await runCli(['who', String(tcp.port)])
    expect(who.code, who.stderr).toBe(0)
    expect(who.stdout.split('\n')[0]).toBe(
      `TCP port ${tcp.port} is already in use by pw-shared (pids ${pids.join(', ')}, user ${me.username}) on 127.0.0.1:${tcp.port}`,
    )
    for (const pid of pids)
      expect(who.stdout).toMatch(new RegExp(`^  pid ${pid}\\s+pw-shared`, 'm'))

    const check = await runCli(['check', String(tcp.port)])
    expect(check.code).toBe(1)
    expect(check.stdout.trim()).toBe(
      `[FAIL] ${tcp.port}/tcp: in use by pw-shared (pids ${pids.join(', ')}, user ${me.username}) on 127.0.0.1:${tcp.port}`,
    )
  })

  it('`list --pid CHILD` finds the shared socket through the child alone', async () => {
    const fixture = await startSockets(['tcp@127.0.0.1'], { name: 'pw-shared', fork: true })
    const child = fixture.children[0]!
    const result = await runCli(['list', '--json', '--pid', String(child)])
    expect(result.code, result.stderr).toBe(0)
    const sockets = parseJson<WireSocket[]>(result)
    expect(sockets.map((s) => s.inode)).toEqual([fixture.sockets[0]!.inode])
  })
})

describe('processes that exit mid-scan', () => {
  it('scanSocketHolders skips a pid that was just killed, a zombie and a pid that never existed', async () => {
    const survivor = await startSockets(['tcp@127.0.0.1'], { zombie: true })
    const victim = await startSockets(['tcp@127.0.0.1', 'udp@::1'])
    const victimInodes = victim.sockets.map((s) => s.inode!)
    process.kill(victim.pid, 'SIGKILL')
    await victim.process.exited // reaped: /proc/<pid> is gone

    const survivorInode = survivor.sockets[0]!.inode!
    const wanted = new Set([survivorInode, ...victimInodes])
    const never = 4_194_304 + 7 // above any pid_max
    let scan: ReturnType<typeof scanSocketHolders> | undefined
    expect(() => {
      scan = scanSocketHolders(wanted, {
        pids: [victim.pid, survivor.zombie!, never, survivor.pid],
      })
    }).not.toThrow()
    expect(scan!.holders.get(survivorInode)).toEqual([survivor.pid])
    for (const inode of victimInodes) expect(scan!.holders.has(inode)).toBe(false)
    expect(scan!.unreadablePids).not.toContain(victim.pid)
    expect(scan!.unreadablePids).not.toContain(never)

    const reader = new ProcessReader()
    expect(reader.holder(victim.pid)).toBeNull()
    expect(reader.holder(never)).toBeNull()
    expect(reader.holder(survivor.pid)).toMatchObject({ pid: survivor.pid, user: me.username })

    // The library as a whole: the dead process's sockets are gone, the survivor is intact.
    const inventory = await listSockets({ all: true })
    for (const inode of victimInodes)
      expect(inventory.sockets.some((s) => s.inode === inode)).toBe(false)
    expect(
      inventory.sockets.find((s) => s.inode === survivorInode)!.processes.map((p) => p.pid),
    ).toEqual([survivor.pid])
  })

  it('listing repeatedly while hundreds of short-lived socket holders come and go never throws', async () => {
    const stable = await startSockets(['tcp@127.0.0.1', 'udp@::1'], { name: 'pw-stable' })
    // Listings go on until 300 holders have come and gone under them, however slowly a loaded
    // machine forks; the churn stops at 2000 by itself, and when the test ends (its stdin closes).
    const wanted = 300
    const churn = startProcess(PYTHON, [`${FIXTURES}churn.py`, '2000', '8'])
    await churn.waitForLine(/^READY /)
    const forked = (): number => {
      const last = churn.lines.findLast((line) => line.startsWith('FORKED '))
      return last === undefined ? 0 : Number(last.slice('FORKED '.length))
    }
    const cliRuns: Promise<Awaited<ReturnType<typeof runCli>>>[] = []
    let iterations = 0
    while (forked() < wanted && !churn.hasExited()) {
      const inventory = await listSockets({ all: true })
      for (const held of stable.sockets) {
        const socket = inventory.sockets.find((s) => s.inode === held.inode)
        expect(
          socket?.processes.map((p) => p.pid),
          held.spec,
        ).toEqual([stable.pid])
      }
      if (iterations % 5 === 0 && cliRuns.length < 6)
        cliRuns.push(runCli(['list', '--all', '--json']))
      iterations++
      await new Promise((resolve) => setImmediate(resolve))
    }
    churn.child.stdin.end()
    const done = JSON.parse((await churn.waitForLine(/^DONE (.*)$/, 60_000))[1]!) as {
      forked: number
    }
    expect(done.forked).toBeGreaterThanOrEqual(wanted)
    expect(iterations).toBeGreaterThan(1)
    for (const result of await Promise.all(cliRuns)) {
      expect(result.code, result.stderr).toBe(0)
      expect(stackTraceLines(result.stderr)).toEqual([])
      const sockets = parseJson<WireSocket[]>(result)
      expect(
        sockets.find((s) => s.inode === stable.sockets[0]!.inode)!.processes.map((p) => p.pid),
      ).toEqual([stable.pid])
    }
  })
})

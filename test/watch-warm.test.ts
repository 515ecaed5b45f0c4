/**
 * Warm mode of the shared poller (what `serve` and `watch` use): a socket opened between two
 * polls is attributed to the process that opened it, without looking up the holders of the
 * sockets it already knows; and the slower full rescan notices a holder that went away while
 * its socket lived on.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { SocketWatcher } from '../src/core/index.js'
import type { PortSpec } from '../src/core/port-spec.js'
import { tmpdir } from 'node:os'
import { startPortHolder } from './helpers/hold-port.js'
import { startSockets, stopStarted } from './helpers/processes.js'
import { freeLoopbackPort } from './helpers/servers.js'

afterEach(stopStarted)

const tcpPort = (port: number): PortSpec => ({ protocol: 'tcp', from: port, to: port })

function pidsOn(watcher: SocketWatcher, port: number): number[] {
  return watcher
    .snapshot()
    .filter((s) => s.localPort === port)
    .flatMap((s) => s.processes.map((p) => p.pid))
    .sort((a, b) => a - b)
}

describe('SocketWatcher warm mode', () => {
  it('attributes a socket opened between two polls to the pid that opened it, scanning once', async () => {
    const known = await startSockets(['tcp@127.0.0.12', 'udp@127.0.0.12'], { name: 'pw-warm-a' })
    const [knownTcp, knownUdp] = known.sockets
    const port = await freeLoopbackPort()
    // Only our ports: other tests on this machine open and close sockets all the time.
    const watcher = new SocketWatcher({
      ports: [
        tcpPort(knownTcp!.port),
        tcpPort(port),
        { ...tcpPort(knownUdp!.port), protocol: 'udp' },
      ],
      intervalMs: 1000,
      fullRescanMs: 60_000,
    })
    expect(await watcher.poll()).toEqual([])
    expect(pidsOn(watcher, knownTcp!.port)).toEqual([known.pid])
    const knownEntry = watcher.snapshot().find((s) => s.localPort === knownTcp!.port)
    const scans = watcher.stats.holderScans

    // Nothing new: no holder scan at all.
    expect(await watcher.poll()).toEqual([])
    expect(watcher.stats.holderScans).toBe(scans)

    // Opened after the last poll, by another process.
    const holder = await startPortHolder(tmpdir(), ['--host', '127.0.0.1', '--port', String(port)])
    const events = await watcher.poll()
    expect(
      events.map((e) => [e.event, e.socket.localPort, e.socket.processes.map((p) => p.pid)]),
    ).toEqual([['bind', port, [holder.pid]]])
    expect(events[0]!.socket.processes[0]!.name).toBe(holder.comm)
    // One scan, for the new inode only; the known socket kept its entry as it was.
    expect(watcher.stats.holderScans).toBe(scans + 1)
    expect(watcher.snapshot().find((s) => s.localPort === knownTcp!.port)).toBe(knownEntry)

    known.process.child.stdin.end() // sockets.py holds its sockets until its stdin closes
    await known.process.exited
    const unbinds = await watcher.poll()
    expect(unbinds.map((e) => [e.event, e.socket.processes[0]?.pid])).toEqual([
      ['unbind', known.pid],
      ['unbind', known.pid],
    ])
    expect(watcher.stats.holderScans).toBe(scans + 1)
  })

  it('the full rescan drops a holder that exited while its socket stayed open', async () => {
    const forked = await startSockets(['tcp@127.0.0.16'], { name: 'pw-warm-f', fork: true })
    const port = forked.sockets[0]!.port
    const child = forked.children[0]!
    const watcher = new SocketWatcher({ ports: [tcpPort(port)], intervalMs: 10, fullRescanMs: 10 })
    await watcher.poll()
    expect(pidsOn(watcher, port)).toEqual([forked.pid, child].sort((a, b) => a - b))
    const before = watcher.currentInventory()
    process.kill(child, 'SIGKILL') // a child of our own fixture, by pid
    for (let i = 0; i < 200 && pidsOn(watcher, port).includes(child); i++) {
      await new Promise((resolve) => setTimeout(resolve, 10))
      await watcher.poll()
    }
    expect(pidsOn(watcher, port)).toEqual([forked.pid])
    expect(watcher.stats.fullRescans).toBeGreaterThan(0)
    // What the server renders from changes with it.
    const after = watcher.currentInventory()
    expect(after).not.toBe(before)
    expect(after?.sockets.find((s) => s.localPort === port)?.processes.map((h) => h.pid)).toEqual([
      forked.pid,
    ])
  })

  it('a full rescan that finds the same holders keeps the inventory (and what was rendered from it)', async () => {
    const fixture = await startSockets(['tcp@127.0.0.16'], { name: 'pw-warm-k' })
    const port = fixture.sockets[0]!.port
    const watcher = new SocketWatcher({ ports: [tcpPort(port)], intervalMs: 10, fullRescanMs: 10 })
    await watcher.poll()
    const before = watcher.currentInventory()
    await new Promise((resolve) => setTimeout(resolve, 20))
    await watcher.poll()
    // The rescan runs beside the poll: judge once it has been applied.
    await watcher.rescanSettled()
    expect(watcher.stats.fullRescans).toBe(1)
    expect(watcher.currentInventory()).toBe(before)
    expect(pidsOn(watcher, port)).toEqual([fixture.pid])
  })
})

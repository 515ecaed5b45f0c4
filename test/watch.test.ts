/**
 * Issue 5 item 6, `portwarden watch`: bind/unbind events for sockets opened and closed during
 * the test (read as they come, with deadlines), nothing when nothing changes, the holder scan
 * only for new sockets, one poller for many listeners, and each output form (JSON lines, plain
 * lines, the redrawn table on a terminal).
 */
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { SocketEvent } from '../src/core/index.js'
import { SocketWatcher, watchSockets } from '../src/core/index.js'
import type { WireSocket } from './helpers/sockets.js'
import { CLI } from './helpers/cli.js'
import type { Proc } from './run-helpers.js'
import {
  SERVICE_FIXTURE,
  eventually,
  freePort,
  removeTempDirs,
  startCli,
  startProc,
  stopProcs,
  tempDir,
} from './run-helpers.js'

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 })

afterEach(stopProcs)
afterAll(removeTempDirs)

const node = process.execPath

/** A node process listening on these TCP ports (and these UDP ports), until killed or its stdin ends. */
async function listener(tcp: number[], udp: number[] = []): Promise<{ pid: number; proc: Proc }> {
  const env = Object.fromEntries(udp.map((port, i) => [`PORT_U${i}`, String(port)]))
  const proc = startProc(
    node,
    [
      SERVICE_FIXTURE,
      JSON.stringify({ listenPorts: tcp, udp: Object.keys(env), exitOnStdinEnd: true }),
    ],
    {
      env: { ...process.env, ...env },
    },
  )
  const ready = JSON.parse((await proc.waitOut(/^READY (.*)$/))[1] as string) as { pid: number }
  return { pid: ready.pid, proc }
}

async function close(holder: { proc: Proc }): Promise<void> {
  holder.proc.child.stdin.end()
  await holder.proc.waitExit()
}

interface WireEvent {
  event: 'bind' | 'unbind'
  time: string
  socket: WireSocket
}

const events = (proc: Proc) => proc.out.map((line) => JSON.parse(line) as WireEvent)

describe('watch --json', () => {
  it('streams bind then unbind for a socket opened and closed during the test, then exits 0 on SIGINT', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const watch = startCli(['watch', '--json', '--interval', '100ms', String(p), `${q}/udp`], {
      state,
    })
    await watch.waitErr(
      /^watching 0 listening sockets on \d+ \d+\/udp every 100 ms \(Ctrl-C to stop\)$/,
    )
    const holder = await listener([p], [q])
    await watch.waitOut(/"event":"bind".*"protocol":"udp"/, 10_000)
    await eventually(() => watch.out.length >= 2, 'two bind events', 10_000)
    const binds = events(watch)
    expect(binds.map((e) => [e.event, e.socket.protocol, e.socket.local_port]).sort()).toEqual([
      ['bind', 'tcp', p],
      ['bind', 'udp', q],
    ])
    for (const e of binds) {
      expect(e.socket).toMatchObject({ local_address: '127.0.0.1', family: 'ipv4' })
      expect(e.socket.state).toBe(e.socket.protocol === 'tcp' ? 'LISTEN' : 'UNCONN')
      expect(e.socket.processes.map((h) => h.pid)).toEqual([holder.pid])
      expect(e.socket.processes[0]?.name).toBe('node')
      expect(Number.isNaN(Date.parse(e.time))).toBe(false)
    }
    await close(holder)
    await eventually(() => watch.out.length >= 4, 'two unbind events', 10_000)
    const unbinds = events(watch).slice(2)
    expect(unbinds.map((e) => e.event)).toEqual(['unbind', 'unbind'])
    // Same sockets (by inode), holders as they were last seen.
    expect(unbinds.map((e) => e.socket.inode).sort()).toEqual(
      binds.map((e) => e.socket.inode).sort(),
    )
    expect(unbinds.every((e) => e.socket.processes[0]?.pid === holder.pid)).toBe(true)
    process.kill(watch.pid, 'SIGINT')
    expect((await watch.waitExit()).code).toBe(0)
    expect(watch.out).toHaveLength(4) // nothing printed after the events: no final document
  })

  it('emits nothing while nothing changes: a socket present from the start is no event', async () => {
    const state = tempDir()
    const [p, sentinel] = [await freePort(), await freePort()]
    const before = await listener([p])
    const watch = startCli(
      [
        'watch',
        '--json',
        '--interval',
        '100ms',
        // the two ports only: a range between them would hear other test files' sockets
        String(p),
        String(sentinel),
      ],
      { state },
    )
    await watch.waitErr(/^watching \d+ listening sockets? on /)
    // Several intervals with no change: still silent. Then a change, which must be the first line.
    await new Promise((resolve) => setTimeout(resolve, 600))
    expect(watch.out).toEqual([])
    const after = await listener([sentinel])
    await watch.waitOut(/"event":"bind"/, 10_000)
    const [first] = events(watch)
    expect(first?.socket.local_port).toBe(sentinel)
    expect(first?.socket.processes[0]?.pid).toBe(after.pid)
    process.kill(watch.pid, 'SIGTERM')
    expect((await watch.waitExit()).code).toBe(0)
    expect(events(watch).every((e) => e.socket.local_port !== p || e.event !== 'bind')).toBe(true)
    void before
  })

  it('bad input exits 2 before watching', async () => {
    const state = tempDir()
    for (const args of [
      ['watch', '0'],
      ['watch', '--interval', '5ms'],
      ['watch', '--interval', 'soon'],
    ]) {
      const watch = startCli(args, { state })
      expect((await watch.waitExit()).code, args.join(' ')).toBe(2)
    }
  })
})

describe('watch for people', () => {
  it('a pipe gets one plain line per change, without escape sequences', async () => {
    const state = tempDir()
    const p = await freePort()
    const watch = startCli(['watch', '--interval', '100ms', String(p)], { state })
    await watch.waitErr(
      /^watching 0 listening sockets on \d+ every 100 ms; one line per change \(Ctrl-C to stop\)$/,
    )
    const holder = await listener([p])
    const bind = await watch.waitOut(/ bind /, 10_000)
    expect(bind.input).toMatch(
      new RegExp(
        `^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ  bind    tcp   127\\.0\\.0\\.1:${p}  node\\[${holder.pid}\\]  \\S+  ${node}`,
      ),
    )
    await close(holder)
    await watch.waitOut(/ unbind /, 10_000)
    process.kill(watch.pid, 'SIGINT')
    expect((await watch.waitExit()).code).toBe(0)
    // eslint-disable-next-line no-control-regex
    expect(watch.out.join('\n')).not.toMatch(/\u001b/)
  })

  it('a terminal gets the table, cleared once and redrawn in place, with new rows marked', async () => {
    const p = await freePort()
    // util-linux script(1) gives the CLI a pseudo-terminal; its output comes back here.
    const command = [node, CLI, 'watch', '--interval', '100ms', String(p)]
      .map((a) => `'${a}'`)
      .join(' ')
    const tty = startProc('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, TERM: 'xterm-256color', NO_COLOR: '1', COLUMNS: '200' },
    })
    let screen = ''
    tty.child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString('utf8')))
    await eventually(() => screen.includes('listening socket'), 'the table header', 10_000)
    expect(screen).toContain('\u001b[2J') // cleared once, on a terminal only
    expect(screen).toMatch(
      new RegExp(`portwarden watch on ${p}: 0 listening sockets, every 100 ms, no change yet`),
    )
    const holder = await listener([p])
    await eventually(
      () =>
        new RegExp(`\\+\\s+tcp\\s+LISTEN\\s+127\\.0\\.0\\.1:${p}\\s+node\\[${holder.pid}\\]`).test(
          screen,
        ),
      'the new row, marked +',
      10_000,
    )
    await close(holder)
    await eventually(
      () => new RegExp(`-\\s+tcp\\s+LISTEN\\s+127\\.0\\.0\\.1:${p}`).test(screen),
      'the removed row, marked -',
      10_000,
    )
  })
})

describe('the poller (library)', () => {
  it('scans holders only for new sockets; an idle poll reads the tables and nothing else', async () => {
    const [p, q] = [await freePort(), await freePort()]
    const ports = [
      { from: p, to: p, protocol: 'tcp' as const },
      { from: q, to: q, protocol: 'tcp' as const },
    ]
    const watcher = new SocketWatcher({ ports, intervalMs: 100 })
    expect(await watcher.poll()).toEqual([]) // the baseline
    expect(await watcher.poll()).toEqual([])
    expect(watcher.stats.holderScans).toBe(0)
    const a = await listener([p])
    const appeared = await watcher.poll()
    expect(
      appeared.map((e) => [e.event, e.socket.localPort, e.socket.processes.map((h) => h.pid)]),
    ).toEqual([['bind', p, [a.pid]]])
    expect(watcher.stats.holderScans).toBe(1)
    for (let i = 0; i < 3; i++) expect(await watcher.poll()).toEqual([])
    expect(watcher.stats.holderScans).toBe(1) // the holder was cached by socket identity
    const b = await listener([q])
    await close(a)
    const changed = await watcher.poll()
    expect(changed.map((e) => [e.event, e.socket.localPort])).toEqual([
      ['unbind', p],
      ['bind', q],
    ])
    expect(changed[0]?.socket.processes[0]?.pid).toBe(a.pid) // as last seen
    expect(watcher.stats.holderScans).toBe(2)
    await close(b)
  })

  it('one poller, many listeners: both hear each event; the poller stops with the last', async () => {
    const p = await freePort()
    const watcher = new SocketWatcher({
      ports: [{ from: p, to: p, protocol: 'tcp' }],
      intervalMs: 50,
    })
    await watcher.poll()
    const heard: [string, SocketEvent][] = []
    const offA = watcher.subscribe((e) => heard.push(['a', e]))
    const offB = watcher.subscribe((e) => heard.push(['b', e]))
    const holder = await listener([p])
    await eventually(() => heard.length >= 2, 'both listeners to hear the bind')
    expect(heard.map(([who, e]) => [who, e.event])).toEqual([
      ['a', 'bind'],
      ['b', 'bind'],
    ])
    offA()
    offB()
    const polls = watcher.stats.polls
    await close(holder)
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(watcher.stats.polls - polls).toBeLessThanOrEqual(1) // at most the poll already under way
    expect(heard).toHaveLength(2)
  })

  it('a listener after a pause starts from a fresh baseline: no stale binds, no missed unbind', async () => {
    const p = await freePort()
    const watcher = new SocketWatcher({
      ports: [{ from: p, to: p, protocol: 'tcp' }],
      intervalMs: 50,
    })
    await watcher.poll()
    watcher.subscribe(() => undefined)() // one listener came and went: the poller stopped
    const holder = await listener([p]) // opened while nobody listened
    const heard: SocketEvent[] = []
    const off = watcher.subscribe((e) => heard.push(e))
    const polls = watcher.stats.polls
    await eventually(() => watcher.stats.polls > polls + 1, 'the baseline and one more poll')
    expect(heard).toEqual([]) // the socket was there when this listener came: no event
    await close(holder)
    await eventually(() => heard.length === 1, 'the unbind event')
    off()
    expect(heard.map((e) => [e.event, e.socket.localPort])).toEqual([['unbind', p]])
  })

  it('watchSockets: events until the signal aborts', async () => {
    const p = await freePort()
    const seen: SocketEvent[] = []
    const stop = new AbortController()
    let baseline: number | null = null
    const done = watchSockets(
      { ports: [{ from: p, to: p, protocol: 'tcp' }], intervalMs: 50 },
      (e) => seen.push(e),
      stop.signal,
      (sockets) => (baseline = sockets.length),
    )
    await eventually(() => baseline !== null, 'the baseline')
    const holder = await listener([p])
    await eventually(() => seen.length === 1, 'the bind event')
    await close(holder)
    await eventually(() => seen.length === 2, 'the unbind event')
    stop.abort()
    await done
    expect(seen.map((e) => e.event)).toEqual(['bind', 'unbind'])
  })
})

/**
 * Each sign of a stale holder, seen on a real process, and for each an `in use` control that must
 * not be called stale: an orphan made by a double fork, a deleted cwd, a deleted and a replaced
 * executable (a copied interpreter), a holder in a git worktree that is then removed, idle vs
 * active connections (a real client sending data), a 503 answer, a duplicate.
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync } from 'node:fs'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { connect, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { Allocation } from '../src/core/registry/types.js'
import { listSockets } from '../src/core/sockets/list-sockets.js'
import type { SocketEntry } from '../src/core/types.js'
import type { Evidence, EvidenceContext } from '../src/core/stale/index.js'
import { describeJudgement, gatherEvidence, judge } from '../src/core/stale/index.js'
import { PYTHON } from './helpers/processes.js'
import { holdStale, stopStaleHolders } from './helpers/stale-holder.js'

const dir = mkdtempSync(join(tmpdir(), 'pw-stale-'))
const clients: Socket[] = []
const subscriptions: (() => void)[] = []
afterEach(async () => {
  for (const stop of subscriptions.splice(0)) stop()
  for (const client of clients.splice(0)) client.destroy()
  await stopStaleHolders()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function hold(
  args: string[] = [],
  options: { cwd?: string; exe?: string } = {},
): Promise<{ pid: number; port: number }> {
  return holdStale(args, { cwd: options.cwd ?? dir, ...(options.exe ? { exe: options.exe } : {}) })
}

async function evidenceOf(
  holder: { pid: number; port: number },
  context: EvidenceContext = {},
): Promise<Evidence> {
  const { sockets } = await listSockets({ all: true })
  return gatherEvidence(
    { pid: holder.pid, port: holder.port, startedAt: new Date(Date.now() - 60_000).toISOString() },
    { sockets, ...context },
  )
}

function allocation(over: Partial<Allocation>): Allocation {
  return {
    id: 1,
    host: 'local',
    project: 'demo',
    service: 'api',
    protocol: 'tcp',
    port: 0,
    createdAt: new Date().toISOString(),
    healthStatus: 'unknown' as Allocation['healthStatus'],
    lastCheckedAt: null,
    healthDetail: null,
    healthCheck: null,
    pid: null,
    worktree: null,
    ...over,
  }
}

/**
 * The next TCP connection this process opens to `port` on loopback: its local port, once connected
 * (node's `net.client.socket` diagnostics channel; the probe's connection is made inside core).
 */
function nextConnectionTo(port: number): { connected: Promise<number> } {
  let onSocket: (message: unknown) => void = () => {}
  const connected = new Promise<number>((resolve) => {
    onSocket = (message) => {
      const { socket } = message as { socket: Socket }
      socket.once('connect', () => {
        if (socket.remotePort !== port || socket.localPort === undefined) return
        unsubscribe('net.client.socket', onSocket)
        resolve(socket.localPort)
      })
    }
    subscribe('net.client.socket', onSocket)
  })
  subscriptions.push(() => unsubscribe('net.client.socket', onSocket))
  return { connected }
}

async function connected(port: number, sendData: boolean): Promise<Socket> {
  const client = connect(port, '127.0.0.1')
  clients.push(client)
  await new Promise<void>((resolve) => client.once('connect', () => resolve()))
  if (sendData) client.write('hello\n')
  // the server side is ESTAB once accepted; give the kernel table a beat via a round of I/O
  await new Promise((resolve) => setImmediate(resolve))
  return client
}

describe('evidence: each sign on a real process, with an in-use control', () => {
  it('an orphan (double fork, middle parent exits) is orphaned; a child of its launcher is not', async () => {
    const orphan = await hold(['--orphan'])
    const e = await evidenceOf(orphan)
    expect(e.orphaned, JSON.stringify(e)).not.toBeNull()
    expect(judge(e).verdict).not.toBe('stale') // one weak sign never makes stale
    const control = await hold()
    const c = await evidenceOf(control)
    expect(c.orphaned).toBeNull()
    expect(judge(c).verdict).toBe('in use')
  })

  it('a holder whose launcher was orphaned (npm run dev → node) is orphaned, naming the launcher', async () => {
    const child = await hold(['--orphan', '--launcher'])
    const e = await evidenceOf(child)
    expect(e.orphaned?.launcher?.pid, JSON.stringify(e)).toBeGreaterThan(1)
    expect(e.orphaned?.launcher?.name).toBe('python3')
    const reason = judge(e).reasons.find((r) => r.sign === 'orphaned')
    expect(reason?.text).toMatch(/^orphaned \d+ min ago with its launcher python3 \(pid \d+\)/)
  })

  it('a deleted working directory is seen; a present one is not', async () => {
    const cwd = join(dir, 'gone-cwd')
    mkdirSync(cwd)
    const holder = await hold([], { cwd })
    rmSync(cwd, { recursive: true })
    const e = await evidenceOf(holder)
    expect(e.cwdDeleted).toBe(true)
    expect(e.cwd).toBe(cwd)
    expect(judge(e).verdict).toBe('maybe stale')
    const control = await evidenceOf(await hold())
    expect(control.cwdDeleted).toBe(false)
    expect(judge(control).verdict).toBe('in use')
  })

  it('a deleted and a replaced executable (a copied interpreter) are seen; an untouched one is not', async () => {
    const bin = join(dir, 'bin')
    mkdirSync(bin, { recursive: true })
    const deletedExe = join(bin, 'py-deleted')
    const replacedExe = join(bin, 'py-replaced')
    const keptExe = join(bin, 'py-kept')
    for (const path of [deletedExe, replacedExe, keptExe]) copyFileSync(PYTHON, path)
    const deleted = await hold([], { exe: deletedExe })
    const replaced = await hold([], { exe: replacedExe })
    const kept = await hold([], { exe: keptExe })
    unlinkSync(deletedExe)
    copyFileSync(PYTHON, `${replacedExe}.new`)
    renameSync(`${replacedExe}.new`, replacedExe) // an upgrade: a new file under the old name
    expect((await evidenceOf(deleted)).exe).toBe('deleted')
    expect((await evidenceOf(replaced)).exe).toBe('replaced')
    const k = await evidenceOf(kept)
    expect(k.exe).toBeNull()
    expect(judge(k).verdict).toBe('in use')
    expect(judge(await evidenceOf(replaced)).verdict).toBe('in use') // weak alone
  })

  it('a holder in a git worktree: listed while it exists, deleted after `git worktree remove --force`', async () => {
    const git = gitRepo(join(dir, 'repo'))
    const worktree = join(dir, 'feature-x')
    git('worktree', 'add', '-q', worktree)
    const holder = await hold([], { cwd: worktree })
    const rows = [allocation({ port: holder.port, worktree })]
    const before = await evidenceOf(holder, { allocations: rows })
    expect(before.worktree).toEqual({
      path: worktree,
      name: 'feature-x',
      exists: true,
      listed: true,
    })
    expect(before.registry).toBeNull() // its own project's port, no pid recorded
    expect(judge(before).verdict).toBe('in use')

    git('worktree', 'remove', '--force', worktree)
    const after = await evidenceOf(holder, { allocations: rows })
    expect(after.worktree).toMatchObject({ name: 'feature-x', exists: false })
    const judgement = judge(after)
    expect(describeJudgement(judgement)).toContain('its worktree feature-x was deleted')
  })

  it('a holder in a git worktree moved by `git worktree move` is still listed at its new path', async () => {
    // `move` rewrites only .git/worktrees/<name>/gitdir: a cache keyed by the worktrees directory
    // alone would answer with the old path (a long-running serve judging it "not listed").
    const git = gitRepo(join(dir, 'repo-move'))
    const worktree = join(dir, 'feature-m')
    git('worktree', 'add', '-q', worktree)
    const holder = await hold([], { cwd: worktree })
    const before = await evidenceOf(holder)
    expect(before.worktree).toEqual({
      path: worktree,
      name: 'feature-m',
      exists: true,
      listed: true,
    })

    const moved = join(dir, 'feature-n') // same length: the gitdir file keeps its size
    git('worktree', 'move', worktree, moved)
    const after = await evidenceOf(holder)
    expect(after.worktree).toEqual({ path: moved, name: 'feature-n', exists: true, listed: true })
    expect(judge(after).verdict).toBe('in use')
  })

  it('idle vs active: a connected client sending data makes it in use, even with stale signs', async () => {
    const holder = await hold(['--orphan'])
    const rows = [allocation({ port: holder.port, project: 'other', worktree: join(dir, 'x') })]
    const idle = await evidenceOf(holder, { allocations: rows })
    expect(idle.connections).toEqual({ established: 0, idleMs: null, idleMeasured: false })
    expect(judge(idle).verdict).toBe('stale') // orphaned + another project's port, no connections
    await connected(holder.port, true)
    const active = await evidenceOf(holder, { allocations: rows })
    expect(active.connections.established).toBeGreaterThanOrEqual(1)
    expect(judge(active).verdict).toBe('in use')
  })

  it('a client still in the accept queue (no process owns it yet) counts as a connection', async () => {
    const holder = await hold(['--orphan', '--no-accept'])
    await connected(holder.port, true)
    const e = await evidenceOf(holder)
    expect(e.connections.established).toBe(1)
  })

  it('a 503 answer is a sign; a 200 is not', async () => {
    const stale = await hold(['--http', '503', '--orphan'])
    const e = await evidenceOf(stale, { httpTimeoutMs: 1000 })
    expect(e.httpStatus).toBe(503)
    expect(judge(e).verdict).toBe('stale')
    expect(describeJudgement(judge(e))).toMatch(/^looks stale: .*it answers 503.*no connections$/)
    const ok = await hold(['--http', '200'])
    const c = await evidenceOf(ok, { httpTimeoutMs: 1000 })
    expect(c.httpStatus).toBe(200)
    expect(judge(c).verdict).toBe('in use')
  })

  it("an HTTP probe still in flight is not counted as the holder's traffic by a concurrent judgement", async () => {
    const silent = await hold(['--orphan']) // accepts, never answers: the probe waits its timeout
    const connection = nextConnectionTo(silent.port)
    let settled = false
    const probing = evidenceOf(silent, { httpTimeoutMs: 3000 }).finally(() => {
      settled = true
    })
    const ended = probing.then(() => {
      throw new Error('the probe ended before its connection was seen')
    })
    // The probe's connection, by the event of its connect (its local port names it)...
    const probePort = await Promise.race([connection.connected, ended])
    // ...and the holder's side of it in the table (only this port's rows, no holders: a full
    // listing per look is slow on /proc); the handshake's last ACK may still be on its way.
    const port = [{ protocol: 'tcp' as const, from: silent.port, to: silent.port }]
    const holderSide = (sockets: readonly SocketEntry[]): boolean =>
      sockets.some(
        (s) => s.state === 'ESTAB' && s.localPort === silent.port && s.remotePort === probePort,
      )
    for (;;) {
      const look = listSockets({ all: true, ports: port, withProcesses: false })
      const { sockets } = await Promise.race([look, ended])
      if (holderSide(sockets)) break
    }
    const { sockets } = await listSockets({ all: true })
    const meanwhile = await gatherEvidence(
      {
        pid: silent.pid,
        port: silent.port,
        startedAt: new Date(Date.now() - 60_000).toISOString(),
      },
      { sockets },
    )
    expect(settled, 'the probe was still in flight during the concurrent judgement').toBe(false)
    expect(holderSide(sockets), "the probe's connection is in the judged table").toBe(true)
    expect(meanwhile.connections.established).toBe(0)
    expect((await probing).httpStatus).toBeNull()
    const after = await evidenceOf(silent)
    expect(after.connections.established).toBe(0)
  })

  it('a duplicate (same command line and cwd on another port) is seen; a different cwd is not', async () => {
    const a = await hold()
    const b = await hold()
    const e = await evidenceOf(a)
    expect(e.duplicate).toEqual({ pid: b.pid, port: b.port })
    expect(judge(e).verdict).toBe('in use') // weak alone
    const elsewhere = join(dir, 'elsewhere')
    mkdirSync(elsewhere, { recursive: true })
    const c = await hold([], { cwd: elsewhere })
    const ce = await evidenceOf(c)
    expect(ce.duplicate).toBeNull()
  })
})

/** A new git repository with one commit at `repo`; returns `git -C repo ...`. */
function gitRepo(repo: string): (...args: string[]) => void {
  mkdirSync(repo)
  const git = (...args: string[]) =>
    void execFileSync('git', ['-C', repo, ...args], {
      stdio: 'ignore',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@t',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@t',
      },
    })
  git('init', '-q')
  git('commit', '-q', '--allow-empty', '-m', 'init')
  return git
}

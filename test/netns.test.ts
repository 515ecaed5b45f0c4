/**
 * Issue 12 item 2: listeners in other network namespaces. Two `ip netns` namespaces made here:
 * A holds the host listener's port too, a port only it holds, and a UDP socket; B's holder runs in
 * a pid namespace of its own (`unshare -pf`), so it must be named by its host pid. `ss -N NAME` is
 * the oracle for each. Needs root and `ip netns`; skips loudly otherwise.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { parseJson, runCli, stackTraceLines } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { startSockets, stopStarted } from './helpers/processes.js'
import type { Serve } from './helpers/serve.js'
import { removeServeDirs, startServe, stopServe } from './helpers/serve.js'
import type { WireSocket } from './helpers/sockets.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

const tag = randomBytes(3).toString('hex')
const NS_A = `pw-${tag}-a`
const NS_B = `pw-${tag}-b`

function ip(args: string[]): { ok: boolean; why: string } {
  const run = spawnSync('ip', args, { encoding: 'utf8' })
  return { ok: run.status === 0, why: `${run.stderr ?? ''}${run.error?.message ?? ''}`.trim() }
}

const skip = (() => {
  if (process.getuid?.() !== 0) return 'needs root (ip netns add)'
  const probe = ip(['netns', 'add', `pw-${tag}-probe`])
  if (!probe.ok) return `ip netns add does not work here: ${probe.why}`
  ip(['netns', 'del', `pw-${tag}-probe`])
  const unshare = spawnSync('unshare', ['-pf', '--mount-proc', 'true'])
  return unshare.status === 0 ? null : 'unshare -pf --mount-proc does not work here'
})()
if (skip) console.warn(`[linux/netns] SKIPPING the other-namespace tests: ${skip}`)
const suffix = skip ? ` [SKIPPED: ${skip}]` : ''

let host: Fixture
let inA: Fixture
let inB: Fixture
/** The port both the host and A listen on, the one only A does, A's UDP port, and B's. */
let shared: number
let onlyA: number
let udpA: number
let onlyB: number
/** B's holder as the host sees it (inside its pid namespace it is pid 1). */
let hostPidOfB: number

/** The pids of `pid`'s children (`/proc/PID/task/TID/children`). */
function childrenOf(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number),
  )
}

beforeAll(async () => {
  if (skip) return
  for (const ns of [NS_A, NS_B]) {
    const made = ip(['netns', 'add', ns])
    if (!made.ok) throw new Error(`ip netns add ${ns}: ${made.why}`)
    ip(['-n', ns, 'link', 'set', 'lo', 'up'])
  }
  host = await startSockets(['tcp@127.0.0.1'], { name: 'pw-host' })
  shared = host.sockets[0]!.port
  inA = await startSockets([`tcp@127.0.0.1=${shared}`, 'tcp@127.0.0.1', 'udp@127.0.0.1'], {
    name: 'pw-in-a',
    wrap: ['ip', 'netns', 'exec', NS_A],
  })
  onlyA = inA.sockets[1]!.port
  udpA = inA.sockets[2]!.port
  inB = await startSockets(['tcp@127.0.0.1'], {
    name: 'pw-in-b',
    wrap: ['ip', 'netns', 'exec', NS_B, 'unshare', '-pf', '--mount-proc'],
  })
  onlyB = inB.sockets[0]!.port
  // ip netns exec execs unshare in place; unshare -f forks the fixture as its one child.
  hostPidOfB = childrenOf(inB.process.pid)[0]!
})

afterAll(async () => {
  await stopStarted()
  if (!skip) for (const ns of [NS_A, NS_B]) ip(['netns', 'del', ns])
  removeServeDirs()
})

interface Row {
  protocol: string
  state: string
  local: string
  pids: number[]
}

/** `ss -tuanpH -N NS`: the oracle's rows for a namespace. */
function ssRows(ns: string): Row[] {
  const run = spawnSync('ss', ['-tuanpH', '-N', ns], { encoding: 'utf8' })
  expect(run.status, run.stderr).toBe(0)
  return run.stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [protocol, state, , , local] = line.split(/\s+/)
      const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]))
      return { protocol: protocol!, state: state!, local: local!, pids: [...new Set(pids)].sort() }
    })
    .sort(byRow)
}

function ourRows(sockets: readonly WireSocket[], ns: string): Row[] {
  return sockets
    .filter((s) => s.netns?.name === ns)
    .map((s) => ({
      protocol: s.protocol,
      state: s.state,
      local: `${s.family === 'ipv6' ? `[${s.local_address}]` : s.local_address}:${s.local_port}`,
      pids: [...new Set(s.processes.map((p) => p.pid))].sort(),
    }))
    .sort(byRow)
}

const byRow = (a: Row, b: Row) =>
  `${a.protocol} ${a.local} ${a.state}`.localeCompare(`${b.protocol} ${b.local} ${b.state}`)

const BACKENDS: { name: string; args: string[]; env?: Record<string, string> }[] = [
  { name: 'default (netlink where the addon loads)', args: [] },
  { name: '--backend proc (a member process’s /proc/PID/net)', args: ['--backend', 'proc'] },
  { name: 'PORTWARDEN_NO_NATIVE=1', args: [], env: { PORTWARDEN_NO_NATIVE: '1' } },
]

describe.each(BACKENDS)('list --all-namespaces on $name', (backend) => {
  it.skipIf(skip !== null)(
    `lists every ip-netns namespace's sockets as ss -N does (states, addresses, pids)${suffix}`,
    async () => {
      const result = await runCli(
        ['list', '--all-namespaces', '--all', '--json', ...backend.args],
        {
          env: backend.env,
        },
      )
      expect(result.code, result.stderr).toBe(0)
      const sockets = parseJson<WireSocket[]>(result)
      for (const ns of [NS_A, NS_B]) expect(ourRows(sockets, ns)).toEqual(ssRows(ns))
      // A's copy of the host's port is its own socket, tagged with A; the host's stays the host's.
      const onShared = sockets.filter((s) => s.local_port === shared && s.protocol === 'tcp')
      expect(onShared.map((s) => [s.netns?.name ?? 'host', s.netns?.host, s.inode]).sort()).toEqual(
        [
          ['host', true, host.sockets[0]!.inode],
          [NS_A, false, inA.sockets[0]!.inode],
        ].sort(),
      )
      const a = sockets.find((s) => s.netns?.name === NS_A)!.netns!
      expect(a).toEqual({ inode: a.inode, name: NS_A, container_id: null, host: false })
      // B's holder runs in a pid namespace of its own: named by the pid the host knows it by.
      const b = sockets.find((s) => s.netns?.name === NS_B && s.local_port === onlyB)!
      expect(b.processes.map((p) => p.pid)).toEqual([hostPidOfB])
      expect(hostPidOfB).not.toBe(1)
    },
  )

  it.skipIf(skip !== null)(
    `the table has a NETNS column naming each namespace${suffix}`,
    async () => {
      const result = await runCli(
        ['list', '--all-namespaces', '--port', `${shared},${onlyA}`, ...backend.args],
        { env: backend.env },
      )
      expect(result.code, result.stderr).toBe(0)
      const lines = result.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(/^NETNS\s+PROTO\s+STATE\s+LOCAL\s+PROCESS/)
      const rows = lines.slice(1).map((line) => line.split(/\s+/).slice(0, 5))
      expect(rows).toEqual(
        expect.arrayContaining([
          ['host', 'tcp', 'LISTEN', `127.0.0.1:${shared}`, `pw-host[${host.pid}]`],
          [NS_A, 'tcp', 'LISTEN', `127.0.0.1:${shared}`, `pw-in-a[${inA.pid}]`],
          [NS_A, 'tcp', 'LISTEN', `127.0.0.1:${onlyA}`, `pw-in-a[${inA.pid}]`],
        ]),
      )
      expect(rows).toHaveLength(3)
    },
  )
})

describe('who and check: this namespace decides, the others are named', () => {
  it.skipIf(skip !== null)(
    `who PORT --all-namespaces answers for each namespace holding it, this one first${suffix}`,
    async () => {
      const result = await runCli(['who', String(shared), '--all-namespaces'])
      expect(result.code, result.stderr).toBe(0)
      const sentences = result.stdout.split('\n').filter((l) => l.startsWith('TCP port'))
      expect(sentences).toEqual([
        `TCP port ${shared} is already in use by pw-host (pid ${host.pid}, user root) on 127.0.0.1:${shared}`,
        `TCP port ${shared} is already in use by pw-in-a (pid ${inA.pid}, user root) on 127.0.0.1:${shared} in network namespace ${NS_A}`,
      ])
      const json = parseJson<{ ports: { netns?: { name: string | null; host: boolean } }[] }>(
        await runCli(['who', String(shared), '--all-namespaces', '--json']),
      )
      expect(json.ports.map((p) => [p.netns?.host, p.netns?.name])).toEqual([
        [true, null],
        [false, NS_A],
      ])
    },
  )

  it.skipIf(skip !== null)(
    `a port free here but held in A: who exits 1 with a note naming A, check passes with it${suffix}`,
    async () => {
      const who = await runCli(['who', String(onlyA)])
      expect(who.code, who.stderr).toBe(1)
      expect(who.stdout).toBe(
        `TCP port ${onlyA} is free: no process holds it.\n` +
          `  note: TCP port ${onlyA} is in use in network namespace ${NS_A} by pw-in-a (pid ${inA.pid}, user root) on 127.0.0.1:${onlyA}, which does not take it here.\n`,
      )
      const check = await runCli(['check', String(onlyA), `${udpA}/udp`])
      expect(check.code, check.stdout).toBe(0)
      expect(check.stdout).toContain(
        `[PASS] ${onlyA}/tcp: available\n       note: TCP port ${onlyA} is in use in network namespace ${NS_A}`,
      )
      expect(check.stdout).toContain(
        `note: UDP port ${udpA} is in use in network namespace ${NS_A}`,
      )
      const json = parseJson<{
        ports: { free: boolean; other_namespaces: { netns: { name: string } }[] }[]
      }>(await runCli(['check', String(onlyA), '--json']))
      expect(json.ports[0]).toMatchObject({
        free: true,
        other_namespaces: [{ netns: { name: NS_A } }],
      })
    },
  )

  it.skipIf(skip !== null)(
    `as nobody, who and check say which namespaces their note could not look in${suffix}`,
    async () => {
      // Free here, held in A: nobody cannot enter A, so no note, and a warning says why.
      const unread = /network namespaces? (was|were) not read \(.*network namespace pw-/
      const who = await runCli(['who', String(onlyA)], { uid: 65534 })
      expect(who.code, who.stderr).toBe(1)
      expect(who.stdout).toBe(`TCP port ${onlyA} is free: no process holds it.\n`)
      expect(who.stderr).toMatch(unread)
      const check = await runCli(['check', String(onlyA), '--json'], { uid: 65534 })
      expect(check.code, check.stderr).toBe(0)
      const json = parseJson<{ ports: { warnings: string[] }[] }>(check)
      expect(
        json.ports[0]!.warnings.some((w) => unread.test(w)),
        check.stdout,
      ).toBe(true)
    },
  )

  it.skipIf(skip !== null)(
    `five namespaces holding a port free here: three notes, then how many more (JSON has all five)${suffix}`,
    async () => {
      const many = Array.from({ length: 5 }, (_, i) => `pw-${tag}-m${i}`)
      const port = 20000 + Math.floor(Math.random() * 5000)
      const holders: Fixture[] = []
      try {
        for (const ns of many) {
          expect(ip(['netns', 'add', ns]).ok).toBe(true)
          ip(['-n', ns, 'link', 'set', 'lo', 'up'])
          holders.push(
            await startSockets([`tcp@127.0.0.1=${port}`], { wrap: ['ip', 'netns', 'exec', ns] }),
          )
        }
        const who = await runCli(['who', String(port)])
        const notes = who.stdout.split('\n').filter((l) => l.startsWith('  note: '))
        expect(notes).toHaveLength(4)
        expect(notes[3]).toBe(
          `  note: 2 more network namespaces hold it too (who ${port}/tcp --all-namespaces lists them).`,
        )
        const json = parseJson<{ ports: { other_namespaces: unknown[] }[] }>(
          await runCli(['who', String(port), '--json']),
        )
        expect(json.ports[0]!.other_namespaces).toHaveLength(5)
      } finally {
        // Only these holders: the other tests' fixtures stay up.
        for (const holder of holders) {
          holder.process.child.stdin.end()
          await holder.process.exited
        }
        for (const ns of many) ip(['netns', 'del', ns])
      }
    },
  )

  it.skipIf(skip !== null)(
    `a port taken here: check names only this namespace's holder; --all-namespaces adds A's as a note${suffix}`,
    async () => {
      const plain = await runCli(['check', String(shared)])
      expect(plain.code).toBe(1)
      expect(plain.stdout).toBe(
        `[FAIL] ${shared}/tcp: in use by pw-host (pid ${host.pid}, user root) on 127.0.0.1:${shared}\n`,
      )
      const all = await runCli(['check', String(shared), '--all-namespaces'])
      expect(all.code).toBe(1)
      expect(all.stdout).toContain(
        `note: TCP port ${shared} is in use in network namespace ${NS_A} by pw-in-a (pid ${inA.pid}, user root)`,
      )
    },
  )

  it.skipIf(skip !== null)(
    `as nobody: namespaces it cannot enter are a warning, never another namespace's sockets${suffix}`,
    async () => {
      const result = await runCli(['list', '--all-namespaces', '--json', '--all'], {
        uid: 65534,
      })
      expect(result.code, result.stderr).toBe(0)
      expect(stackTraceLines(result.stderr)).toEqual([])
      const sockets = parseJson<WireSocket[]>(result)
      expect(sockets.filter((s) => s.netns?.name === NS_A || s.netns?.name === NS_B)).toEqual([])
      expect(sockets.every((s) => s.netns?.host === true)).toBe(true)
      expect(result.stderr).toMatch(
        /network namespaces? (was|were) not read \(.*network namespace pw-/,
      )
    },
  )

  it.skipIf(skip !== null)(
    `the lsof backend refuses --all-namespaces with exit 2${suffix}`,
    async () => {
      const result = await runCli(['list', '--all-namespaces', '--backend', 'lsof'])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('the lsof backend cannot tell namespaces apart')
      expect(stackTraceLines(result.stderr)).toEqual([])
    },
  )
})

describe('the API and a kernel holder in another namespace', () => {
  let serve: Serve | undefined
  afterAll(async () => {
    if (serve) await stopServe(serve)
  })

  it.skipIf(skip !== null)(
    `?all_namespaces=1 lists A's sockets with their netns; without it, this namespace only${suffix}`,
    async () => {
      serve = await startServe()
      const every = await serve.request(`/api/sockets?port=${onlyA}&all_namespaces=1`)
      expect(every.status, every.text).toBe(200)
      expect((every.json as WireSocket[]).map((s) => [s.netns?.name, s.processes[0]?.pid])).toEqual(
        [[NS_A, inA.pid]],
      )
      const here = await serve.request(`/api/sockets?port=${onlyA}`)
      expect(here.json).toEqual([])
      const system = await serve.request('/api/system/ports?all_namespaces=1')
      const listening = system.json.listening as WireSocket[]
      expect(listening.some((s) => s.netns?.name === NS_A && s.local_port === onlyA)).toBe(true)
      const port = await serve.request(`/api/ports/${onlyA}`)
      expect(port.json).toMatchObject({
        free: true,
        other_namespaces: [{ netns: { name: NS_A, host: false } }],
      })
    },
  )

  const vxlan = (() => {
    if (skip) return skip
    if (!nativeAddon().addon) return 'no native addon (the link dump names the device)'
    return null
  })()
  it.skipIf(vxlan !== null)(
    `a vxlan device inside A is named as the kernel holder, with A's fix${vxlan ? ` [SKIPPED: ${vxlan}]` : ''}`,
    async () => {
      const port = 34000 + Math.floor(Math.random() * 1000)
      const made = ip([
        '-n',
        NS_A,
        'link',
        'add',
        'vxpw',
        'type',
        'vxlan',
        'id',
        '77',
        'dstport',
        String(port),
        'local',
        '127.0.0.1',
      ])
      if (!made.ok) {
        console.warn(`[linux/netns] SKIPPING the vxlan-in-a-namespace check: ${made.why}`)
        return
      }
      ip(['-n', NS_A, 'link', 'set', 'vxpw', 'up'])
      try {
        const result = await runCli([
          'list',
          '--all-namespaces',
          '--udp',
          '--port',
          String(port),
          '--json',
        ])
        const sockets = parseJson<WireSocket[]>(result).filter((s) => s.netns?.name === NS_A)
        expect(sockets.length).toBeGreaterThan(0)
        // Only where every fd table was seen is a taskless socket the kernel's (pid 1's is
        // refused even to root in some sandboxes): then it must be named, with A's own fix.
        const kernel = sockets
          .flatMap((s) => s.processes as unknown as { kind: string }[])
          .filter((p) => p.kind === 'kernel')
        if (kernel.length > 0)
          expect(kernel[0]).toMatchObject({
            interface: 'vxpw',
            link_kind: 'vxlan',
            fix: `ip -n ${NS_A} link del vxpw`,
          })
        else expect(result.stderr).toMatch(/no visible holder/)
      } finally {
        ip(['-n', NS_A, 'link', 'del', 'vxpw'])
      }
    },
  )
})

/**
 * Issue 12 item 1: sockets the kernel holds (a vxlan or geneve device's UDP socket). No task
 * holds them; portwarden says "the kernel" only when every task's fd table was seen (the addon's
 * BPF iterator as root), names the device and its fix, and `free` refuses with that fix. As
 * nobody (fd tables hidden) and without the addon (root cannot read /proc/1/fd here) the honest
 * "not visible" wording stays. Needs root and the vxlan module; skips loudly otherwise.
 */
import { spawnSync } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readdirSync } from 'node:fs'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { readKernelUsers } from '../src/core/sockets/kernel-holders.js'
import { NOBODY, parseJson, runCli, whyNobodyCannotRun } from './helpers/cli.js'
import { isRoot } from './helpers/processes.js'
import type { Serve } from './helpers/serve.js'
import { startServe, stopServe } from './helpers/serve.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

/** The second pass of the suite (PORTWARDEN_NO_NATIVE=1): no BPF scan, so never "the kernel". */
const noAddon = process.env.PORTWARDEN_NO_NATIVE === '1'

function ip(args: string[]): { ok: boolean; text: string } {
  const run = spawnSync('ip', args, { encoding: 'utf8' })
  return { ok: run.status === 0, text: `${run.stdout}${run.stderr}`.trim() }
}

/** Can this machine make a device of this kind? Null when it can, else why not. */
function whyNoLink(kind: string, extra: string[]): string | null {
  if (!isRoot()) return 'needs root to create network devices'
  const name = `pwprobe${process.pid % 1000}`
  const made = ip(['link', 'add', name, 'type', kind, ...extra])
  if (!made.ok) return `the kernel refuses a ${kind} device (${made.text})`
  ip(['link', 'del', name])
  return null
}

/** A random UDP port nothing binds (a test bind on the wildcard, closed at once). */
async function freeUdpPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 33000 + Math.floor(Math.random() * 2000)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createSocket('udp4')
      socket.once('error', () => resolve(false))
      socket.bind(port, '0.0.0.0', () => socket.close(() => resolve(true)))
    })
    if (ok) return port
  }
  throw new Error('no free UDP port in 33000-34999')
}

const vxlanSkip = whyNoLink('vxlan', ['id', '9', 'dstport', '33999', 'local', '127.0.0.1'])
if (vxlanSkip) console.warn(`[linux/kernel-holders] SKIPPING the vxlan tests: ${vxlanSkip}`)
const geneveSkip = whyNoLink('geneve', ['id', '9', 'remote', '127.0.0.2', 'dstport', '33998'])
if (geneveSkip) console.warn(`[linux/kernel-holders] SKIPPING the geneve test: ${geneveSkip}`)
const nobodySkip = whyNobodyCannotRun()
if (nobodySkip) console.warn(`[linux/kernel-holders] SKIPPING the nobody test: ${nobodySkip}`)

/** Can this process read every /proc/PID/fd (pid 1's is refused even to root here)? */
function procWalkComplete(): boolean {
  for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      readdirSync(`/proc/${pid}/fd`)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return false
    }
  }
  return true
}

const made: string[] = []

/** A vxlan device `name` (VNI 42) on a fresh UDP port, up; deleted in afterEach. */
async function vxlan(name: string): Promise<number> {
  const port = await freeUdpPort()
  const add = ip(['link', 'add', name, 'type', 'vxlan', 'id', '42', 'dstport', String(port)])
  if (!add.ok) throw new Error(`ip link add ${name}: ${add.text}`)
  made.push(name)
  // The local address of the example; the device opens its socket when it goes up.
  expect(ip(['link', 'set', name, 'up']).ok).toBe(true)
  return port
}

const namespaces: string[] = []

afterEach(() => {
  for (const name of made.splice(0)) ip(['link', 'del', name])
  for (const name of namespaces.splice(0)) ip(['netns', 'del', name])
})

interface JsonHolder {
  kind: string
  pid: number | null
  interface?: string | null
  link_kind?: string | null
  description?: string
  fix?: string | null
}
interface JsonSocket {
  local_port: number
  protocol: string
  processes: JsonHolder[]
}

describe.skipIf(vxlanSkip !== null || noAddon)('a vxlan device holds its UDP port', () => {
  let serve: Serve | null = null
  afterAll(async () => {
    if (serve) await stopServe(serve)
  })

  it('who, check and list name the device; --json has a kernel holder with pid null', async () => {
    const port = await vxlan('pwvx0')
    const who = await runCli(['who', `${port}/udp`])
    expect(who.stdout).toContain(
      `UDP port ${port} is in use by the kernel: vxlan interface pwvx0 (VNI 42)`,
    )
    expect(who.stdout).toContain('fix: ip link del pwvx0')
    expect(who.stdout).not.toMatch(/not visible|cannot be inspected/)

    const check = await runCli(['check', `${port}/udp`])
    expect(check.code).toBe(1)
    expect(check.stdout).toContain(
      `[FAIL] ${port}/udp: in use by the kernel: vxlan interface pwvx0 (VNI 42)`,
    )
    expect(check.stdout).toContain('fix: ip link del pwvx0')

    const list = await runCli(['list', '--udp', '--port', String(port)])
    expect(list.stdout).toContain('kernel: vxlan interface pwvx0 (VNI 42)')

    const json = parseJson<{ ports: { holders: JsonSocket[]; message: string }[] }>(
      await runCli(['who', `${port}/udp`, '--json']),
    )
    const holder = json.ports[0]?.holders[0]?.processes[0]
    expect(holder).toMatchObject({
      kind: 'kernel',
      pid: null,
      interface: 'pwvx0',
      link_kind: 'vxlan',
      description: 'vxlan interface pwvx0 (VNI 42)',
      fix: 'ip link del pwvx0',
    })

    // A filtered listing names it too (the full listing's native fast path does not yet).
    const some = parseJson<JsonSocket[]>(
      await runCli(['list', '--udp', '--port', String(port), '--json']),
    )
    expect(some[0]?.processes).toEqual([expect.objectContaining({ kind: 'kernel', pid: null })])
  })

  it('free refuses with the fix: exit 1, kernel_held, nothing signalled', async () => {
    const port = await vxlan('pwvx1')
    const free = await runCli(['free', `${port}/udp`, '--yes'])
    expect(free.code, free.stdout + free.stderr).toBe(1)
    const text = free.stdout + free.stderr
    expect(text).toContain('the kernel holds it for vxlan interface pwvx1 (VNI 42)')
    expect(text).toContain('ip link del pwvx1')
    expect(text).toContain('Nothing was signalled')
    const plan = parseJson<{ ports: { blockers: { code: string; command: string | null }[] }[] }>(
      await runCli(['free', `${port}/udp`, '--dry-run', '--json']),
    )
    expect(plan.ports[0]?.blockers).toEqual([
      expect.objectContaining({ code: 'kernel_held', command: 'ip link del pwvx1' }),
    ])
    expect(ip(['link', 'show', 'pwvx1']).ok).toBe(true) // still there: free removed nothing
  })

  it('the API names the kernel holder (GET /api/ports/P?protocol=udp)', async () => {
    const port = await vxlan('pwvx2')
    serve = await startServe()
    const answer = await serve.request(`/api/ports/${port}?protocol=udp`)
    expect(answer.status).toBe(200)
    expect(answer.json.free).toBe(false)
    expect(answer.json.message).toBe(
      `UDP port ${port} is in use by the kernel: vxlan interface pwvx2 (VNI 42)`,
    )
    expect(answer.json.holders[0].processes[0]).toMatchObject({
      kind: 'kernel',
      pid: null,
      interface: 'pwvx2',
    })
  })
})

describe.skipIf(vxlanSkip !== null || noAddon)("holderOf matches a live device's socket", () => {
  it('the UDP port of an up vxlan device is its; TCP on that port and the port once deleted are not', async () => {
    const port = await vxlan('pwvx5')
    expect(readKernelUsers().holderOf('udp', port)).toEqual({
      interface: 'pwvx5',
      linkKind: 'vxlan',
      description: 'vxlan interface pwvx5 (VNI 42)',
      fix: 'ip link del pwvx5',
    })
    expect(readKernelUsers().holderOf('tcp', port)).toBeNull()
    expect(ip(['link', 'del', 'pwvx5']).ok).toBe(true)
    expect(readKernelUsers().holderOf('udp', port)).toBeNull()
  })

  it("a device in another namespace: matched there (fix: ip -n), not in the host's", async () => {
    const ns = `pwkh${process.pid % 10000}`
    const added = ip(['netns', 'add', ns])
    if (!added.ok) throw new Error(`ip netns add ${ns}: ${added.text}`)
    namespaces.push(ns)
    const port = await freeUdpPort()
    const link = ['-n', ns, 'link']
    expect(
      ip([...link, 'add', 'pwvx6', 'type', 'vxlan', 'id', '5', 'dstport', String(port)]).ok,
    ).toBe(true)
    expect(ip([...link, 'set', 'pwvx6', 'up']).ok).toBe(true)
    const inside = readKernelUsers('/proc', { path: `/run/netns/${ns}`, name: ns })
    expect(inside.holderOf('udp', port)).toEqual({
      interface: 'pwvx6',
      linkKind: 'vxlan',
      description: 'vxlan interface pwvx6 (VNI 5)',
      fix: `ip -n ${ns} link del pwvx6`,
    })
    expect(readKernelUsers().holderOf('udp', port)).toBeNull()
  })
})

describe.skipIf(geneveSkip !== null || noAddon)('a geneve device holds its UDP port', () => {
  it('who names it', async () => {
    const port = await freeUdpPort()
    const add = ip(['link', 'add', 'pwgn0', 'type', 'geneve', 'id', '7', 'remote', '127.0.0.2'])
    const set = add.ok && ip(['link', 'set', 'pwgn0', 'type', 'geneve', 'dstport', String(port)])
    if (add.ok) made.push('pwgn0')
    if (!add.ok || (set && !set.ok)) {
      // Some kernels take dstport only at creation.
      ip(['link', 'del', 'pwgn0'])
      const again = ip([
        'link',
        'add',
        'pwgn0',
        'type',
        'geneve',
        'id',
        '7',
        'remote',
        '127.0.0.2',
        'dstport',
        String(port),
      ])
      expect(again.ok, again.text).toBe(true)
      if (!made.includes('pwgn0')) made.push('pwgn0')
    }
    expect(ip(['link', 'set', 'pwgn0', 'up']).ok).toBe(true)
    const who = await runCli(['who', `${port}/udp`])
    expect(who.stdout).toContain(
      `UDP port ${port} is in use by the kernel: geneve interface pwgn0 (VNI 7)`,
    )
  })
})

describe.skipIf(vxlanSkip !== null)('never "the kernel" when fd tables were hidden', () => {
  it.skipIf(nobodySkip !== null)(
    'as nobody the vxlan socket is "not visible", never kernel-owned',
    async () => {
      const port = await vxlan('pwvx3')
      for (const args of [
        ['who', `${port}/udp`],
        ['check', `${port}/udp`],
        ['list', '--udp', '--port', String(port)],
      ]) {
        const result = await runCli(args, { uid: NOBODY })
        expect(result.stdout).not.toMatch(/kernel/)
        expect(result.stdout).toMatch(/not visible/)
      }
      const json = await runCli(['list', '--udp', '--json'], { uid: NOBODY })
      expect(json.stdout).not.toContain('"kind":"kernel"')
    },
  )

  it('without the addon (PORTWARDEN_NO_NATIVE=1: a /proc walk that cannot read every fd table) the honest wording stays', async () => {
    const port = await vxlan('pwvx4')
    const result = await runCli(['who', `${port}/udp`], { env: { PORTWARDEN_NO_NATIVE: '1' } })
    if (procWalkComplete()) {
      // Every fd table readable (not this machine's usual case): the walk may say "the kernel".
      console.warn('[linux/kernel-holders] every /proc/PID/fd is readable here: walk is complete')
      return
    }
    expect(result.stdout).not.toMatch(/kernel/)
    expect(result.stdout).toMatch(/not visible/)
  })
})

/**
 * P3: the non-root view. A root-owned listener, and `check` / `who` / `list` run as `nobody`
 * (setpriv): the socket is still listed (the tables are world-readable) but its process is not
 * visible. `check` must say "in use" with the reason, never "available"; exit 3 is only for our
 * own I/O failures. Needs root (to own the listener and to switch to nobody).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { parseManifest, preflight } from '../src/core/index.js'
import { NOBODY, parseJson, runCli, stackTraceLines, whyNobodyCannotRun } from './helpers/cli.js'
import type { Fixture } from './helpers/processes.js'
import { isRoot, socketOf, startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'
import { boundInactiveVisible } from './helpers/sockets.js'

// Real processes and sockets: generous bounds for a loaded 2-core machine (the usual run is seconds).
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 })

const skipReason = whyNobodyCannotRun()
if (skipReason) console.warn(`[linux/nonroot] SKIPPING the non-root view tests: ${skipReason}`)
const title = (text: string) => (skipReason ? `${text} [SKIPPED: ${skipReason}]` : text)
const asNobody = (args: string[]) => runCli(args, { uid: NOBODY })

interface JsonCheck {
  port: number
  protocol: string
  free: boolean
  reason: string | null
  holders: WireSocket[]
  message: string | null
}

describe.skipIf(skipReason !== null)('P3: a root-owned socket seen by nobody', () => {
  let fixture: Fixture
  let tcp: number
  let udp: number
  let bound: number

  beforeAll(async () => {
    fixture = await startSockets(['tcp@127.0.0.1', 'udp@::1', 'bound@127.0.0.1'], {
      name: 'pw-rootsvc',
    })
    tcp = socketOf(fixture, 'tcp@127.0.0.1').port
    udp = socketOf(fixture, 'udp@::1').port
    bound = socketOf(fixture, 'bound@127.0.0.1').port
  })
  afterAll(stopStarted)

  it(
    title(
      '`check` exits 1 and says the holder (uid 0) is not visible; never "available", never exit 3',
    ),
    async () => {
      for (const spec of [`${tcp}`, `${udp}/udp`]) {
        const result = await asNobody(['check', spec])
        expect(result.code, result.stdout + result.stderr).toBe(1)
        expect(result.stdout).toMatch(/^\[FAIL\] /)
        expect(result.stdout).toMatch(/uid 0 \(root\)/)
        expect(result.stdout).toMatch(/not visible without root/)
        expect(result.stdout).not.toMatch(/available/)
        expect(result.stdout).not.toContain('pw-rootsvc') // we really could not see it
        expect(stackTraceLines(result.stderr)).toEqual([])
      }
    },
  )

  it(
    title('`check --json`: free false, reason in_use, the socket with uid 0 and empty processes'),
    async () => {
      const result = await asNobody(['check', String(tcp), `${udp}/udp`, '--json'])
      expect(result.code).toBe(1)
      const body = parseJson<{ ports: JsonCheck[] }>(result)
      for (const [port, inode] of [
        [tcp, socketOf(fixture, 'tcp@127.0.0.1').inode],
        [udp, socketOf(fixture, 'udp@::1').inode],
      ] as const) {
        const entry = body.ports.find((p) => p.port === port)!
        expect(entry).toMatchObject({ free: false, reason: 'in_use' })
        expect(entry.holders).toHaveLength(1)
        expect(entry.holders[0]).toMatchObject({ inode, uid: 0, user: 'root', processes: [] })
        expect(entry.message).toMatch(/uid 0 \(root\).*not visible/)
      }
    },
  )

  it(
    title('`who` explains that the owner is uid 0 and the process needs root to be seen'),
    async () => {
      const result = await asNobody(['who', String(tcp)])
      expect(result.code, result.stderr).toBe(0)
      const lines = result.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(
        new RegExp(
          `^TCP port ${tcp} is already in use by a process of uid 0 \\(root\\) .*not visible.* on 127\\.0\\.0\\.1:${tcp}$`,
        ),
      )
      expect(result.stdout).toMatch(/run as root/)
      expect(stackTraceLines(result.stderr)).toEqual([])
    },
  )

  it(
    title('`list` shows the socket with empty processes and a stderr note saying why'),
    async () => {
      const json = await asNobody(['list', '--json', '--port', String(tcp), '--port', `${udp}/udp`])
      expect(json.code, json.stderr).toBe(0)
      const sockets = parseJson<WireSocket[]>(json)
      expect(sockets.map((s) => s.inode).sort()).toEqual(
        [socketOf(fixture, 'tcp@127.0.0.1').inode, socketOf(fixture, 'udp@::1').inode].sort(),
      )
      for (const socket of sockets)
        expect(socket).toMatchObject({ uid: 0, user: 'root', processes: [] })
      expect(json.stderr).toMatch(/no visible holder/)
      expect(json.stderr).toMatch(/run as root/)

      const table = await asNobody(['list', '--port', String(tcp)])
      expect(table.code).toBe(0)
      expect(table.stdout).toMatch(
        new RegExp(
          `^tcp\\s+LISTEN\\s+127\\.0\\.0\\.1:${tcp}\\s+\\? \\(uid 0, not visible\\)\\s+root`,
          'm',
        ),
      )
      expect(table.stderr).toMatch(/no visible holder/)

      // the unfiltered list keeps it too: a hidden holder is listed, never dropped
      const everything = parseJson<WireSocket[]>(await asNobody(['list', '--json']))
      expect(everything.some((s) => s.inode === socketOf(fixture, 'tcp@127.0.0.1').inode)).toBe(
        true,
      )
    },
  )

  it(
    title(
      'a bound-but-not-listening root socket: `check` as nobody is never available (named by its owner uid where sock_diag lists it, else "owner not visible")',
    ),
    async () => {
      const result = await asNobody(['check', String(bound), '--json'])
      expect(result.code).toBe(1)
      const entry = parseJson<{ ports: JsonCheck[] }>(result).ports[0]!
      if (boundInactiveVisible()) {
        // sock_diag lists it (TCP_BOUND_INACTIVE) with its owner, whose process nobody cannot see
        expect(entry).toMatchObject({ port: bound, free: false, reason: 'in_use' })
        expect(entry.holders).toEqual([expect.objectContaining({ uid: 0, processes: [] })])
        expect(entry.message).toMatch(/uid 0 \(root\)/)
      } else {
        expect(entry).toMatchObject({
          port: bound,
          free: false,
          reason: 'bind_failed',
          holders: [],
        })
        expect(entry.message).toMatch(/owner not visible/)
      }
    },
  )

  it(
    title(
      'with --backend lsof (which shows nobody nothing), `check` still falls back on the bind test: in use',
    ),
    async () => {
      const result = await asNobody(['check', String(tcp), '--backend', 'lsof'])
      expect(result.code, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toMatch(/^\[FAIL\] /)
      expect(result.stdout).not.toMatch(/available/)
      expect(result.stderr).toMatch(/lsof shows only sockets of processes you may inspect/)
    },
  )
})

/**
 * A listener whose process even root cannot see (a sandbox's own listener: another pid
 * namespace, a restricted /proc). Stood in for by a listener no process holds: its only
 * descriptor is in flight over a unix socket. Root is told the truth (not visible here, even to
 * root, and why), never to retry with sudo; nobody, for a socket of its own, neither.
 */
describe.skipIf(!isRoot())('P3: a listener whose process is hidden even from root', () => {
  afterEach(stopStarted)

  const hiddenEvenFromRoot =
    /not visible here, even to root \(likely another pid namespace or a restricted \/proc\)/

  it('as root: `who`, `check`, `list` and `free --dry-run` say so and never suggest root', async () => {
    const fixture = await startSockets(['inflight@127.0.0.1'])
    const { port, inode } = socketOf(fixture, 'inflight@127.0.0.1')

    const who = await runCli(['who', String(port)])
    expect(who.code, who.stderr).toBe(0)
    const lines = who.stdout.trimEnd().split('\n')
    expect(lines[0]).toBe(
      `TCP port ${port} is already in use by a process of uid 0 (root) that is not visible here, even to root (likely another pid namespace or a restricted /proc) on 127.0.0.1:${port}`,
    )
    expect(lines[1]).toMatch(
      /^ {2}owner uid 0 \(root\); its process is not visible here, even to root/,
    )

    const check = await runCli(['check', String(port), '--json'])
    expect(check.code).toBe(1)
    const entry = parseJson<{ ports: JsonCheck[] }>(check).ports[0]!
    expect(entry).toMatchObject({ free: false, reason: 'in_use' })
    expect(entry.holders).toEqual([expect.objectContaining({ inode, uid: 0, processes: [] })])
    expect(entry.message).toMatch(hiddenEvenFromRoot)

    const free = await runCli(['free', String(port), '--dry-run'])
    expect(free.stdout).toMatch(
      /the process of root \(uid 0\) holding it is not visible here, even to root \(likely another pid namespace or a restricted \/proc\), so it cannot be signalled safely/,
    )

    // The fd walk (not the BPF iterator) notes unreadable fd tables where a sandbox has them.
    const list = await runCli(['list', '--port', String(port)], {
      env: { PORTWARDEN_FD_SCAN: 'readlink' },
    })
    expect(list.code).toBe(0)
    expect(list.stdout).toMatch(
      new RegExp(`127\\.0\\.0\\.1:${port}\\s+\\? \\(uid 0, not visible\\)`),
    )

    // preflight's fix moves the port instead of suggesting sudo
    const manifest = parseManifest(
      `project = "shop"\n\n[services.web]\nports = [${port}]\n`,
      '/nonexistent/portwarden.toml',
    )
    const [judged] = (await preflight(manifest, { store: null, docker: false })).ports
    expect(judged).toMatchObject({ ok: false, port })
    expect(judged!.message).toMatch(hiddenEvenFromRoot)
    expect(judged!.fix).toMatch(/^change web's port \d+ to \d+ \(free now\) in /)

    for (const output of [who, check, free, list]) {
      const text = output.stdout + output.stderr
      expect(text).not.toMatch(/sudo|run as root|without root/)
      expect(stackTraceLines(output.stderr)).toEqual([])
    }
  })

  it(
    title('as nobody, for a socket of its own: "not visible here", no advice to run as root'),
    async () => {
      if (skipReason) return
      const fixture = await startSockets(['inflight@127.0.0.1'], {
        wrap: ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'],
      })
      const { port } = socketOf(fixture, 'inflight@127.0.0.1')
      const who = await asNobody(['who', String(port)])
      expect(who.code, who.stderr).toBe(0)
      expect(who.stdout).toMatch(
        new RegExp(
          `^TCP port ${port} is already in use by a process of uid ${NOBODY} \\(nobody\\) that is not visible here \\(likely another pid namespace or a restricted /proc\\) on 127\\.0\\.0\\.1:${port}$`,
          'm',
        ),
      )
      const check = await asNobody(['check', String(port)])
      expect(check.code).toBe(1)
      expect(check.stdout).toMatch(/not visible here \(likely another pid namespace/)
      for (const output of [who, check])
        expect(output.stdout + output.stderr).not.toMatch(
          /sudo|run as root|without root|even to root/,
        )
    },
  )
})

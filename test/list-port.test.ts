/**
 * Issue 10 item 1: `list --port P` filters by port for every protocol the other flags select
 * (like `ss sport = :P`), on both backends and on `list --json`'s fast path alike. Before, a
 * spec without `/udp` meant TCP, so `list --udp --port 51820` with wireguard-go on 51820/udp
 * printed "No listening sockets.".
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { parseJson, runCli, stackTraceLines } from './helpers/cli.js'
import type { Fixture, FixtureSocket } from './helpers/processes.js'
import { socketOf, startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

let fixture: Fixture
/** UDP on 0.0.0.0 and [::] (v6-only), one port: wireguard-go's 51820/udp. */
let dual: FixtureSocket
/** Two UDP sockets connected to each other: ESTAB, left out of a listing without --all. */
let connected: FixtureSocket

beforeAll(async () => {
  fixture = await startSockets(['udpdual@any', 'udppair@127.0.0.1'], { name: 'pw-wireguard' })
  dual = socketOf(fixture, 'udpdual@any')
  connected = socketOf(fixture, 'udppair@127.0.0.1')
})

afterAll(stopStarted)

const BACKENDS: { name: string; args: string[]; env?: Record<string, string> }[] = [
  { name: 'default (netlink where the addon loads)', args: [] },
  { name: 'PORTWARDEN_NO_NATIVE=1', args: [], env: { PORTWARDEN_NO_NATIVE: '1' } },
  { name: '--backend proc', args: ['--backend', 'proc'] },
]

async function listJson(args: string[], backend: (typeof BACKENDS)[number]): Promise<WireSocket[]> {
  const result = await runCli(['list', '--json', ...args, ...backend.args], { env: backend.env })
  expect(result.code, result.stderr).toBe(0)
  return parseJson<WireSocket[]>(result)
}

const summary = (sockets: readonly WireSocket[]) =>
  sockets.map((s) => `${s.protocol} ${s.state} ${s.local_address}:${s.local_port} ${s.inode}`)

describe.each(BACKENDS)('list --port on backend $name', (backend) => {
  it('--port P without a protocol lists the UDP sockets on P (0.0.0.0 and [::]), with or without --udp', async () => {
    const expected = [
      `udp UNCONN 0.0.0.0:${dual.port} ${dual.inode}`,
      `udp UNCONN :::${dual.port} ${dual.peer_inode}`,
    ]
    expect(summary(await listJson(['--udp', '--port', `${dual.port}`], backend))).toEqual(expected)
    expect(summary(await listJson(['--port', `${dual.port}`], backend))).toEqual(expected)
    expect(summary(await listJson(['--port', `${dual.port}/udp`], backend))).toEqual(expected)
  })

  it('--all --udp --port P lists a connected UDP socket (ESTAB) on P', async () => {
    const sockets = await listJson(['--all', '--udp', '--port', `${connected.port}`], backend)
    expect(summary(sockets)).toEqual([`udp ESTAB 127.0.0.1:${connected.port} ${connected.inode}`])
    expect(sockets[0]!.processes.map((p) => p.pid)).toEqual([fixture.pid])
  })

  it('repeated --port options add up (and so do comma-separated ports)', async () => {
    const both = [
      `udp UNCONN 0.0.0.0:${dual.port} ${dual.inode}`,
      `udp UNCONN :::${dual.port} ${dual.peer_inode}`,
      `udp ESTAB 127.0.0.1:${connected.port} ${connected.inode}`,
    ].sort()
    const repeated = await listJson(
      ['--all', '--port', `${dual.port}`, '--port', `${connected.port}`],
      backend,
    )
    // Both protocols are listed: a TCP TIME-WAIT or connection another process has on one of
    // these (ephemeral) port numbers is no socket of ours, and not what this test is about.
    const ours = (sockets: readonly WireSocket[]) =>
      sockets.filter((s) => s.processes.some((p) => p.pid === fixture.pid))
    expect(summary(ours(repeated)).sort()).toEqual(both)
    const comma = await listJson(['--all', '--port', `${connected.port},${dual.port}`], backend)
    expect(summary(ours(comma)).sort()).toEqual(both)
  })

  it('the table lists both rows; an empty result says "No sockets match", fit for UDP', async () => {
    const table = await runCli(['list', '--udp', '--port', `${dual.port}`, ...backend.args], {
      env: backend.env,
    })
    expect(table.code, table.stderr).toBe(0)
    const rows = table.stdout.trimEnd().split('\n').slice(1)
    expect(rows.map((row) => row.split(/\s+/).slice(0, 4))).toEqual([
      ['udp', 'UNCONN', `0.0.0.0:${dual.port}`, `pw-wireguard[${fixture.pid}]`],
      ['udp6', 'UNCONN', `[::]:${dual.port}`, `pw-wireguard[${fixture.pid}]`],
    ])
    // The connected socket's port without --all: nothing listed, and the sentence says why.
    const empty = await runCli(['list', '--udp', '--port', `${connected.port}`, ...backend.args], {
      env: backend.env,
    })
    expect(empty.code, empty.stderr).toBe(0)
    expect(empty.stdout.trim()).toBe(
      'No sockets match (bound UDP sockets only; --all adds every state).',
    )
    const tcpOnly = await runCli(
      ['list', '--tcp', '--all', '--port', `${dual.port}`, ...backend.args],
      {
        env: backend.env,
      },
    )
    // Nothing of ours is TCP. Other tests leave TIME-WAITs (no process) on ephemeral ports such
    // as this one; such a row is a true answer, not ours, so only it may stand in for the sentence.
    const others = tcpOnly.stdout.trimEnd().split('\n').slice(1)
    if (others.length === 0) expect(tcpOnly.stdout.trim()).toBe('No sockets match.')
    for (const row of others) expect(row).toMatch(/^tcp6?\s+TIME-WAIT\s+\S+\s+\S+\s+-\s/)
  })
})

describe('list --port: one answer everywhere, and protocol conflicts are usage errors', () => {
  it("the backends and list --json's full-listing fast path agree on the sockets of these ports", async () => {
    const ports = [dual.port, connected.port]
    const args = ['--all', '--udp', ...ports.flatMap((port) => ['--port', `${port}`])]
    const answers = await Promise.all(BACKENDS.map((backend) => listJson(args, backend)))
    // No filter: the addon renders the whole listing itself (when it loads); keep these ports.
    const full = await listJson(['--all', '--udp'], BACKENDS[0]!)
    const fromFull = full.filter((s) => ports.includes(s.local_port))
    expect(fromFull).toHaveLength(3)
    for (const answer of answers) expect(answer).toEqual(fromFull)
    if (!nativeAddon().addon) console.warn('list --json fast path not exercised: no native addon')
  })

  it.each([
    [['--tcp'], 'udp', /--port \d+\/udp names UDP, but --tcp lists TCP sockets only\./],
    [['--udp'], 'tcp', /--port \d+\/tcp names TCP, but --udp lists UDP sockets only\./],
  ])('list %j --port P/%s exits 2 and says why', async (flags, protocol, sentence) => {
    const result = await runCli(['list', ...flags, '--port', `${dual.port}/${protocol}`])
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(sentence)
    expect(result.stderr).toContain(`--port ${dual.port}`)
    expect(stackTraceLines(result.stderr)).toEqual([])
  })
})

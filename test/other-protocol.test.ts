/**
 * Issue 10 item 12: `who 51820` / `check 51820` ask about TCP (the default); with the port held
 * only over UDP (wireguard-go on 0.0.0.0 and [::]) the answer says so in a note, and the
 * reverse for a TCP holder asked about over UDP. Text and --json, on both backends.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { listSockets } from '../src/core/index.js'
import { parseJson, runCli } from './helpers/cli.js'
import type { Fixture, FixtureSocket } from './helpers/processes.js'
import { socketOf, startSockets, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 })

interface OtherProtocol {
  protocol: 'tcp' | 'udp'
  message: string
  holders: WireSocket[]
}

let fixture: Fixture
let udp: FixtureSocket
let tcp: FixtureSocket

/** Sockets of `protocol` on `port` (any state): a busy suite's TIME-WAIT can sit on a twin. */
async function socketsOn(protocol: 'tcp' | 'udp', port: number): Promise<number> {
  const { sockets } = await listSockets({
    all: true,
    protocols: [protocol],
    ports: [{ protocol, from: port, to: port }],
    withProcesses: false,
  })
  return sockets.length
}

beforeAll(async () => {
  // The kernel picks both ports in its ephemeral range, where other tests' connections leave
  // TIME-WAIT sockets: take a pair whose twins over the other protocol are unused.
  for (let attempt = 0; ; attempt++) {
    fixture = await startSockets(['udpdual@any', 'tcp@127.0.0.1'], { name: 'wireguard-go' })
    udp = socketOf(fixture, 'udpdual@any')
    tcp = socketOf(fixture, 'tcp@127.0.0.1')
    if ((await socketsOn('tcp', udp.port)) + (await socketsOn('udp', tcp.port)) === 0) break
    if (attempt === 9) throw new Error('no port pair without twins in 10 tries')
    await stopStarted()
  }
})

afterAll(stopStarted)

const BACKENDS: { name: string; args: string[]; env?: Record<string, string> }[] = [
  { name: 'default', args: [] },
  { name: 'PORTWARDEN_NO_NATIVE=1', args: [], env: { PORTWARDEN_NO_NATIVE: '1' } },
]

const holderText = () => `wireguard-go (pid ${fixture.pid}, user `

describe.each(BACKENDS)('the other protocol of a free port, backend $name', (backend) => {
  const run = (args: string[]) => runCli([...args, ...backend.args], { env: backend.env })

  it('who PORT (TCP) with the port held over UDP: free, exit 1, and a note naming the UDP holder', async () => {
    const result = await run(['who', String(udp.port)])
    expect(result.code, result.stderr).toBe(1)
    const [first, note] = result.stdout.trimEnd().split('\n')
    expect(first).toBe(`TCP port ${udp.port} is free: no process holds it.`)
    expect(note).toContain(`  note: UDP port ${udp.port} is held by ${holderText()}`)
    expect(note).toMatch(/on 0\.0\.0\.0:\d+ and \[::\]:\d+\.$/)

    const json = parseJson<{ ports: { in_use: boolean; other_protocol: OtherProtocol }[] }>(
      await run(['who', String(udp.port), '--json']),
    )
    const entry = json.ports[0]!
    expect(entry.in_use).toBe(false)
    expect(entry.other_protocol.protocol).toBe('udp')
    expect(entry.other_protocol.message).toBe(note!.replace('  note: ', '').replace(/\.$/, ''))
    expect(entry.other_protocol.holders.map((s) => s.inode).sort()).toEqual(
      [udp.inode, udp.peer_inode].sort(),
    )
  })

  it('check PORT (TCP) with the port held over UDP: [PASS], exit 0, with the note', async () => {
    const result = await run(['check', String(udp.port)])
    expect(result.code, result.stderr).toBe(0)
    const [first, note] = result.stdout.trimEnd().split('\n')
    expect(first).toBe(`[PASS] ${udp.port}/tcp: available`)
    expect(note).toContain(`       note: UDP port ${udp.port} is held by ${holderText()}`)
    const json = parseJson<{ ports: { free: boolean; other_protocol: OtherProtocol | null }[] }>(
      await run(['check', String(udp.port), '--json']),
    )
    expect(json.ports[0]!.free).toBe(true)
    expect(json.ports[0]!.other_protocol?.holders.map((s) => s.processes[0]?.pid)).toEqual([
      fixture.pid,
      fixture.pid,
    ])
  })

  it('the reverse: who/check PORT/udp with the port held over TCP name the TCP holder', async () => {
    const who = await run(['who', `${tcp.port}/udp`])
    expect(who.stdout).toContain(`  note: TCP port ${tcp.port} is held by ${holderText()}`)
    expect(who.stdout).toContain(`on 127.0.0.1:${tcp.port}.`)
    const check = await run(['check', `${tcp.port}/udp`])
    expect(check.code).toBe(0)
    expect(check.stdout).toContain(`note: TCP port ${tcp.port} is held by ${holderText()}`)
  })

  it('no note when the port asked about is itself held, or nothing holds either protocol', async () => {
    const held = parseJson<{ ports: { free: boolean; other_protocol: unknown }[] }>(
      await run(['check', `${udp.port}/udp`, '--json']),
    )
    expect(held.ports[0]).toMatchObject({ free: false, other_protocol: null })
    const who = await run(['who', `${udp.port}/udp`])
    expect(who.stdout).not.toContain('note:')
  })
})

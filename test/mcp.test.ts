/**
 * `portwarden mcp` driven by the MCP SDK's own Client over stdio, as a coding agent's client
 * drives it: the built CLI (`node dist/bin/portwarden.cjs mcp`) is spawned by
 * StdioClientTransport. Every tool is called against real sockets (python3 holders, sockets of
 * this process), real processes and a temporary registry, and its structured content is compared
 * with the CLI's `--json` for the same question (the same document, made once in the core). The
 * Client checks every reply against the tool's declared outputSchema. free_port signals nothing
 * without `confirm`, and stops a real holder with it; 1,000 random calls (fast-check) never crash
 * the server, and signal nothing but the holders this test started.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js'
import fc from 'fast-check'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, rmSync } from 'node:fs'
import type { Server } from 'node:net'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { CLI, cliEnv, parseJson, runCli, runCliAt } from './helpers/cli.js'
import type { PortHolder } from './helpers/hold-port.js'
import { startPortHolder } from './helpers/hold-port.js'
import { git, holdStale, isAlive, makeWorktrees, stopStaleHolders } from './helpers/stale-holder.js'
import { ROOT, stopStarted } from './helpers/processes.js'
import { portIsFree } from './helpers/sockets.js'
import { removeTempDirs, tempDir } from './helpers/temp-dirs.js'
import { freePort, startTicks } from './run-helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

const TOOL_NAMES = [
  'list_listeners',
  'who_holds',
  'check_ports',
  'find_free_ports',
  'allocate_port',
  'release_port',
  'registry_status',
  'health_check',
  'free_port',
  'prune',
] as const

interface Connected {
  client: Client
  transport: StdioClientTransport
  stderr: () => string
}

const connections: Connected[] = []

const INITIALIZE = {
  protocolVersion: '2025-06-18',
  capabilities: {},
  clientInfo: { name: 'portwarden-test', version: '1.0.0' },
}

/** Starts `portwarden mcp ARGS` as an agent's client does and connects the SDK Client to it. */
async function connect(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): Promise<Connected> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI, 'mcp', ...args],
    env: cliEnv(options.env) as Record<string, string>,
    cwd: options.cwd ?? ROOT,
    stderr: 'pipe',
  })
  let stderr = ''
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  const client = new Client({ name: 'portwarden-test', version: '1.0.0' })
  await client.connect(transport)
  const connected = { client, transport, stderr: () => stderr }
  connections.push(connected)
  return connected
}

async function call(
  connected: Connected,
  name: string,
  args: Record<string, unknown> = {},
): Promise<CallToolResult> {
  return (await connected.client.callTool({ name, arguments: args })) as CallToolResult
}

/** A successful call's document; fails the test with the sentence when it was a tool error. */
async function answer<T = Record<string, unknown>>(
  connected: Connected,
  name: string,
  args: Record<string, unknown> = {},
): Promise<{ json: T; text: string }> {
  const result = await call(connected, name, args)
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')
  expect(result.isError, `${name} ${JSON.stringify(args)}: ${text}`).toBeFalsy()
  return { json: result.structuredContent as T, text }
}

/** A tool error's document: `{"error": code, "message", ...}`. */
async function toolError(
  connected: Connected,
  name: string,
  args: Record<string, unknown>,
): Promise<{ error: string; message: string; text: string }> {
  const result = await call(connected, name, args)
  expect(result.isError, JSON.stringify(result)).toBe(true)
  const text = result.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n')
  return { ...(result.structuredContent as { error: string; message: string }), text }
}

/** A TCP port this test process itself holds (the server's parent: free_port must refuse it). */
async function holdHere(): Promise<{ server: Server; port: number }> {
  const port = await freePort()
  const server = createServer()
  await new Promise<void>((resolve) => server.listen({ port, host: '127.0.0.1' }, resolve))
  return { server, port }
}

let dir: string
let registry: string
let mcp: Connected

beforeAll(async () => {
  dir = tempDir('pw-mcp-')
  registry = join(dir, 'registry.db')
  mcp = await connect(['--registry', registry])
})

afterAll(async () => {
  for (const connected of connections.splice(0)) await connected.client.close()
  await stopStarted()
  removeTempDirs()
})

describe('portwarden mcp: the tools', () => {
  it('lists every tool with its argument and output schemas; free_port says it is a dry run unless confirmed', async () => {
    const { tools } = await mcp.client.listTools()
    expect(tools.map((t) => t.name)).toEqual([...TOOL_NAMES])
    for (const tool of tools) {
      expect(tool.description?.length).toBeGreaterThan(40)
      expect(tool.inputSchema.type).toBe('object')
      expect(tool.outputSchema?.type).toBe('object')
      expect(tool.annotations?.readOnlyHint).toBeTypeOf('boolean')
    }
    const free = tools.find((t) => t.name === 'free_port')!
    expect(free.description).toMatch(/DRY RUN/)
    expect(free.description).toMatch(/"confirm": true/)
    expect(free.description).toMatch(/never pid 1, this server, its parent/)
    expect(free.annotations?.destructiveHint).toBe(true)
    expect(free.inputSchema.properties).toHaveProperty('confirm')
  })

  it('list_listeners, who_holds and check_ports answer the CLI --json documents for a real holder', async () => {
    const holder = await startPortHolder(dir)
    const idle = await freePort()
    const port = String(holder.port)

    const listed = await answer<{
      sockets: { local_port: number; processes: { pid: number }[] }[]
    }>(mcp, 'list_listeners', { ports: [holder.port], protocol: 'tcp' })
    expect(listed.json.sockets.length).toBeGreaterThan(0)
    expect(listed.json.sockets.every((s) => s.local_port === holder.port)).toBe(true)
    expect(listed.json.sockets[0]?.processes.map((p) => p.pid)).toContain(holder.pid)
    expect(listed.text).toMatch(/^\d+ sockets? \(\d+ TCP, 0 UDP\), held by 1 process\.$/)
    const cliList = parseJson(await runCli(['list', '--json', '--tcp', '--port', port]))
    expect(listed.json.sockets).toEqual(cliList)

    const who = await answer<{ ports: { in_use: boolean; message: string }[] }>(mcp, 'who_holds', {
      ports: [holder.port, `${idle}/tcp`],
    })
    expect(who.json.ports.map((p) => p.in_use)).toEqual([true, false])
    expect(who.text).toContain(`TCP port ${holder.port} is already in use by`)
    expect(who.text).toContain(`pid ${holder.pid}`)
    expect(who.text).toContain(`nothing holds TCP port ${idle}`)
    expect(who.json).toEqual(parseJson(await runCli(['who', '--json', port, `${idle}/tcp`])))

    const checked = await answer<{ ports: { free: boolean; reason: string | null }[] }>(
      mcp,
      'check_ports',
      { ports: [port, idle] },
    )
    expect(checked.json.ports.map((p) => [p.free, p.reason])).toEqual([
      [false, 'in_use'],
      [true, null],
    ])
    expect(checked.text).toContain(`TCP port ${idle} is available`)
    expect(checked.json).toEqual(parseJson(await runCli(['check', '--json', port, String(idle)])))
  })

  it('find_free_ports: free ports (a bind test of our own agrees), the CLI document', async () => {
    const { json, text } = await answer<{ protocol: string; ports: number[] }>(
      mcp,
      'find_free_ports',
      { count: 3, range: '30000-32599', protocol: 'udp' },
    )
    expect(json.protocol).toBe('udp')
    expect(json.ports).toHaveLength(3)
    expect([...json.ports].sort((a, b) => a - b)).toEqual(json.ports)
    for (const port of json.ports) expect(await portIsFree(port)).toBe(true)
    expect(text).toBe(`Free UDP ports: ${json.ports[0]}, ${json.ports[1]} and ${json.ports[2]}.`)
  })

  it('allocate_port, health_check, registry_status (with conflicts) and release_port share the registry with the CLI', async () => {
    const holder = await startPortHolder(dir)
    const first = await answer<{ port: number; created: boolean; project: string }>(
      mcp,
      'allocate_port',
      { service: 'web', project: 'mcp-shop', health: { kind: 'tcp' } },
    )
    expect(first.json.created).toBe(true)
    expect(first.text).toBe(`Allocated TCP port ${first.json.port} to web of project mcp-shop.`)
    const again = await answer<{ port: number; created: boolean }>(mcp, 'allocate_port', {
      service: 'web',
      project: 'mcp-shop',
    })
    expect(again.json).toMatchObject({ port: first.json.port, created: false })
    // A name may end the way a sentence does; the sentence still ends with its own full stop.
    const loud = await answer<{ port: number }>(mcp, 'allocate_port', {
      service: 'web',
      project: 'mcp-shop!',
    })
    expect(loud.text).toBe(`Allocated TCP port ${loud.json.port} to web of project mcp-shop!.`)
    // A running service adopted: the port its process holds, recorded with its pid.
    await answer(mcp, 'allocate_port', {
      service: 'db',
      project: 'mcp-shop',
      port: holder.port,
      pid: holder.pid,
    })

    const health = await answer<{ allocations: { service: string; health_status: string }[] }>(
      mcp,
      'health_check',
      { project: 'mcp-shop' },
    )
    const byService = Object.fromEntries(
      health.json.allocations.map((a) => [a.service, a.health_status]),
    )
    expect(byService).toEqual({ db: 'healthy', web: 'not_running' })
    expect(health.text).toMatch(/: (1 healthy and 1 not running|1 not running and 1 healthy)\.$/)

    // A port allocated from another worktree, then taken by a process outside it (the holders
    // run in the project root): a system conflict.
    const elsewhere = join(dir, 'elsewhere')
    mkdirSync(elsewhere)
    const there = await connect(['--registry', registry], { cwd: elsewhere })
    const cache = await answer<{ port: number }>(there, 'allocate_port', {
      service: 'cache',
      project: 'mcp-shop',
    })
    const squatter = await startPortHolder(dir, ['--port', String(cache.json.port)])
    const status = await answer<{
      registry: string
      allocations: { service: string }[]
      conflicts: { kind: string; port: number; verified: boolean }[]
    }>(mcp, 'registry_status', { project: 'mcp-shop' })
    expect(status.json.registry).toBe(registry)
    expect(status.json.allocations.map((a) => a.service).sort()).toEqual(['cache', 'db', 'web'])
    expect(status.json.conflicts.map((c) => [c.kind, c.port, c.verified])).toEqual([
      ['system_conflict', squatter.port, true],
      ['allocation_mismatch', first.json.port, true], // web: nothing listens
    ])
    expect(status.text).toContain(
      `3 allocations in ${registry}; 2 conflicts (1 system conflict and 1 allocation mismatch)`,
    )
    expect(status.json).toEqual(
      parseJson(
        await runCli([
          'status',
          '--json',
          '--check-conflicts',
          '--project',
          'mcp-shop',
          '--registry',
          registry,
        ]),
      ),
    )

    const released = await answer<{ released: { service: string }[] }>(mcp, 'release_port', {
      service: 'web',
      project: 'mcp-shop',
    })
    expect(released.json.released.map((a) => a.service)).toEqual(['web'])
    expect(released.text).toBe(`Released TCP port ${first.json.port} (web of project mcp-shop).`)
    const byPort = await answer<{ released: { service: string }[] }>(mcp, 'release_port', {
      port: `${cache.json.port}/tcp`,
    })
    expect(byPort.json.released.map((a) => a.service)).toEqual(['cache'])
    const none = await toolError(mcp, 'release_port', { service: 'web', project: 'mcp-shop' })
    expect(none.error).toBe('not_found')
    expect(none.message).toMatch(/^Nothing to release: no allocation for web of project mcp-shop/)
    const cli = parseJson<{ allocations: { service: string }[] }>(
      await runCli(['status', '--json', '--project', 'mcp-shop', '--registry', registry]),
    )
    expect(cli.allocations.map((a) => a.service)).toEqual(['db'])
  })

  it('release_port with gone: true releases the allocations of a worktree that was removed', async () => {
    const worktree = join(dir, 'review-GH-42')
    mkdirSync(worktree)
    const other = await connect(['--registry', registry], { cwd: worktree })
    const made = await answer<{ worktree: string; project: string }>(other, 'allocate_port', {
      service: 'web',
    })
    expect(made.json).toMatchObject({ worktree, project: 'review-GH-42' })
    await other.client.close()
    connections.splice(connections.indexOf(other), 1)
    rmSync(worktree, { recursive: true })
    const status = await answer<{ allocations: { project: string; worktree_gone: boolean }[] }>(
      mcp,
      'registry_status',
      { project: 'review-GH-42' },
    )
    expect(status.json.allocations.map((a) => a.worktree_gone)).toEqual([true])
    const { json } = await answer<{ released: { project: string }[] }>(mcp, 'release_port', {
      gone: true,
    })
    expect(json.released.map((a) => a.project)).toEqual(['review-GH-42'])
    const again = await answer(mcp, 'release_port', { gone: true })
    expect(again.text).toMatch(/^Nothing to release/)
  })

  it('the registry location: --registry, else PORTWARDEN_REGISTRY, else $XDG_STATE_HOME (reading creates nothing)', async () => {
    const fromEnv = join(dir, 'env-registry.db')
    const state = join(dir, 'state')
    const viaEnv = await connect([], { env: { PORTWARDEN_REGISTRY: fromEnv } })
    const viaXdg = await connect([], {
      env: { PORTWARDEN_REGISTRY: undefined, XDG_STATE_HOME: state },
    })
    const xdgPath = join(state, 'portwarden', 'registry.db')
    expect((await answer(viaEnv, 'registry_status')).json.registry).toBe(fromEnv)
    expect((await answer(viaXdg, 'registry_status')).json.registry).toBe(xdgPath)
    expect(existsSync(fromEnv) || existsSync(xdgPath)).toBe(false)
    await answer(viaXdg, 'allocate_port', { service: 'web', project: 'xdg' })
    expect(existsSync(xdgPath)).toBe(true)
    const cli = parseJson<{ allocations: { project: string }[] }>(
      await runCliAt(dir, ['status', '--json'], {
        env: cliEnv({ PORTWARDEN_REGISTRY: undefined, XDG_STATE_HOME: state }),
      }),
    )
    expect(cli.allocations.map((a) => a.project)).toEqual(['xdg'])
  })
})

describe('portwarden mcp: free_port', () => {
  it('without confirm signals nothing; with confirm: true it stops the real holder (SIGTERM)', async () => {
    const holder = await startPortHolder(dir)
    const dry = await answer<{ dry_run: boolean; targets: { pid: number; action: string }[] }>(
      mcp,
      'free_port',
      { ports: [holder.port] },
    )
    expect(dry.json.dry_run).toBe(true)
    expect(dry.json.targets.map((t) => [t.pid, t.action])).toEqual([[holder.pid, 'signal']])
    expect(dry.text).toMatch(/^Dry run \(nothing was signalled\): SIGTERM would go to /)
    expect(dry.text).toContain('"confirm": true')
    // Confirm must be the boolean true: anything else is a dry run or a schema error.
    await answer(mcp, 'free_port', { ports: [holder.port], confirm: false })
    expect(
      (await toolError(mcp, 'free_port', { ports: [holder.port], confirm: 'yes' })).error,
    ).toBe('invalid_request')
    expect(holder.alive()).toBe(true)
    expect(holder.signals()).toEqual([])

    const done = await answer<{
      dry_run: boolean
      outcome: string
      targets: { outcome: string }[]
    }>(mcp, 'free_port', { ports: [holder.port], confirm: true })
    expect(done.json).toMatchObject({ dry_run: false, outcome: 'freed' })
    expect(done.json.targets.map((t) => t.outcome)).toEqual(['exited'])
    expect(done.text).toMatch(
      new RegExp(`^TCP port ${holder.port} is free: .*exited after SIGTERM\\.$`),
    )
    await holder.process.exited
    expect(holder.signals()).toEqual(['SIGTERM'])
  })

  it('with confirm: true never signals its own parent (this test process holding the port)', async () => {
    const { server, port } = await holdHere()
    try {
      const { json } = await answer<{
        outcome: string
        targets: { pid: number; refusal: { code: string } | null }[]
      }>(mcp, 'free_port', { ports: [port], confirm: true, wait: '100ms' })
      expect(json.outcome).toBe('not_freed')
      expect(json.targets.map((t) => [t.pid, t.refusal?.code])).toEqual([[process.pid, 'ancestor']])
      expect(server.listening).toBe(true)
    } finally {
      server.close()
    }
  })
})

describe('portwarden mcp: prune', () => {
  afterEach(stopStaleHolders)

  it("without confirm stops nothing; with confirm: true it stops the project's stale orphan", async () => {
    const { main, dirs } = makeWorktrees(dir, 'agent-wt')
    const worktree = dirs[0] as string
    const alloc = await runCliAt(worktree, ['alloc', 'api', '--registry', registry, '--json'])
    expect(alloc.code, alloc.stderr).toBe(0)
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const holder = await holdStale(['--orphan', '--port', String(port)], { cwd: worktree })
    git(main, 'worktree', 'remove', '--force', worktree)
    const project = worktree.split('/').pop() as string

    const dry = await answer<{
      dry_run: boolean
      candidates: { pid: number; decision: string; verdict: string }[]
    }>(mcp, 'prune', { project })
    expect(dry.json.dry_run).toBe(true)
    expect(dry.json.candidates).toEqual([
      expect.objectContaining({ pid: holder.pid, decision: 'stop', verdict: 'stale' }),
    ])
    expect(dry.text).toMatch(/^Dry run \(nothing was signalled or released\): prune /)
    expect(dry.text).toContain('"confirm": true')
    expect(isAlive(holder.pid)).toBe(true)

    const done = await answer<{ dry_run: boolean; outcome: string }>(mcp, 'prune', {
      project,
      confirm: true,
    })
    expect(done.json).toMatchObject({ dry_run: false, outcome: 'pruned' })
    expect(done.text).toContain(`TCP port ${port} is free`)
    expect(isAlive(holder.pid)).toBe(false)
    // The CLI's document for the same question, now that nothing is stale.
    const cli = await runCliAt(dir, [
      'prune',
      '--project',
      project,
      '--dry-run',
      '--json',
      '--registry',
      registry,
    ])
    expect(parseJson<{ outcome: string }>(cli).outcome).toBe('nothing_to_prune')
  })
})

describe('portwarden mcp: bad arguments are tool errors', () => {
  it.each([
    ['who_holds', {}, /ports/],
    ['who_holds', { ports: [] }, /at least one port/],
    ['who_holds', { ports: [0] }, /port 0 is outside 1-65535/],
    ['check_ports', { ports: ['8080.5'] }, /8080\.5/],
    ['check_ports', { ports: [8080], colour: 'red' }, /colour/],
    ['find_free_ports', { count: 0 }, /count/],
    ['find_free_ports', { range: '9000-8000' }, /inverted/],
    ['allocate_port', { service: '' }, /service/],
    ['allocate_port', { service: 'web', port: 70000 }, /70000/],
    ['allocate_port', { service: 'web', health: { kind: 'http', path: 'x' } }, /health/],
    ['release_port', {}, /Name what to release/],
    ['release_port', { service: 'web', port: 8080 }, /not both/],
    ['release_port', { gone: true, service: 'web' }, /takes no/],
    ['free_port', { ports: [8080], signal: 'STOP' }, /signal/],
    ['free_port', { ports: [8080], wait: '61m' }, /longer than 1h/],
    ['prune', { signal: 'STOP' }, /signal/],
    ['prune', { project: '' }, /project/],
    ['no_such_tool', {}, /There is no tool "no_such_tool"/],
  ])('%s %j: invalid_request with the sentence', async (name, args, says) => {
    const { error, message, text } = await toolError(mcp, name, args)
    expect(error).toBe('invalid_request')
    expect(message).toMatch(says)
    expect(text.startsWith(message)).toBe(true)
  })

  it('arguments that are not an object: a protocol error, and the server goes on', async () => {
    await expect(
      mcp.client.request(
        { method: 'tools/call', params: { name: 'who_holds', arguments: [8080] } },
        CallToolResultSchema,
      ),
    ).rejects.toThrow(/Invalid/)
    expect((await mcp.client.listTools()).tools).toHaveLength(TOOL_NAMES.length)
  })
})

describe('portwarden mcp: the session', () => {
  it('answers the calls sent before stdin closes, skips a line that is not JSON-RPC, then exits 0', async () => {
    const lines = [
      { jsonrpc: '2.0', id: 1, method: 'initialize', params: INITIALIZE },
      'not json',
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/call',
        params: { name: 'who_holds', arguments: { ports: [1] } },
      },
      {
        jsonrpc: '2.0',
        id: 3,
        method: 'tools/call',
        params: { name: 'who_holds', arguments: { ports: 'x' } },
      },
    ].map((line) => (typeof line === 'string' ? line : JSON.stringify(line)))
    const child = spawn(process.execPath, [CLI, 'mcp', '--registry', registry], {
      cwd: ROOT,
      env: cliEnv(),
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.stdin.end(`${lines.join('\n')}\n`)
    const code = await new Promise((resolve) => child.once('close', resolve))
    expect(code).toBe(0)
    // Calls run concurrently: their answers come as they are ready.
    const replies = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { id: number; result: CallToolResult })
      .sort((x, y) => x.id - y.id)
    expect(replies.map((r) => r.id)).toEqual([1, 2, 3])
    expect(replies[1]?.result.content).toEqual([
      { type: 'text', text: 'Nothing holds TCP port 1.' },
    ])
    expect(replies[2]?.result.isError).toBe(true)
    expect(stderr).toMatch(/^portwarden mcp: /m)
    expect(stderr).not.toMatch(/^\s+at /m)
  })
})

describe('portwarden mcp: 1,000 random calls', () => {
  it('never crash the server; every reply is a result or a tool error; only our holders are ever signalled', async () => {
    const fuzzDir = tempDir('pw-mcp-fuzz-')
    const fuzz = await connect(['--registry', join(fuzzDir, 'registry.db')], { cwd: fuzzDir })
    // Holders that survive every catchable signal: only SIGKILL (signal KILL, kill_after) stops one.
    const holders: PortHolder[] = []
    // How a confirmed free_port may name a holder of ours: a port without a protocol is TCP, so
    // the UDP holder's port only with /udp.
    const namesOf = (h: PortHolder): (number | string)[] =>
      h.process.child.spawnargs.includes('--udp')
        ? [`${h.port}/udp`]
        : [h.port, String(h.port), `${h.port}/tcp`]
    for (const args of [['--ignore-term'], ['--ignore-term'], ['--ignore-term', '--udp']])
      holders.push(await startPortHolder(fuzzDir, args))
    const idle = [await freePort(), await freePort()]
    const mine = await holdHere()
    const ownPorts = holders.map((h) => h.port)
    const targeted = new Set<number>()
    const received: string[] = []
    const onSignal = (name: string) => () => received.push(name)
    const watched = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'] as const
    const listeners = watched.map((name) => [name, onSignal(name)] as const)
    for (const [name, listener] of listeners) process.on(name, listener)

    const port = fc.oneof(
      fc.constantFrom(...ownPorts, ...idle, mine.port),
      fc.constantFrom(0, -1, 65536, 1e9, 8080.5, Number.MAX_SAFE_INTEGER),
    )
    const spec = fc.oneof(
      port,
      port.map((p) => `${p}/udp`),
      port.map((p) => `${p}/tcp`),
      fc.tuple(port, fc.integer({ min: 0, max: 20 })).map(([p, n]) => `${p}-${p + n}`),
      fc.constantFrom('abc', '', '8080/sctp', '0x50', ' 80', '80-', '-1', '١٢٣'),
      fc.string({ maxLength: 12 }),
    )
    const value = fc.oneof(
      spec,
      fc.array(spec, { maxLength: 4 }),
      fc.boolean(),
      fc.constant(null),
      fc.string({ maxLength: 20 }),
      fc.constantFrom('TERM', 'KILL', 'SIGUSR1', '5s', '0ms', '1h', 'tcp', 'udp', 'ipv4', 'web'),
      fc.integer(),
      fc.double(),
      fc.object({ maxDepth: 1, maxKeys: 3 }),
    )
    const fieldNames = fc.constantFrom(
      'ports',
      'port',
      'confirm',
      'signal',
      'wait',
      'kill_after',
      'protocol',
      'family',
      'pid',
      'process',
      'all',
      'host',
      'range',
      'count',
      'service',
      'project',
      'health',
      'gone',
      '__proto__',
      'constructor',
      'extra',
    )
    // Per tool: arguments of the right shape (the answers), then the same with one field
    // replaced by anything, then random objects (mostly schema errors).
    const goodSpec = fc.oneof(
      fc.constantFrom(...ownPorts, ...idle, mine.port),
      fc.constantFrom(...ownPorts, ...idle).map((p) => `${p}/udp`),
      fc.constantFrom(...ownPorts, ...idle).map((p) => `${p}/tcp`),
    )
    const goodPorts = fc.array(goodSpec, { minLength: 1, maxLength: 3 })
    const ownSpec = fc.constantFrom(...holders.flatMap(namesOf))
    const optional = { requiredKeys: [] as never[] }
    const shaped: Record<(typeof TOOL_NAMES)[number], fc.Arbitrary<Record<string, unknown>>> = {
      list_listeners: fc.record(
        { ports: goodPorts, protocol: fc.constantFrom('tcp', 'udp'), all: fc.boolean() },
        optional,
      ),
      who_holds: fc.record({ ports: goodPorts }),
      check_ports: fc.record(
        { ports: goodPorts, host: fc.constantFrom('127.0.0.1', '::1', 'localhost') },
        { requiredKeys: ['ports'] },
      ),
      find_free_ports: fc.record(
        {
          count: fc.integer({ min: 1, max: 5 }),
          protocol: fc.constantFrom('tcp', 'udp'),
          range: fc.constantFrom('30000-30200', '20000-20050'),
        },
        optional,
      ),
      allocate_port: fc.record(
        {
          service: fc.constantFrom('web', 'db', 'api'),
          project: fc.constantFrom('fuzz', 'fuzz-b'),
          port: fc.constantFrom(...idle),
          protocol: fc.constantFrom('tcp', 'udp'),
        },
        { requiredKeys: ['service'] },
      ),
      release_port: fc.oneof(
        fc.record({ service: fc.constantFrom('web', 'db'), project: fc.constant('fuzz') }),
        fc.record({ port: goodSpec }),
        fc.constant({ gone: true }),
      ),
      registry_status: fc.record({ project: fc.constantFrom('fuzz', 'fuzz-b') }, optional),
      health_check: fc.record({ project: fc.constantFrom('fuzz', 'fuzz-b') }, optional),
      // The fuzz server runs in a directory that is no project's: prune has no holder it may stop.
      prune: fc.record(
        {
          project: fc.constantFrom('fuzz', 'fuzz-b'),
          release_gone: fc.boolean(),
          confirm: fc.boolean(),
          wait: fc.constant('100ms'),
        },
        optional,
      ),
      free_port: fc.record(
        {
          ports: fc.oneof(goodPorts, fc.array(ownSpec, { minLength: 1, maxLength: 2 })),
          confirm: fc.boolean(),
          signal: fc.oneof(
            { weight: 8, arbitrary: fc.constantFrom('TERM', 'INT', 'USR1', 'SIGHUP', 'QUIT') },
            { weight: 1, arbitrary: fc.constant('KILL') },
          ),
        },
        { requiredKeys: ['ports'] },
      ),
    }
    const mutated = (a: Record<string, unknown>) =>
      fc.tuple(fieldNames, value).map(([key, v]) => ({ ...a, [key]: v }))
    const randomArgs = fc.oneof(
      fc.dictionary(fieldNames, value, { maxKeys: 5 }),
      fc.record({ ports: fc.array(spec, { minLength: 1, maxLength: 3 }) }),
      fc.dictionary(fc.string({ maxLength: 8 }), value, { maxKeys: 3 }),
    )
    const knownCall = fc
      .constantFrom(...TOOL_NAMES)
      .chain((tool) =>
        fc.tuple(
          fc.constant<string>(tool),
          fc.oneof(
            { weight: 5, arbitrary: shaped[tool] },
            { weight: 3, arbitrary: shaped[tool].chain(mutated) },
            { weight: 2, arbitrary: randomArgs },
          ),
        ),
      )
    const toolCall = fc.oneof(
      { weight: 20, arbitrary: knownCall },
      { weight: 1, arbitrary: fc.tuple(fc.string({ maxLength: 16 }), randomArgs) },
    )

    /** A confirmed free_port may name only live holders of ours, waiting briefly. */
    const safeToConfirm = (a: Record<string, unknown>): boolean => {
      const ports = a.ports
      if (!Array.isArray(ports) || ports.length === 0) return false
      const names = holders.filter((h) => startTicks(h.pid) !== null).flatMap(namesOf)
      return ports.every((p) => names.includes(p as never))
    }

    let calls = 0
    let toolErrors = 0
    let confirmed = 0
    await fc.assert(
      fc.asyncProperty(toolCall, fc.boolean(), async ([tool, raw], confirm) => {
        const a: Record<string, unknown> = { ...raw }
        if (tool === 'free_port' && (a.confirm === true || confirm)) {
          if (safeToConfirm(a)) {
            a.confirm = true
            confirmed++
            a.wait = '100ms'
            if ('kill_after' in a) a.kill_after = '50ms'
            for (const p of a.ports as unknown[]) targeted.add(Number(String(p).split('/')[0]))
          } else delete a.confirm
        }
        calls++
        const result = (await fuzz.client.callTool({ name: tool, arguments: a })) as CallToolResult
        expect(Array.isArray(result.content)).toBe(true)
        if (result.isError) {
          toolErrors++
          expect(result.structuredContent).toMatchObject({ error: expect.any(String) })
          expect((result.structuredContent as { error: string }).error).not.toBe('internal_error')
        } else {
          expect(result.structuredContent).toBeTypeOf('object')
          expect(result.content[0]).toMatchObject({
            type: 'text',
            text: expect.stringMatching(/\.$/),
          })
        }
      }),
      { numRuns: 1000, endOnFailure: true },
    )
    for (const [name, listener] of listeners) process.off(name, listener)
    mine.server.close()

    console.log(
      `mcp fuzz: ${calls} calls, ${toolErrors} tool errors, ${confirmed} confirmed free_port`,
    )
    expect(calls).toBe(1000)
    expect(toolErrors).toBeGreaterThan(100)
    expect(toolErrors).toBeLessThan(800)
    // Still serving, the same process.
    expect((await fuzz.client.listTools()).tools).toHaveLength(TOOL_NAMES.length)
    expect(startTicks(fuzz.transport.pid!)).not.toBeNull()
    expect(fuzz.stderr()).not.toMatch(/^\s+at /m)
    // No signal reached this process (the server's parent), nor a holder no call confirmed.
    expect(received).toEqual([])
    for (const holder of holders)
      if (!targeted.has(holder.port)) expect(holder.signals(), `${holder.port}`).toEqual([])
    // And the confirmed calls did reach the holders they named.
    expect(confirmed).toBeGreaterThan(0)
    expect(holders.some((h) => h.signals().length > 0 || !h.alive())).toBe(true)
  })
})

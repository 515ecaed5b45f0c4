/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers, checked field by field */
/**
 * Issue 6, `portwarden serve`: every route of SPEC.md's HTTP API and every error status, against
 * a real server on a random loopback port, with real processes holding real ports. Free through
 * the API end to end; the event stream sees a socket this test opens; H9 headers; H10 metrics.
 */
import { createSocket } from 'node:dgram'
import { randomBytes } from 'node:crypto'
import { realpathSync, writeFileSync } from 'node:fs'
import type { IncomingHttpHeaders } from 'node:http'
import { get as httpGet } from 'node:http'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPortHolder } from './helpers/hold-port.js'
import { git, holdStale, isAlive, makeWorktrees, stopStaleHolders } from './helpers/stale-holder.js'
import { runCliAt } from './helpers/cli.js'
import { ROOT, stopStarted } from './helpers/processes.js'
import type { Serve } from './helpers/serve.js'
import {
  httpRequest,
  rawRequest,
  readEventStream,
  removeServeDirs,
  serveTempDir,
  startServe,
  stopServe,
} from './helpers/serve.js'
import type { WireSocket } from './helpers/sockets.js'
import { portIsFree } from './helpers/sockets.js'

let serve: Serve
let dir: string

beforeAll(async () => {
  dir = serveTempDir()
  serve = await startServe({ dir })
})
afterAll(async () => {
  // The server first, by SIGTERM (it must exit 0 by itself); then the port holders.
  if (serve) expect(await stopServe(serve)).toBe(0)
  await stopStarted()
  removeServeDirs()
})

async function holder(args: string[] = []) {
  return startPortHolder(dir, args)
}

function expectErrorShape(answer: { status: number; json: any }, status: number, code: string) {
  expect(answer.status, JSON.stringify(answer.json)).toBe(status)
  expect(answer.json).toMatchObject({ error: code })
  expect(typeof answer.json.message).toBe('string')
  expect(answer.json.message.length).toBeGreaterThan(10)
  expect(typeof answer.json.details).toBe('object')
}

describe('inventory routes', () => {
  it('GET /api/system/ports lists a listener this test opened, with its holder, and the server itself', async () => {
    const held = await holder()
    const answer = await serve.request('/api/system/ports', { auth: false })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toMatch(/^application\/json/)
    const socket = answer.json.listening.find((s: any) => s.local_port === held.port)
    expect(socket).toMatchObject({ protocol: 'tcp', state: 'LISTEN', local_address: '127.0.0.1' })
    expect(socket.processes.map((p: any) => p.pid)).toContain(held.pid)
    expect(answer.json.server).toEqual({ port: serve.port, pid: serve.pid })
    expect(Array.isArray(answer.json.managed)).toBe(true)
    expect(Array.isArray(answer.json.conflicts)).toBe(true)
  })

  it('GET /api/sockets filters by protocol, port and state; bad filters are 400', async () => {
    const held = await holder()
    const ok = await serve.request(`/api/sockets?protocol=tcp&port=${held.port}`, { auth: false })
    expect(ok.status).toBe(200)
    expect(ok.json).toHaveLength(1)
    expect(ok.json[0]).toMatchObject({ local_port: held.port, processes: [{ pid: held.pid }] })
    const listen = await serve.request(`/api/sockets?state=LISTEN&port=${held.port}`, {
      auth: false,
    })
    expect(listen.json.map((s: any) => s.state)).toEqual(['LISTEN'])
    const empty = await serve.request(`/api/sockets?state=&protocol=&port=${held.port}`, {
      auth: false,
    })
    expect(empty.json.map((s: any) => s.local_port)).toEqual([held.port])
    const udp = await serve.request(`/api/sockets?protocol=udp&port=${held.port}`, { auth: false })
    expect(udp.json).toEqual([])
    // as list --port: no protocol matches both; a UDP socket on a port is found without protocol=
    const dgram = createSocket('udp4')
    await new Promise<void>((resolve) => dgram.bind(0, '127.0.0.1', resolve))
    try {
      const udpPort = dgram.address().port
      const either = await serve.request(`/api/sockets?port=${udpPort}`, { auth: false })
      expect(either.json.map((s: any) => [s.protocol, s.local_port])).toEqual([['udp', udpPort]])
      const clash = await serve.request(`/api/sockets?protocol=tcp&port=${udpPort}/udp`, {
        auth: false,
      })
      expectErrorShape(clash, 400, 'invalid_request')
      expect(clash.json.message).toBe(
        `port=${udpPort}/udp names UDP, but protocol=tcp asks for TCP sockets only.`,
      )
    } finally {
      dgram.close()
    }
    for (const query of [
      'port=0x1F90',
      'port=65536',
      'protocol=sctp',
      'state=listening',
      'colour=red',
    ]) {
      expectErrorShape(
        await serve.request(`/api/sockets?${query}`, { auth: false }),
        400,
        'invalid_request',
      )
    }
  })

  it('GET /api/ports/{port} is the check answer: in use by the holder, or free', async () => {
    const held = await holder()
    const busy = await serve.request(`/api/ports/${held.port}`, { auth: false })
    expect(busy.status).toBe(200)
    expect(busy.json).toMatchObject({
      port: held.port,
      protocol: 'tcp',
      free: false,
      reason: 'in_use',
    })
    expect(busy.json.message).toContain(`pid ${held.pid}`)
    const udp = await serve.request(`/api/ports/${held.port}?protocol=udp`, { auth: false })
    expect(udp.json).toMatchObject({ protocol: 'udp', free: true })
    // ... and names the TCP holder of the same port number (issue 10 item 12).
    expect(udp.json.other_protocol).toMatchObject({ protocol: 'tcp' })
    expect(udp.json.other_protocol.message).toMatch(
      new RegExp(`^TCP port ${held.port} is held by .*pid ${held.pid}\\b`),
    )
    expect(busy.json.other_protocol).toBeNull()
    for (const bad of ['0', '65536', 'abc', '8e3', '08080', '+8080', '8000-8010']) {
      expectErrorShape(
        await serve.request(`/api/ports/${bad}`, { auth: false }),
        400,
        'invalid_request',
      )
    }
    expectErrorShape(
      await serve.request(`/api/ports/8080?protocol=TCP6`, { auth: false }),
      400,
      'invalid_request',
    )
  })
})

describe('registry routes', () => {
  it('POST /api/allocations: 201 created, 200 again (idempotent), listed, then DELETE 200 and 404', async () => {
    const created = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'web' },
    })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({
      project: 'shop',
      service: 'web',
      protocol: 'tcp',
      created: true,
    })
    const again = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'web' },
    })
    expect(again.status).toBe(200)
    expect(again.json).toMatchObject({ port: created.json.port, created: false })
    const listed = await serve.request('/api/allocations', { auth: false })
    expect(listed.json.registry).toBe(serve.registry)
    expect(listed.json.allocations.map((a: any) => a.id)).toContain(created.json.id)
    const port = await serve.request(`/api/ports/${created.json.port}`, { auth: false })
    expect(port.json).toMatchObject({ free: true, allocation: { id: created.json.id } })
    const system = await serve.request('/api/system/ports', { auth: false })
    expect(system.json.managed.find((a: any) => a.id === created.json.id)).toMatchObject({
      holders: [],
    })
    const removed = await serve.request(`/api/allocations/${created.json.id}`, { method: 'DELETE' })
    expect(removed.status).toBe(200)
    expect(removed.json.released[0]).toMatchObject({ id: created.json.id })
    expectErrorShape(
      await serve.request(`/api/allocations/${created.json.id}`, { method: 'DELETE' }),
      404,
      'not_found',
    )
    expectErrorShape(
      await serve.request(`/api/allocations/abc`, { method: 'DELETE' }),
      400,
      'invalid_request',
    )
    expectErrorShape(
      await serve.request(`/api/allocations/0`, { method: 'DELETE' }),
      400,
      'invalid_request',
    )
  })

  it('POST /api/allocations on a port a process holds: 409 port_in_use naming it', async () => {
    const held = await holder()
    const answer = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'taken', port: held.port },
    })
    expectErrorShape(answer, 409, 'port_in_use')
    expect(answer.json.details).toEqual({
      port: held.port,
      protocol: 'tcp',
      process: held.comm,
      pid: held.pid,
      local_address: `127.0.0.1:${held.port}`,
    })
    expect(answer.json.message).toContain(`pid ${held.pid}`)
    // a hint an HTTP client can act on: no CLI flags or commands
    expect(answer.json.hint).toBe(
      `GET /api/ports/${held.port} names the holder and POST /api/ports/${held.port}/free stops it; or leave out "port" to get a free one.`,
    )
  })

  it('POST /api/allocations on a port allocated to another service: 409 port_allocated', async () => {
    const first = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'billing', service: 'api', range: '24000-24999' },
    })
    expect(first.status).toBe(201)
    const answer = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'api', port: first.json.port },
    })
    expectErrorShape(answer, 409, 'port_allocated')
    expect(answer.json.details).toMatchObject({
      project: 'billing',
      service: 'api',
      port: first.json.port,
    })
    expect(answer.json.hint).toBe(
      `Leave out "port" to get a free one, or release allocation ${first.json.id} first (DELETE /api/allocations/${first.json.id}).`,
    )
    expect(answer.json.hint).not.toMatch(/--|portwarden /)
    await serve.request(`/api/allocations/${first.json.id}`, { method: 'DELETE' })
  })

  it('POST /api/allocations takes "port" as the CLI writes it: "P/udp" allocates UDP port P', async () => {
    const udp = createSocket('udp4')
    await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve))
    const port = udp.address().port
    await new Promise<void>((resolve) => udp.close(() => resolve()))
    const answer = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'vpn', service: 'wireguard', port: `${port}/udp` },
    })
    expect(answer.status, JSON.stringify(answer.json)).toBe(201)
    expect(answer.json).toMatchObject({ port, protocol: 'udp', service: 'wireguard' })
    const disagree = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'vpn', service: 'wg2', port: `${port}/udp`, protocol: 'tcp' },
    })
    expectErrorShape(disagree, 400, 'invalid_request')
    expect(disagree.json.message).toBe(`"port": "${port}/udp" names UDP, but "protocol" is "tcp".`)
    await serve.request(`/api/allocations/${answer.json.id}`, { method: 'DELETE' })
  })

  it('POST /api/allocations with bad bodies: 400 naming the problem; nothing is created', async () => {
    const before = (await serve.request('/api/allocations', { auth: false })).json.allocations
      .length
    const bodies: unknown[] = [
      {},
      { project: 'shop' },
      { project: 'shop', service: 'web', port: '8080/sctp' },
      { project: 'shop', service: 'web', port: '8000-8010' },
      { project: 'shop', service: 'web', port: '51820/udp', protocol: 'tcp' },
      { project: 'shop', service: 'web', port: 0 },
      { project: 'shop', service: 'web', port: 80.5 },
      { project: 'shop', service: 'web', protocol: 'sctp' },
      { project: 'shop', service: 'web', range: '9000-8000' },
      { project: 'shop', service: 'web', extra: 1 },
      { project: '', service: 'web' },
      { project: 'sh\u202eop', service: 'web' },
      { project: 'shop', service: 'web', worktree: 'relative/dir' },
      { project: 'shop', service: 'web', worktree: `${dir}/no-such-dir` },
      { project: 'shop', service: 'web', worktree: `${dir}\u0000x` },
      { project: 'shop', service: 'web', worktree: 42 },
      { project: 'shop', service: 'web', pid: 0 },
      { project: 'shop', service: 'web', pid: -1 },
      { project: 'shop', service: 'web', pid: 1.5 },
      { project: 'shop', service: 'web', pid: '42' },
      { project: 'shop', service: 'web', pid: 4194305 },
      [],
      'shop',
      null,
    ]
    for (const body of bodies) {
      const answer = await serve.request('/api/allocations', { method: 'POST', body })
      expectErrorShape(answer, 400, 'invalid_request')
      const field = ['worktree', 'pid'].find(
        (key) => typeof body === 'object' && body && key in body,
      )
      if (field) expect(answer.json.message).toContain(field)
    }
    for (const rawBody of ['{"project":', '', 'nul', '{"project":"a","service":"b"}x']) {
      const answer = await serve.request('/api/allocations', {
        method: 'POST',
        rawBody,
        headers: { 'content-type': 'application/json' },
      })
      expectErrorShape(answer, 400, 'invalid_request')
    }
    expect(
      (await serve.request('/api/allocations', { auth: false })).json.allocations,
    ).toHaveLength(before)
  })

  it('POST /api/allocations records worktree and pid; a holder it cannot judge is an unverified SYSTEM CONFLICT, never silence', async () => {
    const conflictOn = async (port: number) =>
      (await serve.request('/api/conflicts', { auth: false })).json.conflicts.filter(
        (c: any) => c.port === port,
      )
    // No worktree, no pid (as before): a process on the port is reported, marked unverified.
    const bare = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'review-GH-42', service: 'db', range: '26000-26999' },
    })
    expect(bare.status).toBe(201)
    expect(bare.json).toMatchObject({ pid: null, worktree: null })
    const squatter = await holder(['--port', String(bare.json.port)])
    const [unverified, ...more] = await conflictOn(bare.json.port)
    expect(more).toEqual([])
    expect(unverified).toMatchObject({
      kind: 'system_conflict',
      verified: false,
      port: bare.json.port,
    })
    expect(unverified.holders[0].processes[0]).toMatchObject({ pid: squatter.pid })
    expect(unverified.message).toContain(
      `TCP port ${bare.json.port} is allocated to db of review-GH-42, but ${squatter.comm} (pid ${squatter.pid}`,
    )
    expect(unverified.message).toContain(
      'unverified: the allocation records neither the pid of the service nor its worktree',
    )
    expect(unverified.resolution).toContain(
      `check whether pid ${squatter.pid} is db of review-GH-42`,
    )
    expect(unverified.resolution).toContain(`portwarden free ${bare.json.port}/tcp`)
    // The dashboard's source says the same.
    const system = await serve.request('/api/system/ports', { auth: false })
    expect(system.json.conflicts.filter((c: any) => c.port === bare.json.port)).toEqual([
      unverified,
    ])

    // Recorded worktree: a process running in it is the service (holders run in the repository).
    const owned = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'web', range: '26000-26999', worktree: ROOT },
    })
    expect(owned.status).toBe(201)
    expect(owned.json.worktree).toBe(realpathSync(ROOT))
    await holder(['--port', String(owned.json.port)])
    expect(await conflictOn(owned.json.port)).toEqual([])

    // Recorded pid and another worktree: any other process is foreign, a verified conflict.
    const elsewhere = await serve.request('/api/allocations', {
      method: 'POST',
      body: {
        project: 'shop',
        service: 'api',
        range: '26000-26999',
        worktree: dir,
        pid: squatter.pid,
      },
    })
    expect(elsewhere.status).toBe(201)
    expect(elsewhere.json).toMatchObject({ pid: squatter.pid, worktree: realpathSync(dir) })
    const stranger = await holder(['--port', String(elsewhere.json.port)])
    const [foreign] = await conflictOn(elsewhere.json.port)
    expect(foreign).toMatchObject({ kind: 'system_conflict', verified: true })
    expect(foreign.message).toContain(`pid ${stranger.pid}`)
    expect(foreign.message).not.toContain('unverified')
    for (const a of [bare, owned, elsewhere])
      await serve.request(`/api/allocations/${a.json.id}`, { method: 'DELETE' })
  })

  it('GET /api/conflicts and POST /api/health-checks answer as status --check-conflicts / --health-check', async () => {
    const held = await holder(['--http', '200'])
    const allocation = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'checks', service: 'gone', range: '25000-25999' },
    })
    expect(allocation.status).toBe(201)
    const conflicts = await serve.request('/api/conflicts', { auth: false })
    expect(conflicts.status).toBe(200)
    const mismatch = conflicts.json.conflicts.find((c: any) => c.port === allocation.json.port)
    expect(mismatch).toMatchObject({ kind: 'allocation_mismatch' })
    expect(conflicts.json.summary).toBeTypeOf('object')
    const health = await serve.request('/api/health-checks', { method: 'POST' })
    expect(health.status).toBe(200)
    const checked = health.json.allocations.find((a: any) => a.id === allocation.json.id)
    expect(checked).toMatchObject({ health_status: 'not_running' })
    expect(checked.last_checked_at).not.toBeNull()
    expectErrorShape(
      await serve.request('/api/health-checks', { method: 'POST', body: { colour: 1 } }),
      400,
      'invalid_request',
    )
    expectErrorShape(
      await serve.request('/api/health-checks', { method: 'POST', auth: false }),
      401,
      'unauthorized',
    )
    await serve.request(`/api/allocations/${allocation.json.id}`, { method: 'DELETE' })
    void held
  })
})

describe('free through the API', () => {
  it('dry_run shows the plan and sends nothing; then the holder is stopped and the port is free', async () => {
    const held = await holder()
    const plan = await serve.request(`/api/ports/${held.port}/free`, {
      method: 'POST',
      body: { dry_run: true },
    })
    expect(plan.status).toBe(200)
    expect(JSON.stringify(plan.json)).toContain(String(held.pid))
    expect(held.alive()).toBe(true)
    expect(held.signals()).toEqual([])
    expectErrorShape(
      await serve.request(`/api/ports/${held.port}/free`, { method: 'POST', auth: false }),
      401,
      'unauthorized',
    )
    expectErrorShape(
      await serve.request(`/api/ports/${held.port}/free`, {
        method: 'POST',
        body: { signal: 'SIGSEGV' },
      }),
      400,
      'invalid_request',
    )
    expect(held.alive()).toBe(true)
    const freed = await serve.request(`/api/ports/${held.port}/free`, { method: 'POST', body: {} })
    expect(freed.status).toBe(200)
    expect(freed.json.outcome).toBe('freed')
    await held.process.exited
    expect(held.signals()).toEqual(['SIGTERM'])
    expect(await portIsFree(held.port)).toBe(true)
  })

  it("POST /api/prune: the plan with dry_run, the token required, then the project's stale orphan stopped; GET /api/ports/{port} carries the verdict", async () => {
    const { main, dirs } = makeWorktrees(dir, 'api-prune')
    const worktree = dirs[0] as string
    const project = worktree.split('/').pop() as string
    const alloc = await runCliAt(worktree, ['alloc', 'api', '--json'], { env: serve.env })
    expect(alloc.code, alloc.stderr).toBe(0)
    const port = (JSON.parse(alloc.stdout) as { port: number }).port
    const stale = await holdStale(['--orphan', '--port', String(port)], { cwd: worktree })
    git(main, 'worktree', 'remove', '--force', worktree)

    const asked = await serve.request(`/api/ports/${port}`, { auth: false })
    expect(asked.json.holders[0].processes[0]).toMatchObject({ pid: stale.pid, verdict: 'stale' })
    expect(asked.json.holders[0].processes[0].reasons[0].text).toBe(
      `its worktree ${project} was deleted`,
    )
    const plan = await serve.request('/api/prune', {
      method: 'POST',
      body: { project, dry_run: true },
    })
    expect(plan.status).toBe(200)
    expect(plan.json.candidates).toEqual([
      expect.objectContaining({ pid: stale.pid, decision: 'stop' }),
    ])
    expectErrorShape(
      await serve.request('/api/prune', { method: 'POST', auth: false, body: { project } }),
      401,
      'unauthorized',
    )
    expectErrorShape(
      await serve.request('/api/prune', { method: 'POST', body: { project, yes: true } }),
      400,
      'invalid_request',
    )
    expect(isAlive(stale.pid)).toBe(true)
    const done = await serve.request('/api/prune', { method: 'POST', body: { project } })
    expect(done.status).toBe(200)
    expect(done.json.outcome).toBe('pruned')
    expect(isAlive(stale.pid)).toBe(false)
    expect(await portIsFree(port)).toBe(true)
    await stopStaleHolders()
  })

  it('never signals the server itself', async () => {
    const answer = await serve.request(`/api/ports/${serve.port}/free`, {
      method: 'POST',
      body: {},
    })
    expect(answer.status).toBe(200)
    expect(answer.json.outcome).not.toBe('freed')
    expect((await serve.request('/api/system/ports', { auth: false })).status).toBe(200)
  })
})

describe('events', () => {
  it('a registry that cannot be read: ready comes without a baseline, metrics say so, and the server lives on (it crashed)', async () => {
    const broken = serveTempDir()
    writeFileSync(join(broken, 'registry.db'), randomBytes(4096))
    const other = await startServe({ dir: broken })
    try {
      const controller = new AbortController()
      const stream = await fetch(`${other.url}/api/events`, {
        headers: { Authorization: `Bearer ${other.token}` },
        signal: controller.signal,
      })
      const events = readEventStream(stream)
      await events.waitFor(/event: ready\ndata: .*\n\n/)
      const text = events.text()
      expect(text).toMatch(/event: ready\ndata: \{\}\n\n/)
      controller.abort()
      // The list itself says what is wrong, and the server still answers.
      const answer = await other.request('/api/system/ports')
      expect(answer.json).toMatchObject({ error: 'registry_corrupt' })
      // Metrics too: without the registry's gauges, saying the registry could not be read.
      const metrics = await other.request('/metrics')
      expect(metrics.status).toBe(200)
      expect(metrics.text).toMatch(/^portwarden_registry_readable 0$/m)
      expect(metrics.text).toContain('portwarden_listening_sockets{')
      expect((await serve.request('/metrics')).text).toMatch(/^portwarden_registry_readable 1$/m)
    } finally {
      expect(await stopServe(other)).toBe(0)
    }
  })

  it('GET /api/events says ready once its baseline is taken, then streams a bind for a socket this test opens, and an unbind when it closes', async () => {
    const before = await holder()
    const controller = new AbortController()
    const response = await fetch(`${serve.url}/api/events`, { signal: controller.signal })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const { waitFor } = readEventStream(response)
    await waitFor(/: connected/)
    // `ready`: the baseline is taken, so a socket opened from now on must come as a bind. It
    // carries the baseline, as GET /api/system/ports shapes it (issue 15: no second read).
    const ready = await waitFor(/event: ready\ndata: (\{.*\})\n\n/)
    const baseline = JSON.parse(ready[1] as string)
    expect(Object.keys(baseline)).toEqual([
      'listening',
      'managed',
      'conflicts',
      'server',
      'warnings',
    ])
    expect(baseline.server).toEqual({ port: serve.port, pid: serve.pid })
    const listed = (baseline.listening as WireSocket[]).find((s) => s.local_port === before.port)
    expect(listed?.processes[0]).toMatchObject({ pid: before.pid })
    const held = await holder()
    const bind = await waitFor(
      new RegExp(`event: bind\\ndata: (\\{.*"local_port":${held.port},.*\\})\\n`),
    )
    const data = JSON.parse(bind[1] as string)
    expect(data.socket.processes[0]).toMatchObject({ pid: held.pid })
    held.process.child.stdin.end()
    await held.process.exited
    await waitFor(new RegExp(`event: unbind\\ndata: \\{.*"local_port":${held.port},`))
    expect(response.headers.get('cache-control')).toBe('no-store')
    const streamClients = async () =>
      Number(
        /^portwarden_event_stream_clients (\d+)$/m.exec(
          (await serve.request('/metrics')).text,
        )?.[1],
      )
    expect(await streamClients()).toBe(1)
    controller.abort()
    // The server notices the closed connection and lets go of the subscription.
    const deadline = Date.now() + 10_000
    while ((await streamClients()) !== 0 && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await streamClients()).toBe(0)
  })
  it('ready carries its baseline on one data line: line breaks in a holder’s name and command line are escaped, never raw (issue 15)', async () => {
    // The server writes the rendered baseline after one `data: `, unsplit: a raw CR or LF in it
    // would cut the event short for every client.
    const held = await holder(['--name', 'nl\nname\rcr', '--label', 'line\nbreak\r\nboth\rcr'])
    const controller = new AbortController()
    try {
      const response = await fetch(`${serve.url}/api/events`, { signal: controller.signal })
      const events = readEventStream(response)
      const ready = await events.waitFor(/event: ready\n([^]*?)\n\n/)
      const lines = (ready[1] as string).split(/\r\n|\r|\n/)
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(/^data: \{/)
      const baseline = JSON.parse((lines[0] as string).slice('data: '.length))
      const listed = (baseline.listening as WireSocket[]).find((s) => s.local_port === held.port)
      expect(listed?.processes[0]).toMatchObject({ pid: held.pid })
      expect(listed?.processes[0]?.command).toContain('line\nbreak\r\nboth\rcr')
    } finally {
      controller.abort()
    }
  })
})

describe('metrics, headers, errors', () => {
  it('GET /metrics counts from the watcher’s snapshot while an event stream keeps it fresh, and polls when none does (issue 15)', async () => {
    const polls = async () => {
      const text = (await serve.request('/metrics')).text
      return Number(
        /^portwarden_scan_duration_seconds_count\{kind="tables"\} (\d+)$/m.exec(text)?.[1],
      )
    }
    // Nobody streams: once the last poll (any request's) is over 2 s old, a scrape polls.
    const before = await polls()
    const deadline = Date.now() + 10_000
    while ((await polls()) === before && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 200))
    expect(await polls()).toBeGreaterThan(before)
    const controller = new AbortController()
    const stream = await fetch(`${serve.url}/api/events`, { signal: controller.signal })
    await readEventStream(stream).waitFor(/event: ready/)
    try {
      // The stream keeps the watcher polling every second: scrapes count from its snapshot.
      // (At most one poll in four scrapes: a loaded machine may delay the watcher's own.)
      const streaming = await polls()
      for (let i = 0; i < 3; i++) await polls()
      expect((await polls()) - streaming).toBeLessThanOrEqual(1)
    } finally {
      controller.abort()
    }
  })

  it('GET /api/system/ports is gzipped for a client that takes gzip, plain for one that does not (issue 15)', async () => {
    const held = await holder()
    const get = (encoding?: string) =>
      new Promise<{ headers: IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const headers: Record<string, string> = encoding ? { 'accept-encoding': encoding } : {}
        httpGet(
          { host: '127.0.0.1', port: serve.port, path: '/api/system/ports', headers },
          (res) => {
            const parts: Buffer[] = []
            res.on('data', (part: Buffer) => parts.push(part))
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }))
          },
        ).on('error', reject)
      })
    const lists = (body: string) =>
      (JSON.parse(body).listening as WireSocket[]).some((s) => s.local_port === held.port)
    const zipped = await get('gzip, deflate, br')
    expect(zipped.headers['content-encoding']).toBe('gzip')
    expect(zipped.headers.vary).toBe('Accept-Encoding')
    expect(lists(gunzipSync(zipped.body).toString('utf8'))).toBe(true)
    const plain = await get()
    expect(plain.headers['content-encoding']).toBeUndefined()
    expect(plain.headers.vary).toBe('Accept-Encoding')
    expect(lists(plain.body.toString('utf8'))).toBe(true)
    expect(zipped.body.length).toBeLessThan(plain.body.length)
    for (const refused of ['gzip;q=0, identity', 'br'])
      expect((await get(refused)).headers['content-encoding']).toBeUndefined()
    // An explicit refusal wins over `*` (RFC 9110 §12.5.3).
    expect((await get('*, gzip;q=0')).headers['content-encoding']).toBeUndefined()
  })

  it('GET /metrics is Prometheus text with the four families and no command lines or token (H10)', async () => {
    const held = await holder(['--label', 'secret-command-line-marker'])
    const answer = await serve.request('/metrics', { auth: false })
    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    for (const name of [
      'portwarden_listening_sockets{protocol="tcp",family="ipv4"}',
      'portwarden_allocations{status="unknown"}',
      'portwarden_conflicts{kind="system_conflict"}',
      'portwarden_scan_duration_seconds_bucket',
      'portwarden_event_stream_clients',
    ])
      expect(answer.text).toContain(name)
    // Every line is a comment or `name{labels} value`.
    for (const line of answer.text.split('\n').filter(Boolean))
      expect(line).toMatch(
        /^(# (HELP|TYPE) .*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.e+-]+|.* (NaN|[+-]Inf))$/,
      )
    expect(answer.text).not.toContain('secret-command-line-marker')
    expect(answer.text).not.toContain(serve.token)
    expect(answer.text).not.toContain('hold-port')
    // fetch will not send a foreign Host: write it on a socket.
    const foreign = await rawRequest(
      serve.port,
      httpRequest('GET', '/metrics', ['Host: evil.example']),
    )
    expect(foreign.status).toBe(403)
    expect(JSON.parse(foreign.body)).toMatchObject({ error: 'forbidden_host' })
    void held
  })

  it('security headers on /, /api/* and /metrics; JSON as application/json; never CORS (H9)', async () => {
    for (const path of ['/', '/api/system/ports', '/api/allocations', '/metrics', '/api/nope']) {
      const answer = await serve.request(path, {
        auth: false,
        headers: { origin: 'http://evil.example' },
      })
      expect(answer.headers.get('content-security-policy'), path).toBe(
        "default-src 'self'; frame-ancestors 'none'",
      )
      expect(answer.headers.get('x-content-type-options'), path).toBe('nosniff')
      expect(answer.headers.get('cross-origin-resource-policy'), path).toBe('same-origin')
      expect(answer.headers.get('access-control-allow-origin'), path).toBeNull()
    }
    const page = await serve.request('/', { auth: false })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toMatch(/^text\/html/)
  })

  it('unknown routes are 404, oversized bodies 413, non-JSON bodies 415, all in the error shape', async () => {
    expectErrorShape(await serve.request('/api/nope', { auth: false }), 404, 'not_found')
    expectErrorShape(
      await serve.request('/assets/../../package.json', { auth: false }),
      404,
      'not_found',
    )
    // fetch gives up when the server answers before the whole body is sent: use a socket.
    const big = await rawRequest(
      serve.port,
      httpRequest(
        'POST',
        '/api/allocations',
        [
          `Host: 127.0.0.1:${serve.port}`,
          `Authorization: Bearer ${serve.token}`,
          'Content-Type: application/json',
        ],
        JSON.stringify({ project: 'x'.repeat(1024 * 1024), service: 'web' }),
      ),
    )
    expect(big.status).toBe(413)
    expect(JSON.parse(big.body)).toMatchObject({ error: 'payload_too_large' })
    expectErrorShape(
      await serve.request('/api/allocations', {
        method: 'POST',
        rawBody: '{"project":"shop","service":"web"}',
        headers: { 'content-type': 'text/plain' },
      }),
      415,
      'unsupported_media_type',
    )
    // and it keeps answering
    expect((await serve.request('/api/allocations', { auth: false })).status).toBe(200)
  })
})

describe('listings from the shared watcher (issue 15)', () => {
  const inventoryScans = async () =>
    Number(
      /^portwarden_scan_duration_seconds_count\{kind="inventory"\} (\d+)$/m.exec(
        (await serve.request('/metrics')).text,
      )?.[1] ?? 0,
    )

  it('/api/system/ports and /api/sockets from the polled snapshot equal a fresh scan while sockets open and close between polls, with no full scan per request', async () => {
    const ports = new Set<number>()
    const started = async () => {
      const held = await holder()
      ports.add(held.port)
      return held
    }
    /** Our own sockets in an answer, by inode: other tests' sockets may come and go meanwhile. */
    const ours = (sockets: any[]) =>
      sockets.filter((s) => ports.has(s.local_port)).sort((a, b) => a.inode - b.inode)
    const compare = async (expected: number[]) => {
      const snapshot = ours((await serve.request('/api/system/ports')).json.listening)
      const fresh = ours((await serve.request('/api/system/ports?fresh=1')).json.listening)
      expect(snapshot).toEqual(fresh)
      expect(snapshot.map((s) => s.local_port).sort()).toEqual([...expected].sort())
      expect(ours((await serve.request('/api/sockets')).json)).toEqual(fresh)
      expect(ours((await serve.request('/api/sockets?fresh=1')).json)).toEqual(fresh)
    }
    const first = await started()
    const second = await started()
    await compare([first.port, second.port])
    first.process.child.stdin.end()
    await first.process.exited
    const third = await started()
    await compare([second.port, third.port])
    // The listing is in port order, and the ports are random: find the third holder's socket.
    const listed = ours((await serve.request('/api/system/ports')).json.listening)
    expect(listed.find((s) => s.local_port === third.port)?.processes[0]).toMatchObject({
      pid: third.pid,
    })

    const before = await inventoryScans()
    for (let i = 0; i < 5; i++) expect((await serve.request('/api/system/ports')).status).toBe(200)
    expect(await inventoryScans()).toBe(before)
    await serve.request('/api/system/ports?fresh=1')
    expect(await inventoryScans()).toBe(before + 1) // positive control: a fresh scan is counted
    second.process.child.stdin.end()
    third.process.child.stdin.end()
  })

  it('?fresh= takes 0 or 1 only', async () => {
    expectErrorShape(await serve.request('/api/system/ports?fresh=yes'), 400, 'invalid_request')
    expectErrorShape(await serve.request('/api/sockets?fresh=2'), 400, 'invalid_request')
  })
})

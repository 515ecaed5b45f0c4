/**
 * `preflight` against real listeners: the PASS/FAIL line shape with the holder's pid, uptime and
 * command line, the fix (`portwarden free`, a free port nearby, `docker stop`, releasing another
 * project's allocation), ranges, UDP, and `"auto"` ports allocated through a throwaway registry.
 */
import { existsSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import type { Server as HttpServer } from 'node:http'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  isPortwardenError,
  loadManifest,
  openRegistry,
  allocate,
  preflight,
  resolveServicePorts,
} from '../src/core/index.js'
import type { RegistryStore } from '../src/core/index.js'
import type { WireSocket } from './helpers/sockets.js'
import {
  hasStackTrace,
  makeProject,
  removeProjects,
  runIn,
  commandLine,
  shownCommand,
  startHttpServer,
} from './helpers/manifest-cli.js'
import { ROOT, startSockets, stopStarted } from './helpers/processes.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

afterEach(stopStarted)
afterAll(removeProjects)

/** A port the kernel just handed out and took back: free, and unlikely to be reused at once. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function listen(port: number): Promise<Server | null> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(null))
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(server))
  })
}

/** `count` consecutive free ports, held by this process while `hold` is true. */
async function consecutivePorts(
  count: number,
  hold: boolean,
): Promise<{ from: number; servers: Server[] }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const from = await freePort()
    if (from + count > 65535) continue
    const servers: Server[] = []
    for (let i = 0; i < count; i++) {
      const server = await listen(from + i)
      if (!server) break
      servers.push(server)
    }
    if (servers.length === count) {
      if (!hold) await closeAll(servers)
      return { from, servers: hold ? servers : [] }
    }
    await closeAll(servers)
  }
  throw new Error(`no ${count} consecutive free ports found`)
}

const closeAll = (servers: Server[]) =>
  Promise.all(servers.map((s) => new Promise((r) => s.close(r))))

interface JsonPort {
  service: string
  name: string
  spec: string
  port: number | null
  protocol: 'tcp' | 'udp'
  range: string | null
  auto: boolean
  ok: boolean
  reason: string | null
  message: string
  fix: string | null
  suggested_port: number | null
  container: string | null
  held_by_project: boolean
  allocation: { project: string; service: string; port: number } | null
  holders: WireSocket[]
}

interface JsonPreflight {
  manifest: string
  project: string
  registry: string | null
  ok: boolean
  ports: JsonPort[]
}

describe('preflight against a real listener', () => {
  it('prints [PASS]/[FAIL] lines with the holder and a concrete fix, exit 1; exit 0 once it is gone', async () => {
    const server = await startHttpServer(ROOT)
    const spare = await freePort()
    const dir = makeProject(
      `project = "shop"\n\n[services.web]\nports = [${server.port}]\n\n[services.api]\nports = [${spare}]\n`,
    )
    const registry = join(dir, 'registry.db')

    const result = await runIn(dir, ['preflight'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(result.code, result.stdout + result.stderr).toBe(1)
    const lines = result.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(
      new RegExp(
        `^\\[FAIL\\] ${server.port}/tcp \\(web\\): in use by ${escape(server.comm)} \\(pid ${server.pid}, up \\d+s, cmd "${escape(shownCommand(server.command))}"\\)$`,
      ),
    )
    const fix = new RegExp(
      `^       fix: portwarden free ${server.port}/tcp, or change web's port ${server.port} to (\\d+) \\(free now\\) in portwarden\\.toml$`,
    ).exec(lines[1] as string)
    expect(fix, lines[1]).not.toBeNull()
    const suggested = Number(fix?.[1])
    expect(suggested).not.toBe(spare)
    expect(Math.abs(suggested - server.port)).toBeLessThanOrEqual(100)
    expect(lines[2]).toBe(`[PASS] ${spare}/tcp (api): available`)
    expect(lines[3]).toBe('1 of 2 declared ports cannot be taken (project shop, portwarden.toml).')
    expect(lines).toHaveLength(4)
    expect(hasStackTrace(result.stderr)).toBe(false)

    // The suggested port really is free to bind.
    const probe = await listen(suggested)
    expect(probe).not.toBeNull()
    await closeAll([probe as Server])

    const json = JSON.parse(
      (await runIn(dir, ['preflight', '--json'], { env: { PORTWARDEN_REGISTRY: registry } }))
        .stdout,
    ) as JsonPreflight
    expect(json).toMatchObject({
      manifest: join(dir, 'portwarden.toml'),
      project: 'shop',
      ok: false,
      registry: null,
    })
    expect(json.ports[0]).toMatchObject({
      service: 'web',
      port: server.port,
      protocol: 'tcp',
      ok: false,
      reason: 'in_use',
      message: expect.stringContaining(
        `TCP port ${server.port} is already in use by ${server.comm} (pid ${server.pid}`,
      ),
      fix: expect.stringContaining(`portwarden free ${server.port}/tcp`),
      suggested_port: suggested,
      held_by_project: false,
    })
    expect(json.ports[0]?.holders[0]).toMatchObject({
      state: 'LISTEN',
      local_address: '127.0.0.1',
      local_port: server.port,
    })
    expect(json.ports[0]?.holders[0]?.processes[0]).toMatchObject({
      pid: server.pid,
      name: server.comm,
    })
    expect(json.ports[1]).toMatchObject({
      service: 'api',
      port: spare,
      ok: true,
      reason: null,
      fix: null,
      holders: [],
    })

    await stopStarted()
    const after = await runIn(dir, ['preflight'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(after.code).toBe(0)
    expect(after.stdout).toBe(
      `[PASS] ${server.port}/tcp (web): available\n[PASS] ${spare}/tcp (api): available\nAll 2 declared ports can be taken (project shop, portwarden.toml).\n`,
    )
  })

  it("a holder started from the project's directory is probably the service itself", async () => {
    const dir = makeProject()
    const server = await startHttpServer(dir)
    const { writeFileSync } = await import('node:fs')
    writeFileSync(join(dir, 'portwarden.toml'), `[services.web]\nports = [${server.port}]\n`)
    const result = await runIn(dir, ['preflight'], {
      env: { PORTWARDEN_REGISTRY: join(dir, 'r.db') },
    })
    expect(result.code).toBe(1)
    expect(result.stdout).toContain(`, started from this project (is web already running?)\n`)
    expect(result.stdout).toContain(
      `fix: web may be running already (its holder was started from this project): leave it, or stop it with portwarden free ${server.port}/tcp, or change web's port`,
    )
  })

  it('UDP ports are checked too, and `preflight SERVICE` checks only that service', async () => {
    const udp = await startSockets(['udp@127.0.0.1'], { name: 'dnsd' })
    const port = udp.sockets[0]!.port
    const dir = makeProject(
      `[services.dns]\nports = ["${port}/udp"]\n[services.web]\nports = [${port}]\n`,
    )
    const env = { PORTWARDEN_REGISTRY: join(dir, 'r.db') }
    // In turn: two runs bind-testing the free TCP port at once would each see the other's test.
    const all = await runIn(dir, ['preflight'], { env })
    const web = await runIn(dir, ['preflight', 'web'], { env })
    expect(all.code).toBe(1)
    expect(all.stdout).toMatch(
      new RegExp(
        `^\\[FAIL\\] ${port}/udp \\(dns\\): in use by dnsd \\(pid ${udp.pid}, up \\d+s, cmd "${escape(shownCommand(commandLine(udp.pid)))}"\\)$`,
        'm',
      ),
    )
    expect(all.stdout).toContain(`fix: portwarden free ${port}/udp`)
    expect(all.stdout).toContain(`[PASS] ${port}/tcp (web): available`)
    expect(web.code).toBe(0)
    expect(web.stdout).not.toContain('dns')
    const unknown = await runIn(dir, ['preflight', 'nope'], { env })
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('has no service "nope"')
    expect(unknown.stderr).toContain('Services declared there: dns, web.')
  })
})

describe('TIME-WAIT (issue 10 item 13)', () => {
  it('a declared port with a TIME-WAIT socket on it is [WARN] in preflight and doctor, exit 0', async () => {
    const fixture = await startSockets(['reusetimewait@127.0.0.1'])
    const port = fixture.sockets[0]!.port
    const dir = makeProject(`[services.web]\nports = [${port}]\n`)
    const env = { PORTWARDEN_REGISTRY: join(dir, 'r.db') }
    const caveat = `available, but 1 TIME-WAIT socket on tcp/${port} (127.0.0.1:${port}): servers without SO_REUSEADDR may fail to bind for up to 60 s`
    // One after another: each run's bind test holds the port for a moment, which a concurrent
    // run's own bind test would see as taken.
    const pre = await runIn(dir, ['preflight'], { env })
    const json = await runIn(dir, ['preflight', '--json'], { env })
    const doctor = await runIn(dir, ['doctor'], { env })
    expect(pre.code, pre.stderr).toBe(0)
    expect(pre.stdout).toContain(`[WARN] ${port}/tcp (web): ${caveat}\n`)
    expect(pre.stdout).toContain('The declared port can be taken')
    expect(pre.stderr).not.toMatch(/TIME-WAIT/)
    expect(json.code, json.stdout).toBe(0)
    const entry = (JSON.parse(json.stdout) as { ports: { ok: boolean; warnings: string[] }[] })
      .ports[0]!
    expect(entry.ok).toBe(true)
    expect(entry.warnings.join('\n')).toMatch(/TIME-WAIT/)
    expect(doctor.code, doctor.stdout + doctor.stderr).toBe(0)
    expect(doctor.stdout).toContain(`[WARN] ${port}/tcp (web): ${caveat}\n`)
    expect(doctor.stdout).toMatch(/\b1 warning\b/)
    expect(hasStackTrace(pre.stderr + doctor.stderr)).toBe(false)
  })
})

describe('ranges', () => {
  it('a range passes with its first free port, and fails when every port is taken', async () => {
    const partly = await consecutivePorts(3, false)
    const full = await consecutivePorts(2, true)
    const holder = await listen(partly.from)
    expect(holder).not.toBeNull()
    try {
      const dir = makeProject(
        `[services.media]\nports = ["${partly.from}-${partly.from + 2}"]\n[services.relay]\nports = ["${full.from}-${full.from + 1}"]\n`,
      )
      const result = await runIn(dir, ['preflight'], {
        env: { PORTWARDEN_REGISTRY: join(dir, 'r.db') },
      })
      expect(result.code, result.stderr).toBe(1)
      const lines = result.stdout.split('\n')
      expect(lines[0]).toBe(
        `[PASS] ${partly.from + 1}/tcp (media, from ${partly.from}-${partly.from + 2}): available (the first free port in ${partly.from}-${partly.from + 2})`,
      )
      expect(lines[1]).toContain(
        `[FAIL] ${full.from}-${full.from + 1}/tcp (relay): no TCP port in ${full.from}-${full.from + 1} is free: every one is in use or allocated in the registry; held by `,
      )
      expect(lines[1]).toMatch(new RegExp(`held by \\S+ \\(pid ${process.pid}\\)$`))
      expect(lines[2]).toMatch(
        new RegExp(
          `^       fix: portwarden free ${full.from}/tcp, or widen relay's range to include \\d+ \\(free now\\)$`,
        ),
      )

      // run's view of the same manifest: the range stands for its first free port.
      const manifest = loadManifest({ cwd: dir })
      const media = manifest.services[0]!
      expect(await resolveServicePorts(manifest, media, null)).toEqual([
        { name: 'media', protocol: 'tcp', port: partly.from + 1, from: media.ports[0] },
      ])
      const relay = manifest.services[1]!
      const exhausted = await resolveServicePorts(manifest, relay, null).catch(
        (error: unknown) => error,
      )
      expect(isPortwardenError(exhausted) && exhausted.code).toBe('range_exhausted')
    } finally {
      await closeAll([holder as Server, ...full.servers])
    }
  })
})

describe('the registry', () => {
  let dir: string
  let store: RegistryStore
  let registry: string

  beforeAll(async () => {
    dir = makeProject()
    registry = join(dir, 'registry.db')
    store = await openRegistry({ location: registry })
  })
  afterAll(async () => {
    await store.close()
  })

  it("a free port allocated to another project fails, naming it; this project's own allocation passes", async () => {
    const theirs = await freePort()
    const ours = await freePort()
    await allocate(store, { project: 'other', service: 'api', port: theirs })
    await allocate(store, { project: 'shop', service: 'web', port: ours })
    const project = makeProject(
      `project = "shop"\n[services.web]\nports = [${ours}]\n[services.db]\nports = [${theirs}]\n`,
    )
    const result = await runIn(project, ['preflight'], { env: { PORTWARDEN_REGISTRY: registry } })
    expect(result.code, result.stderr).toBe(1)
    const lines = result.stdout.split('\n')
    expect(lines[0]).toBe(`[PASS] ${ours}/tcp (web): available (allocated to web of project shop)`)
    expect(lines[1]).toBe(
      `[FAIL] ${theirs}/tcp (db): free, but the registry allocates it to api of project other`,
    )
    expect(lines[2]).toMatch(
      new RegExp(
        `^       fix: change db's port ${theirs} to \\d+ \\(free now\\) in portwarden\\.toml, or if project other no longer needs it: portwarden release api --project other$`,
      ),
    )
    const json = JSON.parse(
      (await runIn(project, ['preflight', '--json'], { env: { PORTWARDEN_REGISTRY: registry } }))
        .stdout,
    ) as JsonPreflight
    expect(json.registry).toBe(registry)
    expect(json.ports[1]).toMatchObject({
      ok: false,
      reason: 'port_allocated',
      allocation: { project: 'other', service: 'api', port: theirs },
    })
  })

  it('"auto" ports: not allocated yet, then allocated per project and service, idempotently', async () => {
    const project = makeProject(
      'project = "autoproj"\n[services.web]\nports = ["auto", "auto"]\nhealth = { http = "/" }\n[services.dns]\nports = ["auto/udp"]\n',
    )
    const env = { PORTWARDEN_REGISTRY: registry }
    const before = await runIn(project, ['preflight'], { env })
    expect(before.code).toBe(0)
    expect(before.stdout).toContain(
      '[PASS] auto/tcp (web, auto): not allocated yet: `portwarden run web` will allocate a free port in 20000-29999',
    )

    const manifest = loadManifest({ cwd: project })
    const [web, dns] = manifest.services as [
      (typeof manifest.services)[0],
      (typeof manifest.services)[0],
    ]
    const first = await resolveServicePorts(manifest, web, store)
    expect(first.map((p) => [p.name, p.protocol])).toEqual([
      ['web', 'tcp'],
      ['web-2', 'tcp'],
    ])
    for (const p of first) expect(p.port >= 20000 && p.port <= 29999).toBe(true)
    expect(first[0]!.port).not.toBe(first[1]!.port)
    expect(await resolveServicePorts(manifest, web, store)).toEqual(first)
    const [udp] = await resolveServicePorts(manifest, dns, store)
    expect(udp).toMatchObject({ name: 'dns', protocol: 'udp' })
    const rows = await store.list({ project: 'autoproj' })
    expect(rows.map((r) => [r.service, r.protocol, r.port]).sort()).toEqual(
      [
        ['dns', 'udp', udp!.port],
        ['web', 'tcp', first[0]!.port],
        ['web-2', 'tcp', first[1]!.port],
      ].sort(),
    )
    expect(rows.find((r) => r.service === 'web')?.healthCheck).toEqual({ kind: 'http', path: '/' })
    expect(rows.find((r) => r.service === 'web')?.worktree).toBe(project)

    const after = await runIn(project, ['preflight'], { env })
    expect(after.code).toBe(0)
    expect(after.stdout).toContain(
      `[PASS] ${first[0]!.port}/tcp (web, auto): available (allocated to web of project autoproj)`,
    )
    expect(after.stdout).toContain(
      `[PASS] ${first[1]!.port}/tcp (web, auto): available (allocated to web-2 of project autoproj)`,
    )

    // Someone else takes the allocated port: fail, and say how to get another one.
    const squatter = await listen(first[0]!.port)
    try {
      const taken = await runIn(project, ['preflight'], { env })
      expect(taken.code).toBe(1)
      expect(taken.stdout).toMatch(
        new RegExp(
          `\\[FAIL\\] ${first[0]!.port}/tcp \\(web, auto\\): in use by \\S+ \\(pid ${process.pid}, `,
        ),
      )
      expect(taken.stdout).toContain(
        `fix: portwarden free ${first[0]!.port}/tcp, or portwarden release web --project autoproj (the next run allocates another port)`,
      )
    } finally {
      await closeAll([squatter as Server])
    }
  })

  it('"auto" without a registry is refused by resolveServicePorts; preflight reports it unallocated', async () => {
    const manifest = loadManifest({ path: join(ROOT, 'test/fixtures/manifests/auto.toml') })
    const error = await resolveServicePorts(manifest, manifest.services[0]!, null).catch(
      (e: unknown) => e,
    )
    expect(isPortwardenError(error) && error.code).toBe('invalid_request')
    const result = await preflight(manifest, { store: null })
    expect(result.ok).toBe(true)
    expect(result.ports.map((p) => p.port)).toEqual([null, null, null])
  })
})

describe('issue 10 item 14: preflight --port SPEC..., without a manifest', () => {
  it('the same table and fixes for the ports given: TCP, UDP, free, a range', async () => {
    const server = await startHttpServer(ROOT)
    const udp = await startSockets(['udp@127.0.0.1'], { name: 'dnsd' })
    const dns = udp.sockets[0]!.port
    const spare = await freePort()
    const range = await consecutivePorts(3, false)
    const holder = await listen(range.from)
    try {
      const dir = makeProject() // no portwarden.toml here or above
      const env = { PORTWARDEN_REGISTRY: join(dir, 'r.db') }
      const args = [
        'preflight',
        '--port',
        String(server.port),
        '--port',
        `${dns}/udp,${spare}/tcp`,
        '--port',
        `${range.from}-${range.from + 2}`,
      ]
      const result = await runIn(dir, args, { env })
      expect(result.code, result.stderr).toBe(1)
      const lines = result.stdout.trimEnd().split('\n')
      expect(lines[0]).toMatch(
        new RegExp(
          `^\\[FAIL\\] ${server.port}/tcp: in use by ${escape(server.comm)} \\(pid ${server.pid}, up \\d+s, cmd "${escape(shownCommand(server.command))}"\\)$`,
        ),
      )
      const fix = new RegExp(
        `^       fix: portwarden free ${server.port}/tcp, or use (\\d+) instead \\(free now\\)$`,
      ).exec(lines[1] as string)
      expect(fix, lines[1]).not.toBeNull()
      expect(Number(fix?.[1])).not.toBe(spare)
      expect(lines[2]).toMatch(
        new RegExp(`^\\[FAIL\\] ${dns}/udp: in use by dnsd \\(pid ${udp.pid}, `),
      )
      expect(lines[3]).toMatch(
        new RegExp(`^       fix: portwarden free ${dns}/udp, or use \\d+ instead \\(free now\\)$`),
      )
      expect(lines[4]).toBe(`[PASS] ${spare}/tcp: available`)
      expect(lines[5]).toBe(
        `[PASS] ${range.from + 1}/tcp (from ${range.from}-${range.from + 2}): available (the first free port in ${range.from}-${range.from + 2})`,
      )
      expect(lines[6]).toBe('2 of 4 ports cannot be taken (project shop).')
      expect(lines).toHaveLength(7)
      expect(existsSync(join(dir, 'r.db'))).toBe(false) // read-only: no registry created

      const json = JSON.parse((await runIn(dir, [...args, '--json'], { env })).stdout) as Omit<
        JsonPreflight,
        'manifest' | 'ports'
      > & { manifest: null; ports: (Omit<JsonPort, 'service' | 'name'> & { service: null })[] }
      expect(json).toMatchObject({ manifest: null, project: 'shop', registry: null, ok: false })
      expect(json.ports.map((p) => [p.spec, p.port, p.protocol, p.ok, p.reason])).toEqual([
        [String(server.port), server.port, 'tcp', false, 'in_use'],
        [`${dns}/udp`, dns, 'udp', false, 'in_use'],
        [`${spare}/tcp`, spare, 'tcp', true, null],
        [`${range.from}-${range.from + 2}`, range.from + 1, 'tcp', true, null],
      ])
      expect(json.ports[0]).toMatchObject({
        service: null,
        name: null,
        suggested_port: Number(fix?.[1]),
      })
    } finally {
      await closeAll([holder as Server])
    }
  })

  it("honours the registry: another project's allocation fails with its release command, --project makes it one's own", async () => {
    const dir = makeProject()
    const registry = join(dir, 'registry.db')
    const store = await openRegistry({ location: registry })
    const port = await freePort()
    try {
      await allocate(store, { project: 'other', service: 'api', port })
    } finally {
      await store.close()
    }
    const env = { PORTWARDEN_REGISTRY: registry }
    const theirs = await runIn(dir, ['preflight', '--port', String(port)], { env })
    expect(theirs.code).toBe(1)
    const lines = theirs.stdout.split('\n')
    expect(lines[0]).toBe(
      `[FAIL] ${port}/tcp: free, but the registry allocates it to api of project other`,
    )
    expect(lines[1]).toMatch(
      /^ {7}fix: use \d+ instead \(free now\), or if project other no longer needs it: portwarden release api --project other$/,
    )
    const own = await runIn(dir, ['preflight', '--port', String(port), '--project', 'other'], {
      env,
    })
    expect(own.code, own.stdout).toBe(0)
    expect(own.stdout).toBe(
      `[PASS] ${port}/tcp: available (allocated to api of project other)\nThe port can be taken (project other).\n`,
    )
  })

  it('bad usage exits 2 with what is accepted; without a manifest or --port, the hint names --port', async () => {
    const dir = makeProject()
    const cases: [string[], RegExp][] = [
      [['preflight', '--port', '0'], /Invalid port spec "0": port 0 is outside 1-65535/],
      [['preflight', '--port', '8080/sctp'], /protocol "sctp" is not tcp or udp/],
      [['preflight', '--port', '8080', '--port', '8080/tcp'], /--port 8080\/tcp is given twice/],
      [
        ['preflight', '--port', '8000-8010', '--port', '8005'],
        /--port 8005\/tcp overlaps --port 8000-8010\/tcp/,
      ],
      [['preflight', 'web', '--port', '8080'], /service "web" does not go with it/],
      [['preflight', '--manifest', 'x.toml', '--port', '8080'], /--manifest does not go with it/],
      [['preflight', '--project', 'p'], /--project goes with --port/],
    ]
    for (const [args, message] of cases) {
      const result = await runIn(dir, args)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(message)
      expect(hasStackTrace(result.stderr)).toBe(false)
    }
    const none = await runIn(dir, ['preflight'])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('No portwarden.toml in')
    expect(none.stderr).toContain('portwarden preflight --port 8080')
  })
})

describe('container proxies', () => {
  let api: HttpServer
  let socketPath: string
  let published = 0

  beforeAll(async () => {
    socketPath = join(makeProject(), 'docker.sock')
    api = createHttpServer((req, res) => {
      if (req.url !== '/containers/json') return void res.writeHead(404).end()
      res.setHeader('Content-Type', 'application/json')
      res.end(
        JSON.stringify([
          {
            Id: '4ac0ffee0000',
            Names: ['/shop-web'],
            Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: published, Type: 'tcp' }],
            NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.5' } } },
          },
        ]),
      )
    })
    await new Promise<void>((resolve) => api.listen(socketPath, resolve))
  })
  afterAll(() => new Promise((resolve) => api.close(resolve)))

  it('a port published by a container suggests `docker stop NAME` (named through the Docker API, else by a filter)', async () => {
    const proxy = await startSockets(['tcp@127.0.0.1'], {
      name: 'docker-proxy',
      label: '-container-ip 172.17.0.5 -container-port 80',
    })
    published = proxy.sockets[0]!.port
    const dir = makeProject(`[services.web]\nports = [${published}]\n`)
    const env = { PORTWARDEN_REGISTRY: join(dir, 'r.db') }
    const [named, unnamed] = await Promise.all([
      runIn(dir, ['preflight'], { env: { ...env, PORTWARDEN_DOCKER_SOCKET: socketPath } }),
      runIn(dir, ['preflight', '--json'], {
        env: { ...env, PORTWARDEN_DOCKER_SOCKET: join(dir, 'absent.sock') },
      }),
    ])
    expect(named.code).toBe(1)
    expect(named.stdout).toContain(`in use by docker-proxy (pid ${proxy.pid}, up `)
    expect(named.stdout).toContain('forwarding to container 172.17.0.5:80')
    expect(named.stdout).toContain(
      `fix: docker stop shop-web (a container publishes this port), or change web's port ${published} to`,
    )
    expect(hasStackTrace(named.stderr)).toBe(false)
    const json = JSON.parse(unnamed.stdout) as JsonPreflight
    expect(json.ports[0]).toMatchObject({ container: '172.17.0.5:80', reason: 'in_use' })
    expect(json.ports[0]?.fix).toMatch(
      new RegExp(
        `^docker stop \\$\\(docker ps -q --filter publish=${published}/tcp\\) \\(a container publishes this port\\)`,
      ),
    )
  })
})

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

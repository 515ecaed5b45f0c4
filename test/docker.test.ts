/**
 * Issue 16 against a real Docker engine (Debian's docker.io), in both proxy modes, each engine in
 * a network namespace of its own (test/helpers/docker.ts): `free` never signals dockerd or
 * docker-proxy, names the container from the Engine API and suggests `docker stop NAME`; a port
 * published by a DNAT rule with no socket on it is not "available". Issue 12 item 3: who, check,
 * list and the API name the container a holder stands for (docker-proxy, or dockerd's placeholder
 * without the userland proxy) from the Engine API, and ask it only then. Needs root, dockerd,
 * iptables and busybox-static (installed by .ci/run); skips with the reason otherwise.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { DockerEngine, RunningContainer } from './helpers/docker.js'
import {
  inspectContainer,
  runHttpContainer,
  startDockerEngine,
  whyNoDocker,
} from './helpers/docker.js'
import { parseJson, runCli } from './helpers/cli.js'
import { stopStarted } from './helpers/processes.js'
import { launchChromium, whyNoBrowser } from './helpers/browser.js'
import type { Serve } from './helpers/serve.js'
import { removeServeDirs, startServe } from './helpers/serve.js'
import { startTicks } from './run-helpers.js'

const skip = whyNoDocker()

afterAll(() => removeServeDirs())

/** Inside a fresh namespace every port is free: any in the usual range will do. */
function somePort(): number {
  return 20_000 + Math.floor(Math.random() * 9_000)
}

interface FreeTargetJson {
  pid: number
  name: string
  container: string | null
  action: 'signal' | 'refuse'
  refusal: { code: string; command: string | null } | null
}

interface JsonHolder {
  pid: number
  name: string
  container: string | null
  container_id?: string | null
  container_address?: string | null
}
interface JsonSocketRow {
  local_address: string
  local_port: number
  processes: JsonHolder[]
}

/** Every holder of the rows on `port`. */
function holdersOn(rows: readonly JsonSocketRow[], port: number): JsonHolder[] {
  return rows.filter((r) => r.local_port === port).flatMap((r) => r.processes)
}

/**
 * Issue 12 item 3: who, check, list (human and --json) and the API name the container a holder
 * stands for (docker-proxy, or dockerd's placeholder), from the Engine API; with the engine
 * unreachable or hung, the command line's address stays and nothing fails.
 */
async function expectContainerNamed(
  engine: DockerEngine,
  web: RunningContainer,
  port: number,
  holder: { name: string; pid: number },
): Promise<void> {
  const short = web.id.slice(0, 12)
  const published = `published by Docker container ${web.name} (${short}), 127.0.0.1:${port} → ${web.ip}:80`
  const expected = {
    name: holder.name,
    pid: holder.pid,
    container: web.name,
    container_id: web.id,
    container_address: `${web.ip}:80`,
  }

  const who = await engine.cli(['who', String(port)])
  expect(who.code, who.stdout + who.stderr).toBe(0)
  expect(who.stdout).toContain(
    `TCP port ${port} is already in use by ${holder.name} (pid ${holder.pid}, user root) on 127.0.0.1:${port}: ${published}`,
  )
  expect(who.stdout).toContain(`container ${web.name} (${short}) at ${web.ip}:80`)
  expect(who.stdout).toContain(`fix: docker stop ${web.name}`)
  const whoJson = parseJson<{ ports: { holders: JsonSocketRow[] }[] }>(
    await engine.cli(['who', String(port), '--json']),
  )
  expect(holdersOn(whoJson.ports[0]!.holders, port)).toContainEqual(
    expect.objectContaining(expected),
  )

  const check = await engine.cli(['check', String(port)])
  expect(check.code, check.stdout + check.stderr).toBe(1)
  expect(check.stdout).toContain(
    `[FAIL] ${port}/tcp: in use by ${holder.name} (pid ${holder.pid}, user root) on 127.0.0.1:${port}: ${published}`,
  )
  expect(check.stdout).toContain(`fix: docker stop ${web.name}`)
  const checkJson = parseJson<{
    ports: { free: boolean; reason: string; message: string; holders: JsonSocketRow[] }[]
  }>(await engine.cli(['check', String(port), '--json']))
  expect(checkJson.ports[0]).toMatchObject({ free: false, reason: 'in_use' })
  expect(checkJson.ports[0]!.message).toContain(published)
  expect(holdersOn(checkJson.ports[0]!.holders, port)).toContainEqual(
    expect.objectContaining(expected),
  )

  const list = await engine.cli(['list', '--port', String(port)])
  expect(list.code, list.stderr).toBe(0)
  expect(list.stdout).toContain(
    `${holder.name}[${holder.pid}] for container ${web.name} (${short})`,
  )
  // A filtered listing and the full one (the addon's fast JSON path where it applies).
  for (const args of [
    ['list', '--port', String(port), '--json'],
    ['list', '--json'],
  ]) {
    const rows = parseJson<JsonSocketRow[]>(await engine.cli(args))
    expect(holdersOn(rows, port), args.join(' ')).toContainEqual(expect.objectContaining(expected))
  }
}

/** The engine not answering (no socket; one that accepts and never answers): today's words, no failure. */
async function expectUnnamedWithoutEngine(
  engine: DockerEngine,
  port: number,
  holder: { name: string; container: string | null },
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pw-docker-hung-'))
  const hungPath = join(dir, 'hung.sock')
  const accepted = new Set<Socket>()
  const hung = createServer((connection) => void accepted.add(connection)) // never answers
  await new Promise<void>((resolve) => hung.listen(hungPath, resolve))
  try {
    for (const socket of [join(dir, 'absent.sock'), hungPath]) {
      const env = { PORTWARDEN_DOCKER_SOCKET: socket }
      const started = performance.now()
      const who = await engine.cli(['who', String(port)], env)
      expect(performance.now() - started, socket).toBeLessThan(10_000)
      expect(who.code, who.stdout + who.stderr).toBe(0)
      expect(who.stdout).toContain(`in use by ${holder.name} (pid `)
      if (holder.container)
        expect(who.stdout).toContain(`forwarding to container ${holder.container}`)
      expect(who.stdout).not.toContain('published by Docker container')
      const json = parseJson<{ ports: { holders: JsonSocketRow[] }[] }>(
        await engine.cli(['who', String(port), '--json'], env),
      )
      const found = holdersOn(json.ports[0]!.holders, port).find((h) => h.name === holder.name)
      expect(found?.container, socket).toBe(holder.container)
      if (holder.container === null) expect(found).not.toHaveProperty('container_id')
      else expect(found).toMatchObject({ container_id: null, container_address: holder.container })
      const check = await engine.cli(['check', String(port)], env)
      expect(check.code, check.stdout + check.stderr).toBe(1)
      expect(check.stdout).toContain(`[FAIL] ${port}/tcp: in use by ${holder.name} (pid `)
    }
  } finally {
    for (const connection of accepted) connection.destroy()
    await new Promise((resolve) => hung.close(resolve))
    rmSync(dir, { recursive: true, force: true })
  }
}

/** `serve` in the engine's namespace: /api/ports/P, /api/sockets and /api/system/ports name it. */
async function expectApiNamesContainer(
  engine: DockerEngine,
  web: RunningContainer,
  port: number,
  holderName: string,
): Promise<void> {
  const serve = await startServe({
    netns: engine.netns,
    env: { PORTWARDEN_DOCKER_SOCKET: engine.socket },
  })
  try {
    const expected = {
      name: holderName,
      container: web.name,
      container_id: web.id,
      container_address: `${web.ip}:80`,
    }
    const checked = await serve.request(`/api/ports/${port}`)
    expect(checked.status, checked.text).toBe(200)
    expect(checked.json).toMatchObject({ free: false, reason: 'in_use' })
    expect(holdersOn(checked.json.holders, port)).toContainEqual(expect.objectContaining(expected))
    expect(checked.json.message).toContain(`published by Docker container ${web.name}`)
    // The watcher's snapshot (names attached when the socket was first seen) and a fresh scan.
    for (const path of [`/api/sockets?port=${port}`, `/api/sockets?port=${port}&fresh=1`]) {
      const sockets = await serve.request(path)
      expect(sockets.status, sockets.text).toBe(200)
      expect(holdersOn(sockets.json, port), path).toContainEqual(expect.objectContaining(expected))
    }
    // An allocation of the port is refused (409) naming the container.
    const refused = await serve.request('/api/allocations', {
      method: 'POST',
      body: { project: 'shop', service: 'web', port },
    })
    expect(refused.status, refused.text).toBe(409)
    expect(refused.json.details).toMatchObject({
      process: holderName,
      container: web.name,
      container_id: web.id,
    })
    const system = await serve.request('/api/system/ports')
    expect(system.status, system.text).toBe(200)
    expect(holdersOn(system.json.listening, port)).toContainEqual(expect.objectContaining(expected))
    await expectDashboardNamesContainer(engine, serve, web, port)
  } finally {
    await stopStarted()
  }
}

/** The dashboard (headless Chromium in the engine's namespace) shows the name and short id. */
async function expectDashboardNamesContainer(
  engine: DockerEngine,
  serve: Serve,
  web: RunningContainer,
  port: number,
): Promise<void> {
  const noBrowser = whyNoBrowser()
  if (noBrowser !== null) {
    console.warn(`dashboard check skipped: ${noBrowser}`)
    return
  }
  const browser = await launchChromium([], { netns: engine.netns })
  try {
    const page = await browser.newPage()
    page.setDefaultTimeout(30_000)
    await page.goto(serve.dashboard)
    await page.waitForSelector('body[data-loaded="true"]')
    const cell = page.locator(`#listener-rows tr[data-port="${port}"] td[data-label="Container"]`)
    await cell.waitFor()
    expect(await cell.innerText()).toMatch(new RegExp(`^${web.name}\\s+${web.id.slice(0, 12)}$`))
    expect(await cell.getAttribute('title')).toBe(`id ${web.id} → ${web.ip}:80`)
    // The filter finds the row by the container's id.
    await page.fill('#listener-filter', web.id.slice(0, 12))
    await page.locator(`#listener-rows tr[data-port="${port}"]`).waitFor()
  } finally {
    await browser.close()
  }
}

describe.skipIf(skip !== null)(
  `a real Docker engine without its userland proxy (dockerd holds published ports)${skip ? ` — skipped: ${skip}` : ''}`,
  () => {
    let engine: DockerEngine
    let web: RunningContainer
    let published: number
    let dockerdStart: number | null

    beforeAll(async () => {
      engine = await startDockerEngine({ userlandProxy: false })
      published = somePort()
      web = await runHttpContainer(engine, 'pw-web', { hostIp: '127.0.0.1', hostPort: published })
      dockerdStart = startTicks(engine.dockerdPid)
    }, 90_000)

    afterAll(async () => {
      await engine?.stop()
    }, 60_000)

    it('the published port is held by dockerd itself (a placeholder socket)', async () => {
      const who = await engine.cli(['who', String(published), '--json'])
      expect(who.code, who.stderr).toBe(0)
      const body = parseJson<{
        ports: { holders: { processes: { pid: number; name: string }[] }[] }[]
      }>(who)
      const holders = body.ports[0]!.holders.flatMap((s) => s.processes)
      expect(holders.map((h) => h.name)).toContain('dockerd')
      expect(holders.map((h) => h.pid)).toContain(engine.dockerdPid)
    })

    it('free --yes refuses to signal dockerd, names the container, suggests docker stop; exit 1', async () => {
      const result = await engine.cli(['free', String(published), '--yes'])
      expect(result.code, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toContain('dockerd')
      expect(result.stdout).toContain('Docker container pw-web')
      expect(result.stdout).toContain('docker stop pw-web')
      // The daemon and the container are untouched.
      expect(startTicks(engine.dockerdPid)).toBe(dockerdStart)
      expect((await inspectContainer(engine, web.id)).running).toBe(true)
      expect((await engine.api('GET', '/_ping')).text).toBe('OK')
    })

    it('free --dry-run --json: refusal container_runtime with the command', async () => {
      const result = await engine.cli(['free', String(published), '--dry-run', '--json'])
      const body = parseJson<{ targets: FreeTargetJson[] }>(result)
      const dockerd = body.targets.find((t) => t.pid === engine.dockerdPid)
      expect(dockerd).toMatchObject({
        name: 'dockerd',
        action: 'refuse',
        container: 'pw-web',
        refusal: { code: 'container_runtime', command: 'docker stop pw-web' },
      })
    })

    it('preflight --port style: check says in use by dockerd, never available', async () => {
      const result = await engine.cli(['check', String(published)])
      expect(result.code).toBe(1)
      expect(result.stdout).toMatch(/\[FAIL\] \d+\/tcp: in use by dockerd \(pid \d+/)
    })

    it('who, check and list name the container dockerd holds the port for (human and --json)', async () => {
      await expectContainerNamed(engine, web, published, {
        name: 'dockerd',
        pid: engine.dockerdPid,
      })
      const preflight = await engine.cli(['preflight', '--port', String(published)])
      expect(preflight.code, preflight.stdout + preflight.stderr).toBe(1)
      expect(preflight.stdout).toContain(
        `publishing Docker container pw-web (${web.id.slice(0, 12)}) at ${web.ip}:80`,
      )
    })

    it('without an answering engine dockerd is named as before, in bounded time', async () => {
      await expectUnnamedWithoutEngine(engine, published, { name: 'dockerd', container: null })
    })

    it('the API names the container', async () => {
      await expectApiNamesContainer(engine, web, published, 'dockerd')
    })

    it('a port DNATed to the container with no socket on it (as nerdctl/CNI publish) is not available; the rule and the container are named', async () => {
      const port = somePort() + 1
      const rule = [
        '-p',
        'tcp',
        '-d',
        '127.0.0.1/32',
        '--dport',
        String(port),
        '-j',
        'DNAT',
        '--to-destination',
        `${web.ip}:80`,
      ]
      const add = engine.exec('iptables', ['-t', 'nat', '-A', 'OUTPUT', ...rule])
      expect(add.status, String(add.stderr)).toBe(0)
      // The rule is real: a connection to the port reaches busybox httpd in the container.
      const fetched = engine.exec('busybox', ['wget', '-q', '-O', '-', `http://127.0.0.1:${port}/`])
      expect(String(fetched.stderr)).toMatch(/404/)
      // No socket holds it (a bind test succeeds), yet who names the container and the rule ...
      const who = await engine.cli(['who', String(port)])
      expect(who.code, who.stdout).toBe(0)
      expect(who.stdout).toContain(`TCP port ${port} is published by Docker container pw-web`)
      // ... free says what to stop instead, and signals nothing ...
      const free = await engine.cli(['free', String(port), '--yes'])
      expect(free.code, free.stdout).toBe(1)
      expect(free.stdout).toContain('stop the container instead: docker stop pw-web')
      expect(free.stdout).toContain('Nothing was signalled.')
      // ... and check does not call it available.
      const check = await engine.cli(['check', String(port)])
      expect(check.code, check.stdout + check.stderr).toBe(1)
      expect(check.stdout).toContain(`[FAIL] ${port}/tcp: published by Docker container pw-web`)
      expect(check.stdout).toContain(`through a DNAT rule to ${web.ip}:80`)
      expect(check.stdout).toContain('fix: docker stop pw-web')
      const json = parseJson<{
        ports: {
          free: boolean
          reason: string
          publishers: { container: string; rule: string }[]
        }[]
      }>(await engine.cli(['check', String(port), '--json']))
      expect(json.ports[0]).toMatchObject({ free: false, reason: 'published' })
      expect(json.ports[0]!.publishers[0]).toMatchObject({ container: 'pw-web' })
      expect(json.ports[0]!.publishers[0]!.rule).toContain(`--dport ${port}`)
      // preflight gives the same verdict and fix, for the placeholder port and the DNAT one.
      const dir = mkdtempSync(join(tmpdir(), 'pw-docker-manifest-'))
      writeFileSync(
        join(dir, 'portwarden.toml'),
        `project = "shop"\n[services.web]\nports = [${published}]\n[services.api]\nports = [${port}]\n`,
      )
      const preflight = await engine.cli([
        'preflight',
        '--manifest',
        dir,
        '--registry',
        join(dir, 'registry.db'),
      ])
      rmSync(dir, { recursive: true, force: true })
      expect(preflight.code, preflight.stdout + preflight.stderr).toBe(1)
      expect(preflight.stdout).toContain(`[FAIL] ${published}/tcp (web): in use by dockerd`)
      expect(preflight.stdout).toContain(
        `[FAIL] ${port}/tcp (api): published by Docker container pw-web`,
      )
      expect(
        preflight.stdout.match(/fix: docker stop pw-web \(a container publishes this port\)/g),
      ).toHaveLength(2)
      // run refuses to start a service there, naming the container.
      const run = await engine.cli(['run', '--port', String(port), '--', 'true'])
      expect(run.code, run.stdout + run.stderr).toBe(1)
      expect(run.stderr).toContain(
        `port conflict on ${port}: already in use by Docker container pw-web (through a DNAT rule)`,
      )
      // Without the rule the port is available again.
      const del = engine.exec('iptables', ['-t', 'nat', '-D', 'OUTPUT', ...rule])
      expect(del.status, String(del.stderr)).toBe(0)
      const after = await engine.cli(['check', String(port)])
      expect(after.code, after.stdout).toBe(0)
    })
  },
)

describe.skipIf(skip !== null)(
  `a real Docker engine with its userland proxy (docker-proxy holds published ports)${skip ? ` — skipped: ${skip}` : ''}`,
  () => {
    let engine: DockerEngine
    let web: RunningContainer
    let published: number

    beforeAll(async () => {
      engine = await startDockerEngine({ userlandProxy: true })
      published = somePort()
      web = await runHttpContainer(engine, 'pw-shop', { hostIp: '127.0.0.1', hostPort: published })
    }, 90_000)

    afterAll(async () => {
      await engine?.stop()
    }, 60_000)

    it('free --yes leaves docker-proxy alone, names the container, suggests docker stop; exit 1', async () => {
      const who = parseJson<{
        ports: { holders: { processes: { pid: number; name: string }[] }[] }[]
      }>(await engine.cli(['who', String(published), '--json']))
      const proxy = who.ports[0]!.holders.flatMap((s) => s.processes).find(
        (p) => p.name === 'docker-proxy',
      )
      expect(proxy, JSON.stringify(who)).toBeDefined()
      const before = startTicks(proxy!.pid)
      const result = await engine.cli(['free', String(published), '--yes'])
      expect(result.code, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toContain('Docker container pw-shop')
      expect(result.stdout).toContain('docker stop pw-shop')
      expect(startTicks(proxy!.pid)).toBe(before)
      expect(startTicks(engine.dockerdPid)).not.toBeNull()
      expect((await inspectContainer(engine, web.id)).running).toBe(true)
    })

    /** The docker-proxy of the published port, from a listing. */
    async function proxyPid(): Promise<number> {
      const rows = parseJson<JsonSocketRow[]>(
        await engine.cli(['list', '--port', String(published), '--json']),
      )
      const proxy = holdersOn(rows, published).find((h) => h.name === 'docker-proxy')
      expect(proxy, JSON.stringify(rows)).toBeDefined()
      return proxy!.pid
    }

    it('who, check and list name the container docker-proxy forwards to (human and --json)', async () => {
      await expectContainerNamed(engine, web, published, {
        name: 'docker-proxy',
        pid: await proxyPid(),
      })
      const preflight = await engine.cli(['preflight', '--port', String(published)])
      expect(preflight.code, preflight.stdout + preflight.stderr).toBe(1)
      expect(preflight.stdout).toContain(
        `forwarding to container ${web.ip}:80: pw-shop (${web.id.slice(0, 12)})`,
      )
    })

    it("--all-namespaces finds the container's own listener and names the container (issue 12 item 2)", async () => {
      // httpd listens on port 80 inside the container's namespace, which publishes nothing on 80.
      const short = web.id.slice(0, 12)
      const who = await engine.cli(['who', '80', '--all-namespaces'])
      expect(who.code, who.stdout + who.stderr).toBe(0)
      expect(who.stdout).toMatch(
        new RegExp(
          `^TCP port 80 is already in use by \\S+ \\(pid \\d+, user root\\) on .*:80 in container pw-shop \\(${short}\\)$`,
          'm',
        ),
      )
      const rows = parseJson<
        (JsonSocketRow & { netns?: { name: string; container_id: string } })[]
      >(await engine.cli(['list', '--all-namespaces', '--port', '80', '--json']))
      expect(
        rows.filter((r) => r.netns?.container_id === web.id).map((r) => r.netns!.name),
      ).toContain('pw-shop')
      // Without the flag, a free port 80 here says where it is held.
      const plain = await engine.cli(['check', '80'])
      expect(plain.stdout).toContain(`is in use in container pw-shop (${short}) by`)
    })

    it('without an answering engine docker-proxy keeps its address, in bounded time', async () => {
      await expectUnnamedWithoutEngine(engine, published, {
        name: 'docker-proxy',
        container: `${web.ip}:80`,
      })
    })

    it('the API names the container', async () => {
      await expectApiNamesContainer(engine, web, published, 'docker-proxy')
    })
  },
)

describe('an ordinary holder costs no Docker Engine API call', () => {
  it('who, check and list on a port a plain process holds never ask the engine', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pw-docker-count-'))
    const socketPath = join(dir, 'docker.sock')
    const requests: string[] = []
    const api = createHttpServer((req, res) => {
      requests.push(`${req.method} ${req.url}`)
      res.setHeader('Content-Type', 'application/json')
      res.end('[]')
    })
    await new Promise<void>((resolve) => api.listen(socketPath, resolve))
    const listener = createServer()
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
    const port = (listener.address() as AddressInfo).port
    try {
      const env = { PORTWARDEN_DOCKER_SOCKET: socketPath }
      for (const args of [
        ['who', String(port)],
        ['who', String(port), '--json'],
        ['check', String(port), '--json'],
        ['list', '--port', String(port)],
        ['list', '--port', String(port), '--json'],
      ]) {
        const result = await runCli(args, { env })
        expect(result.stdout, args.join(' ')).toContain(String(process.pid))
      }
      expect(requests).toEqual([])
      // The full listing too, unless this machine runs a container proxy or dockerd itself.
      const rows = parseJson<JsonSocketRow[]>(await runCli(['list', '--json'], { env }))
      const containerHolders = rows
        .flatMap((r) => r.processes)
        .filter((h) => h.name === 'dockerd' || h.name === 'docker-proxy')
      if (containerHolders.length === 0) expect(requests).toEqual([])
    } finally {
      await new Promise((resolve) => listener.close(resolve))
      await new Promise((resolve) => api.close(resolve))
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

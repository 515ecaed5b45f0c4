/**
 * `portwarden free` end to end, with real processes holding real ports (port 0, loopback):
 * the stale-process story (a python3 server answering 503), K4 (a holder that ignores SIGTERM,
 * with and without --kill-after), K6 (a container proxy, with a fake Docker Engine API on a unix
 * socket), K8 (--dry-run, no TTY, a TTY answering y or n), "nothing to free", --json shapes and
 * bad flags. The fixture test/fixtures/hold-port.py records every signal it gets in a file.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import type { Server } from 'node:http'
import { createServer } from 'node:http'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { CliResult } from './helpers/cli.js'
import { CLI, parseJson, runCli, stackTraceLines } from './helpers/cli.js'
import { ROOT, stopStarted } from './helpers/processes.js'
import type { WireSocket } from './helpers/sockets.js'
import type { PortHolder } from './helpers/hold-port.js'
import { startPortHolder } from './helpers/hold-port.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pw-free-'))
})
afterEach(stopStarted)
afterAll(() => rmSync(dir, { recursive: true, force: true }))

type Holder = PortHolder
const startHolder = (args: string[] = []): Promise<Holder> => startPortHolder(dir, args)

/** Can a service bind the port now, on 127.0.0.1 and on ::1? */
async function bindable(port: number): Promise<boolean> {
  for (const host of ['127.0.0.1', '::1']) {
    const ok = await new Promise<boolean>((resolve) => {
      const server = createNetServer()
      server.once('error', () => resolve(false))
      server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)))
    })
    if (!ok) return false
  }
  return true
}

/** A port nothing holds (the kernel's choice, released at once). */
async function unusedPort(): Promise<number> {
  const server = createNetServer()
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1' }, resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

function expectClean(result: CliResult): void {
  expect(stackTraceLines(result.stderr)).toEqual([])
  expect(stackTraceLines(result.stdout)).toEqual([])
}

interface JsonTarget {
  pid: number
  name: string
  command: string
  user: string
  uid: number
  started_at: string | null
  container: string | null
  container_address: string | null
  ports: string[]
  action: 'signal' | 'refuse'
  refusal: {
    code: string
    message: string
    suggestion: string | null
    command: string | null
    permission: boolean
  } | null
  outcome?: string
  message?: string
  signals?: { signal: string; at: string; elapsed_ms: number }[]
}

interface JsonReport {
  dry_run: boolean
  outcome: string
  signal: string
  wait_ms: number
  kill_after_ms: number | null
  elapsed_ms: number
  ports: {
    port: number
    protocol: string
    status: string
    message: string
    holders: WireSocket[]
    held_out_of_sight: boolean
    refusals: { code: string; command: string | null }[]
  }[]
  targets: JsonTarget[]
  warnings: string[]
}

describe('the stale-process story', () => {
  it('a python3 server answering 503 "Stale process": who names it, free --yes sends SIGTERM, the port is released', async () => {
    const holder = await startHolder(['--http', '503', '--label', 'stale-web'])
    const response = await fetch(`http://127.0.0.1:${holder.port}/`)
    expect(response.status).toBe(503)
    expect(await response.text()).toBe('Stale process\n')

    const who = await runCli(['who', String(holder.port)])
    expect(who.code).toBe(0)
    expect(who.stdout).toContain(
      `TCP port ${holder.port} is already in use by ${holder.comm} (pid ${holder.pid}`,
    )
    expect(who.stdout).toContain('hold-port.py')

    const result = await runCli(['free', '--yes', String(holder.port)])
    expectClean(result)
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(result.stdout).toContain(`TCP port ${holder.port} is free`)
    expect(result.stdout).toContain(`${holder.comm} (pid ${holder.pid}) exited after SIGTERM`)
    // The plan and the progress go to stderr, so that stdout stays the answer.
    expect(result.stderr).toContain(`will send SIGTERM to ${holder.comm} (pid ${holder.pid}`)
    expect(result.stderr).toContain(`Sent SIGTERM to ${holder.comm} (pid ${holder.pid})`)
    expect(await holder.process.exited).toBe(0)
    expect(holder.signals()).toEqual(['SIGTERM'])
    expect(await bindable(holder.port)).toBe(true)
  })

  it('free on a port nobody holds says there is nothing to free, exit 1, and signals nothing', async () => {
    const port = await unusedPort()
    const result = await runCli(['free', '--yes', String(port)])
    expectClean(result)
    expect(result.code).toBe(1)
    expect(result.stdout).toBe(`Nothing to free on TCP port ${port}: no process holds it.\n`)
    const json = parseJson<JsonReport>(await runCli(['free', '--yes', '--json', `${port}/udp`]))
    expect(json).toMatchObject({ outcome: 'nothing_to_free', targets: [] })
    expect(json.ports).toEqual([
      expect.objectContaining({ port, protocol: 'udp', status: 'nothing_to_free', holders: [] }),
    ])
    // A range where nothing is held at all.
    const range = await runCli(['free', '--yes', `${port}-${port + 2}`])
    expect(range.code).toBe(1)
    expect(range.stdout).toContain(
      `Nothing to free: no process holds any port in ${port}-${port + 2}/tcp`,
    )
  })

  it('exit 0 when every requested port is released, even if one was already free; UDP too', async () => {
    const tcp = await startHolder([])
    const udp = await startHolder(['--udp'])
    const idle = await unusedPort()
    const result = await runCli([
      'free',
      '--yes',
      '--json',
      String(tcp.port),
      `${udp.port}/udp`,
      String(idle),
    ])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const json = parseJson<JsonReport>(result)
    expect(json.outcome).toBe('freed')
    expect(json.ports.map((p) => [p.port, p.protocol, p.status])).toEqual([
      [tcp.port, 'tcp', 'freed'],
      [udp.port, 'udp', 'freed'],
      [idle, 'tcp', 'nothing_to_free'],
    ])
    expect(tcp.signals()).toEqual(['SIGTERM'])
    expect(udp.signals()).toEqual(['SIGTERM'])
  })

  it('waits for the port, not the pid: a holder that closes its socket but keeps running counts as freed', async () => {
    const holder = await startHolder(['--let-go'])
    const result = await runCli(['free', '--yes', '--json', String(holder.port)])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    const json = parseJson<JsonReport>(result)
    expect(json.ports[0]).toMatchObject({ status: 'freed' })
    expect(json.targets[0]).toMatchObject({ pid: holder.pid, outcome: 'released' })
    expect(holder.alive()).toBe(true)
    expect(await bindable(holder.port)).toBe(true)
  })

  it('--signal HUP (any case, with or without SIG) is what gets sent', async () => {
    const holder = await startHolder([])
    const result = await runCli(['free', '--yes', '--signal', 'sighup', String(holder.port)])
    expect(result.code, result.stdout + result.stderr).toBe(0)
    expect(holder.signals()).toEqual(['SIGHUP'])
  })
})

describe('K4: TERM, wait for the port, then KILL only with --kill-after', () => {
  it('a holder ignoring SIGTERM survives without --kill-after ("still held", exit 1) and is gone with it (exit 0 once it binds)', async () => {
    const holder = await startHolder(['--ignore-term', '--name', 'ignore-sigterm'])
    expect(holder.comm).toBe('ignore-sigterm')

    const first = await runCli(['free', '--yes', '--wait', '1s', String(holder.port)])
    expectClean(first)
    expect(first.code, first.stdout + first.stderr).toBe(1)
    expect(first.stdout).toContain(
      `TCP port ${holder.port} is still held by ignore-sigterm (pid ${holder.pid}`,
    )
    expect(first.stdout).toContain('still running 1s after SIGTERM')
    expect(first.stdout).toContain(`portwarden free ${holder.port}/tcp --kill-after`)
    expect(holder.alive()).toBe(true)
    expect(holder.signals()).toEqual(['SIGTERM'])
    expect(await bindable(holder.port)).toBe(false)

    const started = Date.now()
    const second = await runCli([
      'free',
      '--yes',
      '--kill-after',
      '1s',
      '--json',
      String(holder.port),
    ])
    const took = Date.now() - started
    expect(second.code, second.stdout + second.stderr).toBe(0)
    const json = parseJson<JsonReport>(second)
    expect(json).toMatchObject({
      outcome: 'freed',
      signal: 'SIGTERM',
      kill_after_ms: 1000,
      wait_ms: 5000,
    })
    expect(json.ports[0]).toMatchObject({ port: holder.port, status: 'freed', holders: [] })
    const signals = json.targets[0]!.signals!
    expect(signals.map((s) => s.signal)).toEqual(['SIGTERM', 'SIGKILL'])
    // SIGKILL only after the --kill-after delay (measured from SIGTERM, by our own clock too).
    expect(signals[1]!.elapsed_ms).toBeGreaterThanOrEqual(1000)
    expect(Date.parse(signals[1]!.at) - Date.parse(signals[0]!.at)).toBeGreaterThanOrEqual(1000)
    expect(took).toBeGreaterThanOrEqual(1000)
    expect(json.targets[0]).toMatchObject({ pid: holder.pid, outcome: 'exited' })
    expect(await holder.process.exited).toBe('SIGKILL')
    expect(holder.signals()).toEqual(['SIGTERM', 'SIGTERM']) // SIGKILL cannot be caught or recorded
    expect(await bindable(holder.port)).toBe(true)
  })
})

describe('K8: confirmation', () => {
  it('--dry-run shows the plan, sends nothing, exit 0; with --json too', async () => {
    const holder = await startHolder(['--label', 'dry-run-target'])
    const result = await runCli(['free', '--dry-run', '--kill-after', '2s', String(holder.port)])
    expectClean(result)
    expect(result.code).toBe(0)
    expect(result.stdout).toContain(
      `TCP port ${holder.port} is held by ${holder.comm} (pid ${holder.pid}`,
    )
    expect(result.stdout).toContain(`will send SIGTERM to ${holder.comm} (pid ${holder.pid}`)
    expect(result.stdout).toContain('then SIGKILL if the port is still held 2s after SIGTERM')
    expect(result.stdout).toContain('command: ')
    expect(result.stdout).toContain('dry-run-target')
    expect(result.stdout).toContain('Dry run: nothing was signalled.')

    const json = parseJson<{
      dry_run: boolean
      outcome: string
      ports: { port: number; held: boolean; holders: WireSocket[] }[]
      targets: JsonTarget[]
    }>(await runCli(['free', '--dry-run', '--json', String(holder.port)]))
    expect(json.dry_run).toBe(true)
    expect(json.outcome).toBe('freed')
    expect(json.ports[0]).toMatchObject({ port: holder.port, held: true })
    expect(json.ports[0]!.holders[0]!.processes[0]!.pid).toBe(holder.pid)
    expect(json.targets[0]).toMatchObject({
      pid: holder.pid,
      action: 'signal',
      refusal: null,
      ports: [`${holder.port}/tcp`],
    })

    expect(holder.alive()).toBe(true)
    expect(holder.signals()).toEqual([])
  })

  it('without a TTY and without --yes: refuses with exit 2, says to pass --yes, sends nothing', async () => {
    const holder = await startHolder([])
    const result = await runCli(['free', String(holder.port)])
    expectClean(result)
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toContain(
      'Refusing to signal without confirmation: stdin is not a terminal',
    )
    expect(result.stderr).toContain('Pass --yes')
    expect(result.stderr).toContain(`will send SIGTERM to ${holder.comm} (pid ${holder.pid}`) // the plan it refused
    const json = await runCli(['free', '--json', String(holder.port)])
    expect(json.code).toBe(2)
    expect(parseJson(json)).toMatchObject({ error: 'invalid_request' })
    expect(holder.alive()).toBe(true)
    expect(holder.signals()).toEqual([])
  })

  it('on a TTY it asks per process: "n" sends nothing (exit 1), Ctrl-C nothing (exit 130), "y" stops it (exit 0)', async () => {
    const holder = await startHolder(['--label', 'tty-target'])
    const no = await runFreeOnTty(['free', String(holder.port)], 'n')
    expect(no.stdout).toMatch(
      new RegExp(
        `Stop ${holder.comm} \\(pid ${holder.pid}, user \\S+, up \\d+s, cmd "[^"]*python3 [^"]*"\\) holding TCP port ${holder.port}\\? \\[y/N\\]`,
      ),
    )
    expect(no.stdout).toContain('not confirmed')
    expect(no.code).toBe(1)
    expect(holder.signals()).toEqual([])
    expect(holder.alive()).toBe(true)

    const eof = await runFreeOnTty(['free', String(holder.port)], null)
    expect(eof.code).toBe(1)
    expect(holder.signals()).toEqual([])

    const interrupted = await runFreeOnTty(['free', String(holder.port)], CTRL_C)
    expect(interrupted.code, interrupted.stdout).toBe(130)
    expect(interrupted.stdout).toContain('interrupted: nothing was signalled')
    expect(holder.signals()).toEqual([])
    expect(holder.alive()).toBe(true)

    const yes = await runFreeOnTty(['free', String(holder.port)], 'y')
    expect(yes.code, yes.stdout).toBe(0)
    expect(yes.stdout).toContain(`TCP port ${holder.port} is free`)
    expect(holder.signals()).toEqual(['SIGTERM'])
  })
})

const CTRL_C = '\x03'

/**
 * Runs the CLI on a pseudo-terminal (util-linux `script`) and types `answer` at the first
 * `[y/N]` question (null: end of input instead; CTRL_C: Ctrl-C). script merges stdout and stderr.
 */
function runFreeOnTty(args: readonly string[], answer: string | null): Promise<CliResult> {
  const quoted = [process.execPath, CLI, ...args]
    .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
    .join(' ')
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', quoted, '/dev/null'], {
      cwd: ROOT,
      env: { ...process.env, TERM: 'dumb', NO_COLOR: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let answered = false
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`script did not finish:\n${stdout}`))
    }, 20_000)
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      if (!answered && stdout.includes('[y/N]')) {
        answered = true
        if (answer === null) child.stdin.write('\x04')
        else if (answer === CTRL_C) child.stdin.write(CTRL_C)
        else child.stdin.write(`${answer}\r`)
      }
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr: '' })
    })
  })
}

describe('K6: container proxies are never signalled; the container is named', () => {
  let api: Server
  let socketPath: string
  let hung: Server
  let hungPath: string
  let hungAsks = 0
  const requests: string[] = []
  let publishedPort = 0

  beforeAll(async () => {
    socketPath = join(dir, 'docker.sock')
    api = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`)
      if (req.url !== '/containers/json') {
        res.writeHead(404).end()
        return
      }
      res.setHeader('Content-Type', 'application/json')
      res.end(
        JSON.stringify([
          {
            Id: 'f00d',
            Names: ['/other'],
            Ports: [{ PrivatePort: 5432, Type: 'tcp' }],
            NetworkSettings: { Networks: {} },
          },
          {
            Id: '4ac0ffee0000',
            Names: ['/shop-web'],
            Ports: [{ IP: '127.0.0.1', PrivatePort: 80, PublicPort: publishedPort, Type: 'tcp' }],
            NetworkSettings: { Networks: { bridge: { IPAddress: '172.17.0.5' } } },
          },
        ]),
      )
    })
    await new Promise<void>((resolve) => api.listen(socketPath, resolve))
    hungPath = join(dir, 'hung.sock')
    hung = createServer(() => hungAsks++) // accepts, never answers
    await new Promise<void>((resolve) => hung.listen(hungPath, resolve))
  })
  afterAll(async () => {
    hung.closeAllConnections()
    await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => hung.close(r))])
  })

  const proxyArgs = [
    '--name',
    'docker-proxy',
    '--label',
    '-container-ip 172.17.0.5 -container-port 80',
  ]

  it('names the container through the Docker Engine API and suggests `docker stop NAME`; exit 1, nothing sent', async () => {
    const proxy = await startHolder(proxyArgs)
    publishedPort = proxy.port
    expect(proxy.comm).toBe('docker-proxy')
    const asksBefore = requests.length
    const result = await runCli(['free', '--yes', '--kill-after', '200ms', String(proxy.port)], {
      env: { PORTWARDEN_DOCKER_SOCKET: socketPath },
    })
    expectClean(result)
    expect(result.code, result.stdout + result.stderr).toBe(1)
    // The holder's naming and the plan share one answer.
    expect(requests.slice(asksBefore)).toEqual(['GET /containers/json'])
    expect(result.stdout).toContain(
      `TCP port ${proxy.port} is still held by docker-proxy (pid ${proxy.pid}`,
    )
    expect(result.stdout).toContain(
      'publishes the port for Docker container shop-web (172.17.0.5:80)',
    )
    expect(result.stdout).toContain('stop the container instead: docker stop shop-web')
    expect(proxy.alive()).toBe(true)
    expect(proxy.signals()).toEqual([])

    const json = parseJson<JsonReport>(
      await runCli(['free', '--yes', '--json', String(proxy.port)], {
        env: { PORTWARDEN_DOCKER_SOCKET: socketPath },
      }),
    )
    expect(json.outcome).toBe('not_freed')
    expect(json.targets[0]).toMatchObject({
      pid: proxy.pid,
      name: 'docker-proxy',
      container: 'shop-web',
      container_address: '172.17.0.5:80',
      action: 'refuse',
      outcome: 'refused',
      signals: [],
      refusal: { code: 'container_proxy', command: 'docker stop shop-web', permission: false },
    })
    expect(json.ports[0]!.refusals).toEqual([expect.objectContaining({ code: 'container_proxy' })])
    expect(proxy.signals()).toEqual([])
  })

  it('without a Docker socket (or with a hung one, within its time bound) it names the address from the command line', async () => {
    const proxy = await startHolder(proxyArgs)
    for (const socket of [join(dir, 'absent.sock'), hungPath]) {
      const started = Date.now()
      const asksBefore = hungAsks
      const result = await runCli(['free', String(proxy.port)], {
        env: { PORTWARDEN_DOCKER_SOCKET: socket },
      })
      expect(Date.now() - started).toBeLessThan(8000)
      // The holder's naming and the plan both want the containers: a hung engine is asked once.
      if (socket === hungPath) expect(hungAsks - asksBefore).toBe(1)
      expectClean(result)
      expect(result.code).toBe(1) // nothing it may signal: no question, no --yes needed
      expect(result.stdout).toContain('publishes the port for a container at 172.17.0.5:80')
      expect(result.stdout).toContain(`docker ps --filter publish=${proxy.port}/tcp`)
      expect(result.stdout).toContain('docker stop NAME')
    }
    expect(proxy.alive()).toBe(true)
    expect(proxy.signals()).toEqual([])
  })
})

describe('bad input is a usage error (exit 2) that names the flag and the accepted forms', () => {
  it.each([
    [['--signal', '9'], /Invalid --signal "9".*\n.*TERM, INT, HUP, KILL, QUIT, USR1, USR2/],
    [['--signal', 'STOP'], /Invalid --signal "STOP"/],
    [['--signal', 'SIGSEGV'], /Invalid --signal "SIGSEGV"/],
    [['--wait', '1e3'], /Invalid --wait "1e3": not a duration/],
    [['--wait', '5 s'], /Invalid --wait "5 s"/],
    [['--wait', '2h'], /Invalid --wait "2h"/],
    [['--kill-after', '0x10'], /Invalid --kill-after "0x10"/],
    [['--kill-after', '61m'], /Invalid --kill-after "61m": longer than 1h/],
  ])('free 8080 %j', async (flags, pattern) => {
    const result = await runCli(['free', '--dry-run', '8080', ...flags])
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(pattern)
    expectClean(result)
  })

  it('no port, or a bad port, is exit 2 too', async () => {
    expect((await runCli(['free'])).code).toBe(2)
    const bad = await runCli(['free', '--yes', '0'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('Invalid port spec "0"')
  })
})

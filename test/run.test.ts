/**
 * Issue 5 item 3, `portwarden run`, with real processes: a held port is refused before anything
 * is spawned (a marker file proves it); PORT/PORT_<NAME> reach the service; readiness, wrong
 * ports, health checks and early exits are reported; signals are relayed and nothing is left
 * behind (K7, checked by pid + start time); the exit code passes through.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { commandLine } from '../src/core/run/run-service.js'
import { portEnvironment, portVariable } from '../src/core/index.js'
import { parseRunPorts } from '../src/cli/commands/run.js'
import { CLI } from './helpers/cli.js'
import type { Proc } from './run-helpers.js'
import {
  SERVICE_FIXTURE,
  cli,
  freePort,
  removeTempDirs,
  startCli,
  startProc,
  startTicks,
  stopProcs,
  tempDir,
} from './run-helpers.js'

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 })

afterEach(stopProcs)
afterAll(removeTempDirs)

const node = process.execPath
const fixture = (config: Record<string, unknown>) => [node, SERVICE_FIXTURE, JSON.stringify(config)]

/** A process (not started by run) listening on these TCP ports. */
async function holder(ports: number[], cwd?: string): Promise<{ pid: number; proc: Proc }> {
  const proc = startProc(node, [SERVICE_FIXTURE, JSON.stringify({ listenPorts: ports })], { cwd })
  const ready = JSON.parse((await proc.waitOut(/^READY (.*)$/))[1] as string) as { pid: number }
  return { pid: ready.pid, proc }
}

interface Ready {
  pid: number
  ports: number[]
  grandchild: number | null
}

async function serviceReady(run: Proc): Promise<Ready> {
  return JSON.parse((await run.waitOut(/^READY (.*)$/))[1] as string) as Ready
}

describe('run refuses a port that is taken, before spawning anything', () => {
  it('exits 1 with the conflict sentence naming every holder; the command never runs', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const a = await holder([p])
    const b = await holder([q])
    const marker = join(state, 'marker')
    const result = await cli(
      [
        'run',
        '--port',
        String(p),
        '--port',
        String(q),
        '--',
        node,
        '-e',
        `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`,
      ],
      { state },
    )
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(
      `portwarden: port conflict on ${p}, ${q}: already in use by node (pid ${a.pid}), node (pid ${b.pid})`,
    )
    expect(result.stderr).toContain(`portwarden who ${p}/tcp ${q}/tcp`)
    expect(existsSync(marker)).toBe(false)
    // No registry existed: a plain `run --port` must not create one.
    expect(existsSync(join(state, 'registry.db'))).toBe(false)
  })

  it('--json: the error document with the sentence, same exit code', async () => {
    const state = tempDir()
    const p = await freePort()
    const a = await holder([p])
    const result = await cli(['run', '--json', '--port', String(p), '--', 'true'], { state })
    expect(result.code).toBe(1)
    expect(JSON.parse(result.stdout)).toMatchObject({
      error: 'port_in_use',
      message: `port conflict on ${p}: already in use by node (pid ${a.pid})`,
    })
  })

  it('names a holder by its registry service when it serves that allocation, and honours allocations of others', async () => {
    const state = tempDir()
    const shop = join(state, 'shop')
    const other = join(state, 'other')
    mkdirSync(shop)
    mkdirSync(other)
    const [p, q] = [await freePort(), await freePort()]
    // The registry gives p to web_server and q to api (project shop, worktree `shop`).
    expect(
      (
        await cli(['alloc', 'web_server', '--project', 'shop', '--port', String(p)], {
          state,
          cwd: shop,
        })
      ).code,
    ).toBe(0)
    expect(
      (await cli(['alloc', 'api', '--project', 'shop', '--port', String(q)], { state, cwd: shop }))
        .code,
    ).toBe(0)
    const web = await holder([p], shop) // runs inside shop's worktree: it serves web_server
    const marker = join(state, 'marker')
    const touch = [node, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'ran')`]
    const held = await cli(['run', '--port', String(p), '--', ...touch], { state, cwd: other })
    expect(held.code).toBe(1)
    expect(held.stderr).toContain(
      `port conflict on ${p}: already in use by web_server (pid ${web.pid})`,
    )
    // q is free, but the registry allocates it to api of shop.
    const allocated = await cli(['run', '--port', String(q), '--', ...touch], { state, cwd: other })
    expect(allocated.code).toBe(1)
    expect(allocated.stderr).toContain(
      `port conflict on ${q}: allocated to api of project shop in the registry`,
    )
    expect(allocated.stderr).toContain('portwarden release api --project shop')
    expect(existsSync(marker)).toBe(false)
  })
})

describe('run starts the service with its ports', () => {
  it('sets PORT and PORT_<NAME>, reports ready, and exits with the service exit code', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const record = join(state, 'record.json')
    const run = startCli(
      [
        'run',
        '--name',
        'web-api',
        '--port',
        String(p),
        '--port',
        `admin=${q}`,
        '--',
        ...fixture({ listen: ['PORT', 'PORT_ADMIN'], record, exitOnStdinEnd: true, exitCode: 7 }),
      ],
      { state },
    )
    const ready = await serviceReady(run)
    await run.waitErr(
      new RegExp(`^portwarden: ready: web-api on ${p}, ${q} \\(listening, pid ${ready.pid}\\)$`),
    )
    const seen = JSON.parse(readFileSync(record, 'utf8')) as {
      pid: number
      ppid: number
      env: Record<string, string>
    }
    expect(seen.env).toEqual({ PORT: String(p), PORT_WEB_API: String(p), PORT_ADMIN: String(q) })
    expect(seen.ppid).toBe(run.pid) // spawned directly: no shell in between
    run.child.stdin.end() // the service exits 7 when its stdin (ours, passed through) closes
    expect((await run.waitExit()).code).toBe(7)
    expect(run.err.join('\n')).toContain('portwarden: web-api exited (exit code 7)')
  })

  it('without --name, PORT only: no PORT_<COMMAND> is invented from the command name', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const record = join(state, 'record.json')
    const run = startCli(
      [
        'run',
        '--port',
        String(p),
        '--port',
        `admin=${q}`,
        '--',
        ...fixture({ listen: ['PORT', 'PORT_ADMIN'], record, exitOnStdinEnd: true }),
      ],
      { state },
    )
    await serviceReady(run)
    const seen = JSON.parse(readFileSync(record, 'utf8')) as { env: Record<string, string> }
    expect(seen.env).toEqual({ PORT: String(p), PORT_ADMIN: String(q) })
    run.child.stdin.end()
    await run.waitExit()
  })

  it('passes the command and its flags through untouched (no shell, no option parsing)', async () => {
    const state = tempDir()
    const p = await freePort()
    const args = ['--port', '1', '--name', 'x', '$HOME', 'a b;c', '*']
    const run = startCli(
      [
        'run',
        '--port',
        String(p),
        '--timeout',
        '0',
        '--',
        node,
        '-e',
        'console.log(JSON.stringify(process.argv.slice(1)))',
        '--',
        ...args,
      ],
      { state },
    )
    run.child.stdin.end()
    expect((await run.waitExit()).code).toBe(0)
    expect(run.out).toEqual([JSON.stringify(args)])
  })

  it('runs the health check once it listens: HTTP 200 makes it ready, 503 is reported and it keeps running', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const ok = startCli(
      [
        'run',
        '--name',
        'web',
        '--port',
        String(p),
        '--health',
        'http:/healthz',
        '--',
        ...fixture({ listen: ['PORT'], http: 200 }),
      ],
      { state },
    )
    await ok.waitErr(new RegExp(`^portwarden: ready: web on ${p} \\(HTTP 200 in \\d+ ms\\)$`))
    const bad = startCli(
      [
        'run',
        '--name',
        'web',
        '--port',
        String(q),
        '--health',
        'http:/',
        '--expect',
        '200',
        '--',
        ...fixture({ listen: ['PORT'], http: 503 }),
      ],
      { state },
    )
    await bad.waitErr(
      new RegExp(
        `^portwarden: web listens on ${q}, but its health check failed: HTTP 503, expected 200 \\(it keeps running\\)$`,
      ),
    )
    expect(bad.hasExited()).toBe(false)
    expect(bad.err.join('\n')).not.toContain('ready:')
  })
})

describe('run tells when the service does not listen where it should', () => {
  it('never listens: says so within --timeout, and keeps the service running', async () => {
    const state = tempDir()
    const p = await freePort()
    const started = performance.now()
    const run = startCli(
      ['run', '--name', 'web', '--port', String(p), '--timeout', '1s', '--', ...fixture({})],
      { state },
    )
    await run.waitErr(
      new RegExp(`^portwarden: web did not listen on ${p} within 1 s \\(it keeps running\\)$`),
      10_000,
    )
    const elapsed = performance.now() - started
    expect(elapsed).toBeGreaterThanOrEqual(1000)
    expect(elapsed).toBeLessThan(8000)
    expect(run.hasExited()).toBe(false)
  })

  it('listens on another port: names both', async () => {
    const state = tempDir()
    const [p, other] = [await freePort(), await freePort()]
    const run = startCli(
      [
        'run',
        '--name',
        'web',
        '--port',
        String(p),
        '--timeout',
        '1s',
        '--',
        ...fixture({ listenPorts: [other] }),
      ],
      { state },
    )
    await run.waitErr(
      new RegExp(
        `^portwarden: web listens on ${other}, not ${p} \\(waited 1 s; it keeps running\\)$`,
      ),
      10_000,
    )
  })

  it('issue 10 item 11: says what it waits for, checks the health of the ports that are up, names the port that never came up', async () => {
    const state = tempDir()
    const [p, q] = [await freePort(), await freePort()]
    const run = startCli(
      [
        'run',
        '--json',
        '--name',
        'web',
        '--port',
        String(p),
        '--port',
        `${q}/udp`,
        '--health',
        'http:/',
        '--timeout',
        '3s',
        '--',
        ...fixture({ listen: ['PORT'], http: 200, exitOnStdinEnd: true }),
      ],
      { state },
    )
    await serviceReady(run)
    // Said while it waits, once, long before the verdict.
    await run.waitErr(
      new RegExp(`^portwarden: web listens on ${p}; waiting up to 3 s for ${q}/udp$`),
    )
    expect(run.err.join('\n')).not.toContain('never came up')
    await run.waitErr(
      new RegExp(
        `^portwarden: web listens on ${p} \\(HTTP 200 in \\d+ ms\\), but ${q}/udp never came up within 3 s \\(it keeps running\\)$`,
      ),
      10_000,
    )
    expect(run.err.filter((line) => line.includes('waiting up to'))).toHaveLength(1)
    expect(run.hasExited()).toBe(false)
    run.child.stdin.end()
    expect((await run.waitExit()).code).toBe(0)
    const json = JSON.parse(run.out.filter((line) => !line.startsWith('READY')).join('\n')) as {
      readiness: string
      health: { ok: boolean; detail: string } | null
      listeners: { port: number; protocol: string }[]
    }
    expect(json.readiness).toBe('timeout')
    expect(json.health).toMatchObject({ ok: true, detail: expect.stringMatching(/^HTTP 200/) })
    expect(json.listeners.map((l) => [l.port, l.protocol])).toEqual([[p, 'tcp']])
  })

  it('issue 10 item 11: on a terminal, a progress line is redrawn in place while it waits, and cleared', async () => {
    const state = tempDir()
    const p = await freePort()
    const command = [
      node,
      CLI,
      'run',
      '--name',
      'web',
      '--port',
      String(p),
      '--timeout',
      '3s',
      '--',
      ...fixture({ exitAfterMs: 4000, exitCode: 0 }),
    ]
      .map((a) => `'${a.replaceAll("'", "'\\''")}'`)
      .join(' ')
    const tty = startProc('script', ['-qfec', command, '/dev/null'], {
      env: {
        ...process.env,
        TERM: 'xterm-256color',
        NO_COLOR: '1',
        XDG_STATE_HOME: state,
        PORTWARDEN_REGISTRY: join(state, 'registry.db'),
      },
    })
    let screen = ''
    tty.child.stdout.on('data', (chunk: Buffer) => (screen += chunk.toString('utf8')))
    tty.child.stdin.end()
    await tty.waitExit(20_000)
    const clear = '\r\u001b[2K'
    // At least two redraws of one line (1 s, 2 s), each in place...
    expect(screen).toContain(`${clear}portwarden: waiting for web on ${p}: 1 s of 3 s`)
    expect(screen).toContain(`${clear}portwarden: waiting for web on ${p}: 2 s of 3 s`)
    // ...then cleared before the verdict, which gets a line of its own.
    const rest = screen.slice(screen.lastIndexOf(' of 3 s') + ' of 3 s'.length)
    expect(rest.startsWith(clear), JSON.stringify(rest)).toBe(true)
    expect(rest).toContain(
      `portwarden: web did not listen on ${p} within 3 s (it keeps running)\r\n`,
    )
    expect(screen.match(/waiting up to 3 s for web to listen on/g)).toHaveLength(1)
  })

  it('exits before listening: says so, with its exit code', async () => {
    const state = tempDir()
    const p = await freePort()
    const result = await cli(
      ['run', '--name', 'web', '--port', String(p), '--', ...fixture({ exitCode: 3 })],
      { state },
    )
    expect(result.code).toBe(3)
    expect(result.stderr).toContain(`portwarden: web exited (exit code 3) before listening on ${p}`)
  })

  it('a command that does not exist: exit 127 and a sentence, as env(1) and timeout(1) do', async () => {
    const state = tempDir()
    const p = await freePort()
    const result = await cli(
      ['run', '--name', 'web', '--port', String(p), '--', 'no-such-command-pw'],
      { state },
    )
    expect(result.code).toBe(127)
    expect(result.stderr).toContain(
      'portwarden: cannot start web: "no-such-command-pw": command not found (not in PATH)',
    )
  })
})

describe('run relays signals and leaves nothing behind (K7)', () => {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${signal} to run reaches the service once; run exits with the service's code`, async () => {
      const state = tempDir()
      const p = await freePort()
      const signals = join(state, 'signals')
      const run = startCli(
        [
          'run',
          '--name',
          'web',
          '--port',
          String(p),
          '--',
          ...fixture({
            listen: ['PORT'],
            signalFile: signals,
            signalExitCode: 42,
            grandchild: true,
          }),
        ],
        { state },
      )
      const ready = await serviceReady(run)
      await run.waitErr(/ready: web/)
      const service = { pid: ready.pid, ticks: startTicks(ready.pid) }
      const grandchild = {
        pid: ready.grandchild as number,
        ticks: startTicks(ready.grandchild as number),
      }
      expect(service.ticks).not.toBeNull()
      expect(grandchild.ticks).not.toBeNull()
      process.kill(run.pid, signal)
      const exit = await run.waitExit()
      expect(exit.code).toBe(42)
      expect(readFileSync(signals, 'utf8')).toBe(`${signal}\n`)
      // No orphan: neither the service nor what it started is still running (same pid and start time).
      expect(startTicks(service.pid) === service.ticks).toBe(false)
      expect(startTicks(grandchild.pid) === grandchild.ticks).toBe(false)
      expect(run.err.join('\n')).toContain(
        `stopped 1 process web left running (pid ${grandchild.pid})`,
      )
    })
  }

  it('a service that dies of the signal: run exits 128 + its number', async () => {
    const state = tempDir()
    const p = await freePort()
    const signals = join(state, 'signals')
    const run = startCli(
      [
        'run',
        '--name',
        'web',
        '--port',
        String(p),
        '--',
        ...fixture({ listen: ['PORT'], signalFile: signals, onSignal: 'default' }),
      ],
      { state },
    )
    const ready = await serviceReady(run)
    await run.waitErr(/ready: web/)
    const ticks = startTicks(ready.pid)
    process.kill(run.pid, 'SIGTERM')
    expect((await run.waitExit()).code).toBe(143)
    expect(readFileSync(signals, 'utf8')).toBe('SIGTERM\n')
    expect(startTicks(ready.pid) === ticks).toBe(false)
    expect(run.err.join('\n')).toContain('web exited (killed by SIGTERM)')
  })
})

describe('run SERVICE from portwarden.toml', () => {
  it('runs the manifest command through sh with $PORT, in the manifest directory, as the direct child', async () => {
    const state = tempDir()
    const project = join(state, 'proj')
    const below = join(project, 'src', 'deep')
    mkdirSync(below, { recursive: true })
    const p = await freePort()
    const record = join(state, 'record.json')
    const config = JSON.stringify({
      listen: ['PORT'],
      udp: ['PORT_WEB_2'],
      record,
      exitOnStdinEnd: true,
      exitCode: 5,
      http: 200,
    })
    writeFileSync(
      join(project, 'portwarden.toml'),
      [
        'project = "demo"',
        '[services.web]',
        `ports = [${p}, "auto/udp"]`,
        `command = "${node} ${SERVICE_FIXTURE} '${config.replaceAll('"', '\\"')}' --port $PORT"`,
        'health = { http = "/", expect = 200 }',
      ].join('\n'),
    )
    const run = startCli(['run', 'web'], { state, cwd: below })
    const ready = await serviceReady(run)
    const seen = JSON.parse(readFileSync(record, 'utf8')) as {
      ppid: number
      cwd: string
      env: Record<string, string>
      argv: string[]
    }
    expect(seen.ppid).toBe(run.pid) // `exec` in front of a simple command: the shell became the service
    expect(seen.cwd).toBe(project)
    expect(seen.argv.slice(1)).toEqual(['--port', String(p)])
    const udp = Number(seen.env.PORT_WEB_2)
    expect(seen.env).toEqual({ PORT: String(p), PORT_WEB: String(p), PORT_WEB_2: String(udp) })
    expect(ready.ports).toEqual([p, udp])
    await run.waitErr(
      new RegExp(`^portwarden: ready: web on ${p}, ${udp}/udp \\(HTTP 200 in \\d+ ms\\)$`),
    )
    // The auto port is allocated in the registry for project demo, service web-2.
    const status = await cli(['status', '--json', '--project', 'demo'], { state })
    const rows = (
      JSON.parse(status.stdout) as {
        allocations: { service: string; port: number; protocol: string }[]
      }
    ).allocations
    expect(rows.map((r) => [r.service, r.protocol, r.port])).toEqual([['web-2', 'udp', udp]])
    run.child.stdin.end()
    expect((await run.waitExit()).code).toBe(5)
  })

  it('a compound manifest command keeps sh as the parent: signals reach every process, none is left', async () => {
    const state = tempDir()
    const p = await freePort()
    const record = join(state, 'record.json')
    const signals = join(state, 'signals')
    const config = JSON.stringify({
      listen: ['PORT'],
      record,
      signalFile: signals,
      signalExitCode: 0,
    })
    writeFileSync(
      join(state, 'portwarden.toml'),
      [
        '[services.api]',
        `ports = [${p}]`,
        `command = "cd . && ${node} ${SERVICE_FIXTURE} '${config.replaceAll('"', '\\"')}'"`,
      ].join('\n'),
    )
    const run = startCli(['run', 'api'], { state, cwd: state })
    const ready = await serviceReady(run)
    await run.waitErr(/ready: api/)
    const seen = JSON.parse(readFileSync(record, 'utf8')) as { ppid: number }
    expect(seen.ppid).not.toBe(run.pid) // the shell is in between
    const shell = { pid: seen.ppid, ticks: startTicks(seen.ppid) }
    const service = { pid: ready.pid, ticks: startTicks(ready.pid) }
    process.kill(run.pid, 'SIGTERM')
    expect((await run.waitExit()).code).toBe(143) // sh died of SIGTERM
    expect(readFileSync(signals, 'utf8')).toBe('SIGTERM\n')
    expect(startTicks(shell.pid) === shell.ticks).toBe(false)
    expect(startTicks(service.pid) === service.ticks).toBe(false)
  })

  it('usage errors exit 2 with what to do', async () => {
    const state = tempDir()
    const cases: [string[], RegExp][] = [
      [['run'], /needs a SERVICE from portwarden\.toml, or --port SPEC -- COMMAND/],
      [['run', '--port', '8080'], /needs the command to start, after `--`/],
      [['run', '--port', '8080-8090', '--', 'true'], /run needs single ports, not a range/],
      [['run', '--port', '8080', '--port', '8080/tcp', '--', 'true'], /is given twice/],
      [['run', '--port', '0', '--', 'true'], /Invalid port spec "0"/],
      [['run', '--port', '8080', '--timeout', '1e3', '--', 'true'], /Invalid --timeout "1e3"/],
      [['run', '--', 'true'], /needs the ports the command will listen on/],
    ]
    for (const [args, message] of cases) {
      const result = await cli(args, { state, cwd: state })
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr, args.join(' ')).toMatch(message)
    }
  })
})

describe('the pieces (no processes)', () => {
  it('PORT_<NAME>: upper case, every other character _', () => {
    expect(portVariable('web-api.v2')).toBe('PORT_WEB_API_V2')
    expect(
      portEnvironment('web', [
        { name: 'web', protocol: 'tcp', port: 8080 },
        { name: 'web-2', protocol: 'udp', port: 9000 },
        { name: 'metrics', protocol: 'tcp', port: 9100 },
      ]),
    ).toEqual({ PORT: '8080', PORT_WEB: '8080', PORT_WEB_2: '9000', PORT_METRICS: '9100' })
    expect(portEnvironment('web', [])).toEqual({})
  })

  it('--port values: single ports, optional names, unnamed ones named as the manifest does', () => {
    expect(parseRunPorts(['8080', 'metrics=9100,9000/udp'], 'web')).toEqual([
      { name: 'web', protocol: 'tcp', port: 8080 },
      { name: 'metrics', protocol: 'tcp', port: 9100 },
      { name: 'web-3', protocol: 'udp', port: 9000 },
    ])
    expect(parseRunPorts(['8080', '9000'], null).map((p) => p.name)).toEqual([null, null])
    expect(() => parseRunPorts(['1x=80'], 'web')).toThrow(/not a port name/)
    expect(() => parseRunPorts(['80-81'], 'web')).toThrow(/single ports, not a range/)
  })

  it('a manifest command: exec for one simple command, the shell kept for anything compound', () => {
    const shell = (text: string) => commandLine({ shell: text })
    expect(shell('python3 -m http.server $PORT')).toEqual({
      file: '/bin/sh',
      args: ['-c', 'exec python3 -m http.server $PORT'],
      compound: false,
    })
    expect(shell(`node x.js '{"a": 1}'`).compound).toBe(false)
    for (const text of [
      'cd app && npm start',
      'a; b',
      'a | b',
      'a > log',
      'FOO=1 node x',
      'if true; then x; fi',
      'echo $(pwd)',
    ]) {
      expect(shell(text), text).toMatchObject({ args: ['-c', text], compound: true })
    }
    expect(shell('exec node x')).toEqual({
      file: '/bin/sh',
      args: ['-c', 'exec node x'],
      compound: false,
    })
    expect(commandLine({ argv: ['node', 'a b', '$X'] })).toEqual({
      file: 'node',
      args: ['a b', '$X'],
      compound: false,
    })
  })
})

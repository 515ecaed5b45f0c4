/**
 * Issue 6, `portwarden serve` security: H1 (loopback only), H2 (Host matrix, on raw sockets),
 * H4 (Origin / Fetch metadata / content types, no CORS), H6 (token), H7 (another local user),
 * H8 (event stream refusals and 500 connect/disconnect cycles).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { CLI, NOBODY, asUid, whyNobodyCannotRun } from './helpers/cli.js'
import { stopStarted } from './helpers/processes.js'
import {
  httpRequest,
  rawRequest,
  removeServeDirs,
  serveTempDir,
  startServe,
  stopServe,
} from './helpers/serve.js'
import { ssSnapshot } from './helpers/sockets.js'

afterEach(stopStarted)
afterAll(removeServeDirs)

/** The listening addresses of `pid`, from ss (other engineers' benches may hold 100k sockets). */
function listenersOf(pid: number): string[] {
  const ss = spawnSync('ss', ['-tlnpH'], { encoding: 'utf8', maxBuffer: 1 << 28 })
  return ss.stdout
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] as string)
}

const ssMissing = spawnSync('ss', ['-V']).status !== 0

describe('H1: loopback only', () => {
  it.skipIf(ssMissing)('with no --host the only listener is 127.0.0.1:PORT (ss)', async () => {
    const serve = await startServe()
    expect(listenersOf(serve.pid)).toEqual([`127.0.0.1:${serve.port}`])
    expect(serve.process.stderr()).not.toContain('warning')
    expect(await stopServe(serve)).toBe(0)
    void ssSnapshot
  })

  it('--host 0.0.0.0 warns on stderr and then needs the token on every route', async () => {
    const serve = await startServe({ args: ['--host', '0.0.0.0'] })
    expect(serve.process.stderr()).toMatch(
      /warning: serving on 0\.0\.0\.0, which is not a loopback address/,
    )
    const anonymous = await serve.request('/api/system/ports', { auth: false })
    expect(anonymous.status).toBe(401)
    expect((await serve.request('/metrics', { auth: false })).status).toBe(401)
    expect((await serve.request('/api/system/ports')).status).toBe(200)
    expect(await stopServe(serve)).toBe(0)
  })
})

describe('H2: Host allow-list (raw sockets)', () => {
  it('foreign, missing or doubled Host is refused before any handler runs; loopback forms answer', async () => {
    const serve = await startServe()
    const p = serve.port
    const auth = `Authorization: Bearer ${serve.token}`
    const json = 'Content-Type: application/json'
    const body = JSON.stringify({ project: 'h2', service: 'web' })
    const cases: [string[], number | number[]][] = [
      [[`Host: evil.example:${p}`], 403],
      [[`Host: localhost.evil.example:${p}`], 403],
      [[`Host: 127.0.0.1.nip.io:${p}`], 403],
      [[`Host: localhost:${p + 1 > 65535 ? p - 1 : p + 1}`], 403],
      [
        [`Host: 127.0.0.1:${p}`, `Host: evil.example:${p}`],
        [400, 403],
      ],
      [[`Host: LOCALHOST:${p}`], 200],
      [[`Host: [::1]:${p}`], 200],
      [[`Host: 127.0.0.1:${p}`], 200],
      [[`Host: localhost:${p}`], 200],
    ]
    for (const [hosts, status] of cases) {
      const get = await rawRequest(p, httpRequest('GET', '/api/allocations', hosts))
      expect([status].flat(), `GET ${hosts.join(' + ')}`).toContain(get.status)
      const post = await rawRequest(
        p,
        httpRequest('POST', '/api/allocations', [...hosts, auth, json], body),
      )
      const wanted = [status].flat().map((s) => (s === 200 ? 201 : s))
      if (wanted.includes(201)) {
        // The first accepted POST creates, later ones find it (200).
        expect([200, 201], `POST ${hosts.join(' + ')}`).toContain(post.status)
      } else {
        expect(wanted, `POST ${hosts.join(' + ')}`).toContain(post.status)
        expect(JSON.parse(post.body).error).toMatch(/^(forbidden_host|invalid_request)$/)
        // No side effect: nothing was created by a refused request.
        if (!existsSync(serve.registry)) continue
      }
    }
    // HTTP/1.0 without a Host header.
    const old = await rawRequest(p, 'GET /api/allocations HTTP/1.0\r\n\r\n')
    expect(old.status).toBe(403)
    expect(JSON.parse(old.body)).toMatchObject({ error: 'forbidden_host' })
    const oldPost = await rawRequest(
      p,
      `POST /api/allocations HTTP/1.0\r\n${auth}\r\n${json}\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    )
    expect(oldPost.status).toBe(403)
    expect(await stopServe(serve)).toBe(0)
  })

  it('a refused POST changes nothing: no registry is created', async () => {
    const serve = await startServe()
    const answer = await rawRequest(
      serve.port,
      httpRequest(
        'POST',
        '/api/allocations',
        [
          `Host: evil.example:${serve.port}`,
          `Authorization: Bearer ${serve.token}`,
          'Content-Type: application/json',
        ],
        JSON.stringify({ project: 'h2', service: 'web' }),
      ),
    )
    expect(answer.status).toBe(403)
    expect(existsSync(serve.registry)).toBe(false)
    expect(await stopServe(serve)).toBe(0)
  })
})

describe('H4: Origin, Fetch metadata, content types; never CORS', () => {
  it('refuses cross-origin and non-JSON state changes with 403/415 and sends no CORS headers', async () => {
    const serve = await startServe()
    const body = { project: 'h4', service: 'web' }
    const refused: [Record<string, string>, number, string][] = [
      [{ origin: 'http://evil.example' }, 403, 'forbidden_origin'],
      [{ origin: 'null' }, 403, 'forbidden_origin'],
      [{ origin: `http://localhost:${serve.port}.evil.example` }, 403, 'forbidden_origin'],
      [{ 'sec-fetch-site': 'cross-site' }, 403, 'forbidden_origin'],
      [{ 'sec-fetch-site': 'same-site' }, 403, 'forbidden_origin'],
      [{ 'content-type': 'text/plain' }, 415, 'unsupported_media_type'],
      [{ 'content-type': 'application/x-www-form-urlencoded' }, 415, 'unsupported_media_type'],
      [{ 'content-type': 'multipart/form-data; boundary=x' }, 415, 'unsupported_media_type'],
    ]
    for (const [headers, status, code] of refused) {
      const answer = await serve.request('/api/allocations', { method: 'POST', body, headers })
      expect(answer.status, JSON.stringify(headers)).toBe(status)
      expect(answer.json.error).toBe(code)
      expect(answer.headers.get('access-control-allow-origin')).toBeNull()
    }
    const preflight = await serve.request('/api/allocations', {
      method: 'OPTIONS',
      auth: false,
      headers: { origin: 'http://evil.example', 'access-control-request-method': 'POST' },
    })
    expect(preflight.status).toBe(403)
    expect([...preflight.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([])
    const plainOptions = await serve.request('/api/allocations', { method: 'OPTIONS', auth: false })
    expect(plainOptions.status).toBe(405)
    expect(plainOptions.headers.get('access-control-allow-origin')).toBeNull()
    expect((await serve.request('/api/allocations', { auth: false })).json.allocations).toEqual([])
    // The dashboard's own requests pass.
    const own = await serve.request('/api/allocations', {
      method: 'POST',
      body,
      headers: { origin: serve.url, 'sec-fetch-site': 'same-origin' },
    })
    expect(own.status).toBe(201)
    expect(await stopServe(serve)).toBe(0)
  })
})

describe('H6: the token', () => {
  it('every mutating route refuses a missing, wrong, near, lower-case or query-string token with 401', async () => {
    const serve = await startServe()
    const near = `${serve.token.slice(0, -1)}${serve.token.endsWith('A') ? 'B' : 'A'}`
    const routes: [string, string, unknown][] = [
      ['POST', '/api/allocations', { project: 'h6', service: 'web' }],
      ['DELETE', '/api/allocations/1', undefined],
      ['POST', `/api/ports/${serve.port}/free`, { dry_run: true }],
      ['POST', '/api/health-checks', undefined],
    ]
    const variants: [string, Record<string, string>, string][] = [
      ['none', {}, ''],
      ['wrong', { authorization: 'Bearer wrong-token' }, ''],
      ['one character off', { authorization: `Bearer ${near}` }, ''],
      ['lower-case bearer', { authorization: `bearer ${serve.token}` }, ''],
      ['Basic', { authorization: `Basic ${serve.token}` }, ''],
      ['query string', {}, `?token=${serve.token}`],
      [
        'query string and header',
        { authorization: `Bearer ${serve.token}` },
        `?access_token=${serve.token}`,
      ],
    ]
    for (const [method, path, body] of routes) {
      for (const [name, headers, query] of variants) {
        const answer = await serve.request(`${path}${query}`, {
          method,
          body,
          headers,
          auth: false,
        })
        expect(answer.status, `${method} ${path} with ${name}`).toBe(401)
        expect(answer.json.error).toBe('unauthorized')
        expect(answer.text).not.toContain(serve.token)
      }
    }
    expect((await serve.request('/api/allocations', { auth: false })).json.allocations).toEqual([])
    expect(await stopServe(serve)).toBe(0)
  })

  it('the token file is 0600 in a 0700 directory we own, kept across restarts, and in no argv or environment', async () => {
    const dir = serveTempDir()
    const serve = await startServe({ dir })
    const file = join(serve.stateDir, 'token')
    const fileStat = statSync(file)
    const dirStat = statSync(serve.stateDir)
    expect(fileStat.mode & 0o777).toBe(0o600)
    expect(dirStat.mode & 0o777).toBe(0o700)
    expect(fileStat.uid).toBe(process.getuid?.())
    expect(readFileSync(file, 'utf8').trim()).toBe(serve.token)
    expect(Buffer.from(serve.token, 'base64url')).toHaveLength(32)
    let scanned = 0
    for (const pid of readdirSync('/proc').filter((name) => /^[0-9]+$/.test(name))) {
      for (const part of ['cmdline', 'environ']) {
        let text: string
        try {
          text = readFileSync(`/proc/${pid}/${part}`, 'latin1')
        } catch {
          continue // gone, or another user's
        }
        scanned++
        expect(text.includes(serve.token), `/proc/${pid}/${part}`).toBe(false)
      }
    }
    expect(scanned).toBeGreaterThan(2)
    expect(serve.process.stderr()).not.toContain(serve.token)
    expect(await stopServe(serve)).toBe(0)
    const again = await startServe({ dir })
    expect(again.token).toBe(serve.token)
    expect(await stopServe(again)).toBe(0)
  })

  it('refuses a token file other users can read (exit 3, what to do)', async () => {
    const dir = serveTempDir()
    const first = await startServe({ dir })
    expect(await stopServe(first)).toBe(0)
    chmodSync(join(first.stateDir, 'token'), 0o644)
    const second = spawnSync(process.execPath, [CLI, 'serve', '--port', '0'], {
      env: { ...process.env, PORTWARDEN_STATE_DIR: first.stateDir },
      encoding: 'utf8',
      timeout: 10_000,
    })
    expect(second.status).toBe(3)
    expect(second.stderr).toContain('can be read by other users')
    expect(second.stderr).toContain('chmod 600')
    writeFileSync(join(first.stateDir, 'unused'), '')
  })
})

describe('H7: another local user', () => {
  const why = whyNobodyCannotRun()
  it.skipIf(why !== null)(
    `nobody cannot read the token and gets 401 ${why ? `(SKIPPED: ${why})` : ''}`,
    async () => {
      const serve = await startServe()
      const read = spawnSync(...asUid(NOBODY, 'cat', [join(serve.stateDir, 'token')]), {
        encoding: 'utf8',
      })
      expect(read.status).not.toBe(0)
      expect(read.stderr).toMatch(/Permission denied/)
      const script = `fetch(${JSON.stringify(`${serve.url}/api/allocations`)}, {method: 'POST', headers: {'content-type': 'application/json'}, body: '{"project":"h7","service":"web"}'}).then(async (r) => console.log(r.status, await r.text()))`
      const call = spawnSync(...asUid(NOBODY, process.execPath, ['-e', script]), {
        encoding: 'utf8',
        cwd: '/',
      })
      expect(call.stdout).toMatch(/^401 .*"unauthorized"/)
      expect(await stopServe(serve)).toBe(0)
    },
  )
})

describe('H8: the event stream', () => {
  it('refuses a foreign Host or Origin before any event is sent', async () => {
    const serve = await startServe()
    const host = await rawRequest(
      serve.port,
      httpRequest('GET', '/api/events', ['Host: evil.example']),
    )
    expect(host.status).toBe(403)
    expect(host.body).not.toContain('event:')
    const origin = await rawRequest(
      serve.port,
      httpRequest('GET', '/api/events', [
        `Host: 127.0.0.1:${serve.port}`,
        'Origin: http://evil.example',
      ]),
    )
    expect(origin.status).toBe(403)
    expect(origin.body).not.toContain('event:')
    expect(await stopServe(serve)).toBe(0)
  })

  it('500 connect/disconnect cycles leave no subscriber, no leaked fd, no listener warning', async () => {
    const serve = await startServe()
    const fds = () => readdirSync(`/proc/${serve.pid}/fd`).length
    const clients = async () =>
      Number(
        /^portwarden_event_stream_clients (\d+)$/m.exec(
          (await serve.request('/metrics', { auth: false })).text,
        )?.[1],
      )
    const before = fds()
    for (let i = 0; i < 500; i++) {
      const controller = new AbortController()
      const response = await fetch(`${serve.url}/api/events`, { signal: controller.signal })
      const reader = response.body!.getReader()
      await reader.read() // the ": connected" comment: the subscription exists
      controller.abort()
      await reader.read().catch(() => undefined)
    }
    const deadline = Date.now() + 10_000
    while ((await clients()) !== 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50))
    expect(await clients()).toBe(0)
    expect(Math.abs(fds() - before)).toBeLessThanOrEqual(5)
    expect(serve.process.stderr()).not.toMatch(/MaxListenersExceeded|Warning/)
    expect(await stopServe(serve)).toBe(0)
  }, 60_000)
})

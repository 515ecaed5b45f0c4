/**
 * Issue 3, item 4: level-3 health probes against real services on loopback: PostgreSQL and
 * Redis started from their Debian binaries, node:http and node:https servers, and TCP servers
 * that accept and never answer, speak another protocol, or refuse. Every probe must answer with a
 * sentence, never throw, and leave no socket or timer behind.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server, Socket } from 'node:net'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { ServiceProbeResult } from '../src/core/health/probes.js'
import {
  probeDefault,
  probeHttp,
  probePostgres,
  probeRedis,
  probeTcpConnect,
} from '../src/core/health/probes.js'
import { commandExists, startProcess, stopStarted } from './helpers/processes.js'
import { selfSignedCertificate } from './helpers/tls.js'
import type { RunningPostgres, RunningRedis } from './helpers/servers.js'
import {
  freeLoopbackPort,
  postgresBinaries,
  redisBinary,
  startPostgres,
  startRedis,
} from './helpers/servers.js'

const LOOPBACK = '127.0.0.1'
const SHORT = 300

const PG_BIN = postgresBinaries()
const REDIS_BIN = redisBinary()
const HAS_OPENSSL = commandExists('openssl')
/** ::1 is configured (decided at collection time, where skipIf is evaluated). */
const HAS_IPV6_LOOPBACK = (() => {
  try {
    return readFileSync('/proc/net/if_inet6', 'utf8').includes('00000000000000000000000000000001')
  } catch {
    return false
  }
})()
const PG_SKIP =
  'SKIPPED: no PostgreSQL binaries (initdb, postgres) under /usr/lib/postgresql/*/bin — apt-get install postgresql'
const REDIS_SKIP = 'SKIPPED: no redis-server on PATH — apt-get install redis-server'
const TLS_SKIP = 'SKIPPED: no openssl to make a self-signed certificate — apt-get install openssl'
for (const [missing, reason] of [
  [!PG_BIN, PG_SKIP],
  [!REDIS_BIN, REDIS_SKIP],
  [!HAS_OPENSSL, TLS_SKIP],
] as const) {
  if (missing) console.warn(`\n*** health-probes: ${reason} ***\n`)
}

// --- plain TCP fixtures ---------------------------------------------------------------------

interface TcpFixture {
  server: Server
  port: number
  close(): Promise<void>
}

/** A TCP server on loopback whose connections are handled by `onConnection`. */
async function tcpServer(
  onConnection: (socket: Socket) => void,
  host = LOOPBACK,
): Promise<TcpFixture> {
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => undefined)
    // Read (and drop) what clients send, so that their FIN is seen and the socket closes.
    socket.resume()
    onConnection(socket)
  })
  const port = await listen(server, host)
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

function listen(server: Server | HttpServer, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => {
      const address = server.address()
      resolve(typeof address === 'object' && address ? address.port : 0)
    })
  })
}

function closeHttp(server: HttpServer): Promise<void> {
  return new Promise((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })
}

function httpHandler(request: IncomingMessage, response: ServerResponse): void {
  const routes: Record<string, [number, string]> = {
    '/healthz': [200, 'ok'],
    '/stale': [503, 'stale'],
    '/moved': [302, ''],
  }
  const [status, body] = routes[request.url ?? ''] ?? [404, 'not found']
  if (status === 302) response.setHeader('Location', '/healthz')
  response.writeHead(status, { 'Content-Type': 'text/plain' })
  response.end(body)
}

/** Details are sentences: non-empty, one line, no stack trace, no `[object Object]`. */
function expectSentence(result: ServiceProbeResult): void {
  expect(typeof result.detail).toBe('string')
  expect(result.detail.length).toBeGreaterThan(3)
  expect(result.detail).not.toMatch(/\n|\bat .*:\d+:\d+|\[object|undefined|NaN/)
  expect(Number.isFinite(result.latencyMs)).toBe(true)
  expect(result.latencyMs).toBeGreaterThanOrEqual(0)
}

/** Handles that a probe could leak: its socket (TCP/TLS) and its timers. */
function handleCounts(): Record<string, number> {
  const counts: Record<string, number> = { TCPSocketWrap: 0, TLSWrap: 0, Timeout: 0 }
  for (const type of process.getActiveResourcesInfo()) {
    if (type in counts) counts[type] = (counts[type] ?? 0) + 1
  }
  return counts
}

async function waitForHandlesAtMost(
  baseline: Record<string, number>,
  withinMs = 3000,
): Promise<Record<string, number>> {
  const deadline = Date.now() + withinMs
  for (;;) {
    const now = handleCounts()
    const settled = Object.keys(baseline).every((type) => (now[type] ?? 0) <= (baseline[type] ?? 0))
    if (settled || Date.now() > deadline) return now
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

let closedPort = 0
let silent: TcpFixture
let garbage: TcpFixture
let banner: TcpFixture
let web: HttpServer
let webPort = 0
let web6: HttpServer | null = null
let web6Port = 0

beforeAll(async () => {
  // Not listening: taken from listen(0) and given back.
  closedPort = await freeLoopbackPort()
  // Accepts and never says a word.
  silent = await tcpServer(() => undefined)
  // Answers anything with an HTTP error, then hangs up.
  garbage = await tcpServer((socket) => {
    socket.once('data', () => socket.end('HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n'))
  })
  // Speaks first, like sshd.
  banner = await tcpServer((socket) => socket.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n'))
  web = createHttpServer(httpHandler)
  webPort = await listen(web, LOOPBACK)
  if (HAS_IPV6_LOOPBACK) {
    web6 = createHttpServer(httpHandler)
    web6Port = await listen(web6, '::1')
  }
})

afterAll(async () => {
  await Promise.all([
    silent?.close(),
    garbage?.close(),
    banner?.close(),
    web && closeHttp(web),
    web6 && closeHttp(web6),
  ])
  await stopStarted()
})

describe('probeTcpConnect', () => {
  it('is ok when the port accepts a connection, and says how fast', async () => {
    const result = await probeTcpConnect(LOOPBACK, webPort)
    expect(result).toMatchObject({ ok: true })
    expect(result.detail).toMatch(/^accepted a TCP connection in \d+ ms$/)
    expectSentence(result)
  })

  it('says "connection refused" for a port nobody listens on', async () => {
    const result = await probeTcpConnect(LOOPBACK, closedPort)
    expect(result).toMatchObject({ ok: false, detail: 'connection refused' })
    expectSentence(result)
  })

  it.skipIf(!HAS_IPV6_LOOPBACK)('takes an IPv6 literal, bare or in brackets', async () => {
    expect(await probeTcpConnect('::1', web6Port)).toMatchObject({ ok: true })
    expect(await probeTcpConnect('[::1]', web6Port)).toMatchObject({ ok: true })
  })

  it('times out the connect step when the listen queue is full', async () => {
    // A listener with backlog 0 that never accepts: once its queue is full, the kernel drops
    // further SYNs, and a connect hangs, all on loopback.
    const proc = startProcess('python3', [
      '-c',
      'import socket,time\n' +
        's=socket.socket(); s.bind(("127.0.0.1",0)); s.listen(0)\n' +
        'print("READY", s.getsockname()[1], flush=True)\n' +
        'time.sleep(120)',
    ])
    const port = Number((await proc.waitForLine(/^READY (\d+)$/))[1])
    const fillers: Socket[] = []
    try {
      // Fill the accept queue (it holds backlog+1 connections).
      for (let i = 0; i < 3; i++) {
        const filler = connect(port, LOOPBACK)
        filler.on('error', () => undefined)
        fillers.push(filler)
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
      const started = Date.now()
      const result = await probeTcpConnect(LOOPBACK, port, { timeoutMs: SHORT })
      expect(result).toMatchObject({ ok: false, detail: `timed out after ${SHORT} ms connecting` })
      expect(Date.now() - started).toBeLessThan(SHORT + 1000)
      expect(result.latencyMs).toBeGreaterThanOrEqual(SHORT - 5)
    } finally {
      for (const filler of fillers) filler.destroy()
    }
  })

  it('answers bad input with an outcome, not an exception', async () => {
    expect(await probeTcpConnect(LOOPBACK, 0)).toMatchObject({
      ok: false,
      detail: 'invalid port 0 (expected 1-65535)',
    })
    expect(await probeTcpConnect(LOOPBACK, 70000)).toMatchObject({ ok: false })
    expect(await probeTcpConnect('', 80)).toMatchObject({ ok: false, detail: 'no host given' })
    const unresolvable = await probeTcpConnect('no-such-host.invalid', 80, { timeoutMs: 1500 })
    expect(unresolvable.ok).toBe(false)
    expectSentence(unresolvable)
  })
})

describe('probeDefault (no declared check): a connect, and the HTTP status when it speaks HTTP', () => {
  let failing: HttpServer
  let failingPort = 0
  beforeAll(async () => {
    failing = createHttpServer((_request, response) => {
      response.writeHead(500, { 'Content-Type': 'text/plain' })
      response.end('boom')
    })
    failingPort = await listen(failing, LOOPBACK)
  })
  afterAll(() => closeHttp(failing))

  it('is not ok on HTTP 500, though the port accepts connections (a TCP probe says ok)', async () => {
    expect((await probeTcpConnect(LOOPBACK, failingPort)).ok).toBe(true)
    const result = await probeDefault(LOOPBACK, failingPort)
    expect(result).toMatchObject({ ok: false, detail: 'HTTP 500, a server error' })
    expectSentence(result)
  })

  it('is ok on 2xx/3xx, and on 4xx (the service answers; GET / is refused)', async () => {
    // the fixture answers 404 on /
    const result = await probeDefault(LOOPBACK, webPort)
    expect(result.ok).toBe(true)
    expect(result.detail).toMatch(/^HTTP 404 in \d+ ms \(it answers; GET \/ is refused\)$/)
    const ok = createHttpServer((_request, response) => response.end('hi'))
    try {
      const port = await listen(ok, LOOPBACK)
      expect((await probeDefault(LOOPBACK, port)).detail).toMatch(/^HTTP 200 in \d+ ms$/)
    } finally {
      await closeHttp(ok)
    }
  })

  it('keeps the TCP result for services that do not speak HTTP, saying why', async () => {
    const spoke = await probeDefault(LOOPBACK, banner.port)
    expect(spoke.ok).toBe(true)
    expect(spoke.detail).toMatch(
      /^accepted a TCP connection in \d+ ms \(the service speaks first: not HTTP\)$/,
    )
    const quiet = await probeDefault(LOOPBACK, silent.port, { timeoutMs: SHORT })
    expect(quiet.ok).toBe(true)
    expect(quiet.detail).toMatch(/\(no answer to an HTTP request within 300 ms\)$/)
    const other = await tcpServer((socket) =>
      socket.once('data', () => socket.end('-ERR what\r\n')),
    )
    try {
      expect((await probeDefault(LOOPBACK, other.port)).detail).toMatch(/\(not HTTP\)$/)
    } finally {
      await other.close()
    }
  })

  it('is not ok when nothing listens', async () => {
    expect(await probeDefault(LOOPBACK, closedPort)).toMatchObject({
      ok: false,
      detail: 'connection refused',
    })
  })
})

describe('probeHttp', () => {
  it('is ok on 200 and reports status and time', async () => {
    const result = await probeHttp({ host: LOOPBACK, port: webPort, path: '/healthz', expect: 200 })
    expect(result.ok).toBe(true)
    expect(result.detail).toMatch(/^HTTP 200 in \d+ ms$/)
    expectSentence(result)
  })

  it('is not ok on 503, and says what it expected', async () => {
    expect(
      await probeHttp({ host: LOOPBACK, port: webPort, path: '/stale', expect: 200 }),
    ).toMatchObject({
      ok: false,
      detail: 'HTTP 503, expected 200',
    })
    expect(await probeHttp({ host: LOOPBACK, port: webPort, path: '/stale' })).toMatchObject({
      ok: false,
      detail: 'HTTP 503, expected 2xx or 3xx',
    })
  })

  it('takes any 2xx/3xx without expect, and exactly expect with it', async () => {
    expect((await probeHttp({ host: LOOPBACK, port: webPort, path: '/moved' })).detail).toMatch(
      /^HTTP 302 in \d+ ms$/,
    )
    expect((await probeHttp({ host: LOOPBACK, port: webPort, path: '/moved' })).ok).toBe(true)
    expect(
      (await probeHttp({ host: LOOPBACK, port: webPort, path: '/moved', expect: 200 })).ok,
    ).toBe(false)
    expect(
      (await probeHttp({ host: LOOPBACK, port: webPort, path: '/nope', expect: 404 })).ok,
    ).toBe(true)
    expect((await probeHttp({ host: LOOPBACK, port: webPort })).detail).toBe(
      'HTTP 404, expected 2xx or 3xx',
    )
    expect((await probeHttp({ host: LOOPBACK, port: webPort, path: 'healthz' })).ok).toBe(true)
  })

  it.skipIf(!HAS_IPV6_LOOPBACK)('works on an IPv6 literal', async () => {
    expect(
      await probeHttp({ host: '::1', port: web6Port, path: '/healthz', expect: 200 }),
    ).toMatchObject({ ok: true })
  })

  it('says "connection refused" on a closed port', async () => {
    expect(await probeHttp({ host: LOOPBACK, port: closedPort })).toMatchObject({
      ok: false,
      detail: 'connection refused',
    })
  })

  it('times out on a server that never answers', async () => {
    const started = Date.now()
    const result = await probeHttp({ host: LOOPBACK, port: silent.port, timeoutMs: SHORT })
    expect(result).toMatchObject({
      ok: false,
      detail: `timed out after ${SHORT} ms waiting for an answer`,
    })
    expect(result.latencyMs).toBeGreaterThanOrEqual(SHORT - 5)
    expect(Date.now() - started).toBeLessThan(SHORT + 1000)
  })

  it('says "not an HTTP server" for another protocol', async () => {
    const result = await probeHttp({ host: LOOPBACK, port: banner.port, timeoutMs: SHORT })
    expect(result).toMatchObject({
      ok: false,
      detail: 'not an HTTP server (answered "SSH-2.0-OpenSSH_9.2p1 Debian-2\\r\\n")',
    })
  })

  it('refuses a path it cannot send, without connecting', async () => {
    const result = await probeHttp({ host: LOOPBACK, port: webPort, path: '/a b\r\nX: y' })
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/^invalid HTTP path/)
  })
})

describe.skipIf(!HAS_OPENSSL)(`probeHttp over HTTPS${HAS_OPENSSL ? '' : ` — ${TLS_SKIP}`}`, () => {
  let dir = ''
  let tls: HttpServer
  let tlsPort = 0

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'portwarden-tls-'))
    const { key, cert } = selfSignedCertificate(dir)
    tls = createHttpsServer({ key, cert }, httpHandler)
    tlsPort = await listen(tls, LOOPBACK)
  })

  afterAll(async () => {
    if (tls) await closeHttp(tls)
    rmSync(dir, { recursive: true, force: true })
  })

  it('is ok against a self-signed certificate', async () => {
    const result = await probeHttp({
      host: LOOPBACK,
      port: tlsPort,
      path: '/healthz',
      https: true,
      expect: 200,
    })
    expect(result.ok).toBe(true)
    expect(result.detail).toMatch(/^HTTPS 200 in \d+ ms$/)
    const stale = await probeHttp({
      host: LOOPBACK,
      port: tlsPort,
      path: '/stale',
      https: true,
      expect: 200,
    })
    expect(stale).toMatchObject({ ok: false, detail: 'HTTPS 503, expected 200' })
  })

  it('says the TLS handshake failed when the server speaks plain HTTP', async () => {
    const result = await probeHttp({ host: LOOPBACK, port: webPort, https: true, timeoutMs: 1000 })
    expect(result.ok).toBe(false)
    expect(result.detail).toMatch(/^TLS handshake failed \(.+\)$/)
  })

  it('is not ok when plain HTTP meets a TLS server', async () => {
    const result = await probeHttp({ host: LOOPBACK, port: tlsPort, timeoutMs: 1000 })
    expect(result.ok).toBe(false)
    expectSentence(result)
  })

  it('times out the TLS handshake on a server that never answers', async () => {
    const result = await probeHttp({
      host: LOOPBACK,
      port: silent.port,
      https: true,
      timeoutMs: SHORT,
    })
    expect(result).toMatchObject({
      ok: false,
      detail: `timed out after ${SHORT} ms during the TLS handshake`,
    })
  })
})

describe.skipIf(!PG_BIN)(
  `probePostgres against a real PostgreSQL${PG_BIN ? '' : ` — ${PG_SKIP}`}`,
  () => {
    let server: RunningPostgres
    let startupMs = 0

    beforeAll(async () => {
      const started = performance.now()
      server = await startPostgres()
      startupMs = performance.now() - started
      console.info(
        `health-probes: PostgreSQL ${server.version} (initdb + start) ready on port ${server.port} in ${Math.round(startupMs)} ms`,
      )
    })

    afterAll(async () => {
      await server?.stop()
    })

    it('gives a url the pg client can use', async () => {
      const client = new pg.Client({ connectionString: server.url })
      await client.connect()
      try {
        const { rows } = await client.query<{ one: number }>('SELECT 1 AS one')
        expect(rows).toEqual([{ one: 1 }])
      } finally {
        await client.end()
      }
    })

    it('without a declared check, PostgreSQL keeps the TCP result (it does not speak HTTP)', async () => {
      const result = await probeDefault(server.host, server.port)
      expect(result.ok, result.detail).toBe(true)
      expect(result.detail).toMatch(/^accepted a TCP connection in \d+ ms/)
    })

    it('is ok when the server rejects the unknown probe role: that is still PostgreSQL answering', async () => {
      const result = await probePostgres(server.host, server.port)
      expect(result).toMatchObject({ ok: true })
      expect(result.detail).toMatch(
        /^PostgreSQL answered in \d+ ms \(role "portwarden_probe" does not exist\)$/,
      )
      expectSentence(result)
    })

    it('is ok on an authentication request (R), and ends the session politely', async () => {
      const client = new pg.Client({ connectionString: server.url })
      await client.connect()
      try {
        await client.query('CREATE ROLE portwarden_probe LOGIN')
        const result = await probePostgres(server.host, server.port)
        expect(result.ok).toBe(true)
        expect(result.detail).toMatch(
          /^PostgreSQL answered in \d+ ms \(ready for queries, no password needed\)$/,
        )
        // The probe's session is gone (it sent Terminate), not left idle.
        const deadline = Date.now() + 3000
        let sessions = 1
        while (sessions > 0 && Date.now() < deadline) {
          const { rows } = await client.query<{ n: string }>(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'portwarden_probe'",
          )
          sessions = Number(rows[0]?.n)
        }
        expect(sessions).toBe(0)
      } finally {
        await client.query('DROP ROLE IF EXISTS portwarden_probe')
        await client.end()
      }
    })

    it('is ok when the server asks the probe for a password (SCRAM)', async () => {
      const client = new pg.Client({ connectionString: server.url })
      await client.connect()
      const hbaPath = join(server.dataDir, 'pg_hba.conf')
      const original = readFileSync(hbaPath, 'utf8')
      try {
        await client.query('CREATE ROLE portwarden_probe LOGIN')
        // pg_hba.conf is re-read on reload: the probe role now needs a password over TCP.
        server.writeOwnedFile(
          'data/pg_hba.conf',
          `host all portwarden_probe 127.0.0.1/32 scram-sha-256\n${original}`,
        )
        await client.query('SELECT pg_reload_conf()')
        const deadline = Date.now() + 5000
        let result = await probePostgres(server.host, server.port)
        while (!result.detail.includes('SCRAM') && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50))
          result = await probePostgres(server.host, server.port)
        }
        expect(result.ok).toBe(true)
        expect(result.detail).toMatch(
          /^PostgreSQL answered in \d+ ms \(asked for SCRAM authentication\)$/,
        )
      } finally {
        server.writeOwnedFile('data/pg_hba.conf', original)
        await client.query('SELECT pg_reload_conf()')
        await client.query('DROP ROLE IF EXISTS portwarden_probe')
        await client.end()
      }
    })

    it('is not ok against HTTP, Redis-ish or banner-first servers, and names the first byte', async () => {
      expect(await probePostgres(LOOPBACK, garbage.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
        detail:
          'not a PostgreSQL server (answered 0x48 "HTTP/1.0 400 Bad Request\\r\\nContent-Length…")',
      })
      // sshd's banner starts with 'S', the byte PostgreSQL uses to accept SSL: the rest gives it away.
      const ssh = await probePostgres(LOOPBACK, banner.port, { timeoutMs: SHORT })
      expect(ssh.ok).toBe(false)
      expect(ssh.detail).toMatch(/^not a PostgreSQL server \(answered 0x53 "SSH-2\.0/)
      expect(await probePostgres(LOOPBACK, webPort, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
      })
    })

    it('is what probeRedis is not: PostgreSQL hangs up on a PING', async () => {
      const result = await probeRedis(server.host, server.port, { timeoutMs: 1000 })
      expect(result).toMatchObject({ ok: false, detail: 'closed before answering' })
    })

    it('says refused and timed out plainly', async () => {
      expect(await probePostgres(LOOPBACK, closedPort)).toMatchObject({
        ok: false,
        detail: 'connection refused',
      })
      expect(await probePostgres(LOOPBACK, silent.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
        detail: `timed out after ${SHORT} ms waiting for an answer`,
      })
    })

    it.skipIf(!HAS_OPENSSL)(
      'is ok, without doing TLS, when the server accepts SSL (S)',
      async () => {
        const dir = mkdtempSync(join(tmpdir(), 'portwarden-pgtls-'))
        const client = new pg.Client({ connectionString: server.url })
        await client.connect()
        try {
          const pair = selfSignedCertificate(dir)
          const cert = server.writeOwnedFile('server.crt', pair.cert, 0o644)
          const key = server.writeOwnedFile('server.key', pair.key, 0o600)
          await client.query(`ALTER SYSTEM SET ssl_cert_file = '${cert}'`)
          await client.query(`ALTER SYSTEM SET ssl_key_file = '${key}'`)
          await client.query('ALTER SYSTEM SET ssl = on')
          await client.query('SELECT pg_reload_conf()')
          // The reload is asynchronous: new connections see it shortly.
          const deadline = Date.now() + 5000
          let result = await probePostgres(server.host, server.port)
          while (!result.detail.includes('SSL') && Date.now() < deadline) {
            await new Promise((resolve) => setTimeout(resolve, 50))
            result = await probePostgres(server.host, server.port)
          }
          expect(result.ok).toBe(true)
          expect(result.detail).toMatch(/^PostgreSQL answered in \d+ ms \(SSL offered\)$/)
        } finally {
          await client.query('ALTER SYSTEM RESET ssl').catch(() => undefined)
          await client.query('SELECT pg_reload_conf()').catch(() => undefined)
          await client.end()
          rmSync(dir, { recursive: true, force: true })
        }
      },
    )
  },
)

describe.skipIf(!REDIS_BIN)(
  `probeRedis against a real Redis${REDIS_BIN ? '' : ` — ${REDIS_SKIP}`}`,
  () => {
    let redis: RunningRedis
    let locked: RunningRedis

    beforeAll(async () => {
      const started = performance.now()
      ;[redis, locked] = await Promise.all([startRedis(), startRedis({ password: 'sesame' })])
      console.info(
        `health-probes: two redis-servers ready in ${Math.round(performance.now() - started)} ms`,
      )
    })

    afterAll(async () => {
      await Promise.all([redis?.stop(), locked?.stop()])
    })

    it('is ok on +PONG', async () => {
      const result = await probeRedis(redis.host, redis.port)
      expect(result.ok).toBe(true)
      expect(result.detail).toMatch(/^redis answered PONG in \d+ ms$/)
      expectSentence(result)
    })

    it('is ok, saying auth is required, on -NOAUTH', async () => {
      expect(await probeRedis(locked.host, locked.port)).toMatchObject({
        ok: true,
        detail: 'redis answered (auth required)',
      })
    })

    it('is not ok against other protocols', async () => {
      expect(await probeRedis(LOOPBACK, garbage.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
        detail: 'not a Redis server (answered "HTTP/1.0 400 Bad Request\\r\\nContent-Length…")',
      })
      expect(await probeRedis(LOOPBACK, banner.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
      })
      expect((await probeRedis(LOOPBACK, banner.port, { timeoutMs: SHORT })).detail).toMatch(
        /^not a Redis server/,
      )
      const http = await probeRedis(LOOPBACK, webPort, { timeoutMs: SHORT })
      expect(http.ok).toBe(false)
      expectSentence(http)
    })

    it('says refused and timed out plainly', async () => {
      expect(await probeRedis(LOOPBACK, closedPort)).toMatchObject({
        ok: false,
        detail: 'connection refused',
      })
      expect(await probeRedis(LOOPBACK, silent.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
        detail: `timed out after ${SHORT} ms waiting for an answer`,
      })
    })

    it('without a declared check, Redis keeps the TCP result (it does not speak HTTP)', async () => {
      const result = await probeDefault(redis.host, redis.port)
      expect(result.ok, result.detail).toBe(true)
      expect(result.detail).toMatch(/^accepted a TCP connection in \d+ ms \(.*not HTTP\)$/)
    })

    it('tells Redis and PostgreSQL apart', async () => {
      // Redis reads the binary SSLRequest as an unfinished inline command and waits.
      expect(await probePostgres(redis.host, redis.port, { timeoutMs: SHORT })).toMatchObject({
        ok: false,
        detail: `timed out after ${SHORT} ms waiting for an answer`,
      })
    })
  },
)

describe('probes leave nothing open', () => {
  it('closes every socket and timer, whatever the outcome', async () => {
    const baseline = handleCounts()
    const results = await Promise.all([
      probeTcpConnect(LOOPBACK, webPort),
      probeTcpConnect(LOOPBACK, closedPort),
      probeHttp({ host: LOOPBACK, port: webPort, path: '/healthz' }),
      probeHttp({ host: LOOPBACK, port: silent.port, timeoutMs: SHORT }),
      probeHttp({ host: LOOPBACK, port: silent.port, https: true, timeoutMs: SHORT }),
      probeHttp({ host: LOOPBACK, port: banner.port, timeoutMs: SHORT }),
      probePostgres(LOOPBACK, garbage.port, { timeoutMs: SHORT }),
      probePostgres(LOOPBACK, silent.port, { timeoutMs: SHORT }),
      probeRedis(LOOPBACK, banner.port, { timeoutMs: SHORT }),
      probeRedis(LOOPBACK, silent.port, { timeoutMs: SHORT }),
      probeDefault(LOOPBACK, webPort),
      probeDefault(LOOPBACK, banner.port),
      probeDefault(LOOPBACK, silent.port, { timeoutMs: SHORT }),
    ])
    for (const result of results) expectSentence(result)
    // The probes' own handles are closed when they resolve; the fixture servers' ends of those
    // connections close a moment later.
    const after = await waitForHandlesAtMost(baseline)
    for (const type of Object.keys(baseline))
      expect(after[type], type).toBeLessThanOrEqual(baseline[type] ?? 0)
  })
})

/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers, checked field by field */
/**
 * Issue 6, I3 and I4: malformed requests against every route of a real `serve` (random JSON,
 * wrong types, extra and `__proto__` keys, duplicate keys, deep nesting, invalid UTF-8, NUL
 * bytes, bidi/zero-width/control characters, huge strings, wrong content types, chunked bodies,
 * missing bodies): never a 5xx, every 4xx in the error shape, the process alive, the registry
 * unchanged except for valid creates; then the same requests in-process through `app.request()`
 * with a prototype-pollution check. Body limits: 1 MiB + 1, an endless chunked body, a slow one.
 *
 * `free` is only ever aimed at the server's own port (which it refuses to signal), so no fuzzed
 * request can stop a process on this machine.
 */
import './helpers/touch-globals.js'
import { assertNoPoisoning } from '@fast-check/poisoning'
import fc from 'fast-check'
import Sqlite from 'better-sqlite3'
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createApp } from '../src/server/app.js'
import { stopStarted } from './helpers/processes.js'
import {
  httpRequest,
  rawRequest,
  removeServeDirs,
  serveTempDir,
  startServe,
  stopServe,
} from './helpers/serve.js'

afterAll(async () => {
  await stopStarted()
  removeServeDirs()
})

interface FuzzRequest {
  method: string
  path: string
  body: string | Uint8Array | undefined
  contentType: string | undefined
}

const nastyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(
    '',
    ' web',
    'we\u202Eb',
    'w\u200Beb',
    'nul\u0000l',
    '\u001b[31mred\u001b[0m',
    '\u009b31m',
    '<img src=x onerror=alert(1)>',
    '__proto__',
    'x'.repeat(5000),
  ),
)

const key = fc.oneof(
  fc.constantFrom(
    '__proto__',
    'constructor',
    'prototype',
    'project',
    'service',
    'port',
    'protocol',
    'range',
    'dry_run',
    'signal',
    'wait',
    'kill_after',
  ),
  fc.string(),
)

const scalar = fc.oneof(
  nastyText,
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0, -1, 65536, 8080, Infinity, '8080', '8000-7999', 'tcp', 'sctp', 'TERM', 'KILL'),
)

function stringifySafely(value: unknown): string {
  try {
    return JSON.stringify(value) ?? 'null'
  } catch {
    return '{}'
  }
}

const DEEP = 10_000
const specialBodies = fc.constantFrom<string | Uint8Array>(
  '{"__proto__":{"polluted":"yes"},"project":"p","service":"s"}',
  '{"constructor":{"prototype":{"polluted":"yes"}}}',
  '{"project":"a","project":"b","service":"c","service":"d"}',
  `${'['.repeat(DEEP)}${']'.repeat(DEEP)}`,
  `${'{"a":'.repeat(DEEP)}1${'}'.repeat(DEEP)}`,
  '\u0000',
  '{"project":"a\u0000b","service":"c"}',
  new Uint8Array([0x7b, 0x22, 0x70, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]),
  new Uint8Array([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
  `{"project":"${'x'.repeat(1_000_000)}","service":"s"}`,
  '{"project":',
  'null',
  '[]',
  '"string"',
)

const body = fc.oneof(
  { weight: 3, arbitrary: fc.dictionary(key, scalar, { maxKeys: 6 }).map(stringifySafely) },
  { weight: 2, arbitrary: fc.json() },
  { weight: 2, arbitrary: fc.anything().map(stringifySafely) },
  { weight: 2, arbitrary: specialBodies },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary' }) },
)

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant('application/json') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json; charset=latin1',
    ),
  },
)

/** A path segment or query value that is never a decimal id (a DELETE must not hit real rows). */
const junk = fc.oneof(
  fc.string(),
  fc.constantFrom('0', '-1', '65536', '8e3', '0x1F90', '+80', '08080', '٨٠٨٠', '1e309', '80/sctp'),
)
const segment = junk.map((text) => encodeURIComponent(/^[0-9]+$/.test(text) ? `${text}x` : text))

function requests(selfPort: number): fc.Arbitrary<FuzzRequest> {
  const withBody = (method: string, path: string) =>
    fc.record({ method: fc.constant(method), path: fc.constant(path), body, contentType })
  const bare = (method: string, path: fc.Arbitrary<string>) =>
    fc.record({
      method: fc.constant(method),
      path,
      body: fc.constant(undefined),
      contentType: fc.constant(undefined),
    })
  return fc.oneof(
    { weight: 4, arbitrary: withBody('POST', '/api/allocations') },
    { weight: 2, arbitrary: withBody('POST', `/api/ports/${selfPort}/free`) },
    { weight: 1, arbitrary: withBody('POST', '/api/health-checks') },
    {
      weight: 2,
      arbitrary: bare(
        'GET',
        segment.map((s) => `/api/ports/${s}`),
      ),
    },
    {
      weight: 1,
      arbitrary: bare(
        'GET',
        segment.map((s) => `/api/ports/1?protocol=${s}`),
      ),
    },
    {
      weight: 2,
      arbitrary: bare(
        'GET',
        fc
          .tuple(fc.constantFrom('state', 'protocol', 'port', 'x', '__proto__'), segment)
          .map(([k, v]) => `/api/sockets?${k}=${v}`),
      ),
    },
    {
      weight: 2,
      arbitrary: bare(
        'DELETE',
        segment.map((s) => `/api/allocations/${s}`),
      ),
    },
    {
      weight: 1,
      arbitrary: bare(
        'GET',
        segment.map((s) => `/api/conflicts?${s}`),
      ),
    },
    {
      weight: 1,
      arbitrary: bare(
        'GET',
        segment.map((s) => `/assets/${s}`),
      ),
    },
    { weight: 1, arbitrary: withBody('PUT', '/api/allocations') },
  )
}

function checkAnswer(
  request: FuzzRequest,
  status: number,
  text: string,
  tally: Map<number, number>,
) {
  tally.set(status, (tally.get(status) ?? 0) + 1)
  const where = `${request.method} ${request.path} ${String(request.body).slice(0, 200)}`
  expect(status, where).toBeLessThan(500)
  if (status >= 400) {
    const json = JSON.parse(text) as any
    expect(Object.keys(json).slice(0, 3), where).toEqual(['error', 'message', 'details'])
    expect(typeof json.message, where).toBe('string')
  }
}

/** The allocations' identities (health columns change legitimately with a health check). */
function registryRows(path: string): string[] {
  const db = new Sqlite(path, { readonly: true, fileMustExist: true })
  try {
    return (
      db
        .prepare(
          'SELECT id, project, service, protocol, port, created_at FROM allocations ORDER BY id',
        )
        .all() as Record<string, unknown>[]
    ).map((row) => JSON.stringify(row))
  } finally {
    db.close()
  }
}

describe('I3: malformed requests against every route', () => {
  it('a real server: no 5xx, the error shape on every 4xx, alive, registry unchanged but for creates', async () => {
    const serve = await startServe()
    for (const service of ['web', 'db', 'cache']) {
      const seeded = await serve.request('/api/allocations', {
        method: 'POST',
        body: { project: 'seed', service },
      })
      expect(seeded.status).toBe(201)
    }
    const before = registryRows(serve.registry)
    const created = new Set<number>()
    const tally = new Map<number, number>()
    let runs = 0
    await fc.assert(
      fc.asyncProperty(requests(serve.port), async (request) => {
        runs++
        const headers: Record<string, string> = { authorization: `Bearer ${serve.token}` }
        if (request.contentType !== undefined) headers['content-type'] = request.contentType
        const response = await fetch(`${serve.url}${request.path}`, {
          method: request.method,
          headers,
          body: request.body,
        })
        const text = await response.text()
        checkAnswer(request, response.status, text, tally)
        if (response.status === 201) created.add((JSON.parse(text) as { id: number }).id)
      }),
      {
        numRuns: 10_000,
        interruptAfterTimeLimit: 45_000,
        markInterruptAsFailure: false,
        seed: 4242,
      },
    )
    expect(runs).toBeGreaterThan(300)
    expect(serve.process.hasExited()).toBe(false)
    expect((await serve.request('/api/allocations', { auth: false })).status).toBe(200)
    const after = registryRows(serve.registry).filter((row) => !created.has(JSON.parse(row).id))
    expect(after).toEqual(before)
    const integrity = new Sqlite(serve.registry, { readonly: true })
    expect(integrity.pragma('integrity_check', { simple: true })).toBe('ok')
    integrity.close()
    console.log(`I3: ${runs} requests; statuses ${JSON.stringify(Object.fromEntries(tally))}`)
    expect(await stopServe(serve)).toBe(0)
  }, 90_000)

  it('in-process through app.request(): the same requests leave Object.prototype unpolluted', async () => {
    const dir = serveTempDir()
    const served = createApp({ token: 'fuzz-token', registry: join(dir, 'registry.db') })
    try {
      await fc.assert(
        fc.asyncProperty(
          // No free here: in-process, the server's own port is not there to aim it at.
          requests(1).filter((r) => !r.path.includes('/free')),
          async (request) => {
            const headers: Record<string, string> = {
              host: '127.0.0.1',
              authorization: 'Bearer fuzz-token',
            }
            if (request.contentType !== undefined) headers['content-type'] = request.contentType
            const response = await served.app.request(request.path, {
              method: request.method,
              headers,
              body: request.body,
            })
            checkAnswer(request, response.status, await response.text(), new Map())
          },
        ),
        { numRuns: 400, interruptAfterTimeLimit: 15_000, markInterruptAsFailure: false, seed: 7 },
      )
    } finally {
      await served.close()
    }
    // fetch (used above) installs undici's dispatcher as a global, console.log buffers: not ours.
    assertNoPoisoning({ ignoredRootRegex: /undici|__vitest|^__|^console$/i })
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  }, 60_000)
})

/** Sends a chunked body of 64 KiB chunks until the server answers (or 16 MiB, a bound). */
function endlessChunkedBody(
  port: number,
  token: string,
): Promise<{ status: number | null; sent: number }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port })
    const chunk = `10000\r\n${'a'.repeat(0x10000)}\r\n`
    let sent = 0
    let answer = ''
    let done = false
    const finish = () => {
      if (done) return
      done = true
      socket.destroy()
      const status = /^HTTP\/1\.1 ([0-9]{3})/.exec(answer)?.[1]
      resolve({ status: status === undefined ? null : Number(status), sent })
    }
    socket.setEncoding('utf8')
    socket.on('data', (data: string) => {
      answer += data
      if (answer.includes('\r\n\r\n')) finish()
    })
    socket.on('close', finish)
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'EPIPE' || error.code === 'ECONNRESET' ? finish() : reject(error),
    )
    const pump = () => {
      while (!done && sent < 16 * 1024 * 1024) {
        sent += 0x10000
        if (!socket.write(chunk)) {
          socket.once('drain', pump)
          return
        }
      }
    }
    socket.on('connect', () => {
      socket.write(
        `POST /api/allocations HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${token}\r\n` +
          'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
      )
      pump()
    })
  })
}

describe('I4: body limits', () => {
  it('1 MiB + 1 → 413; an endless chunked body → 413 long before it ends; a slow body → 408; still answering', async () => {
    const serve = await startServe({ env: { PORTWARDEN_SERVE_REQUEST_TIMEOUT: '2000' } })
    const rss = () => {
      const status = readFileSync(`/proc/${serve.pid}/status`, 'utf8')
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]) * 1024
    }
    const headers = [
      `Host: 127.0.0.1:${serve.port}`,
      `Authorization: Bearer ${serve.token}`,
      'Content-Type: application/json',
    ]
    const exact = await rawRequest(
      serve.port,
      httpRequest('POST', '/api/allocations', headers, 'x'.repeat(1024 * 1024 + 1)),
    )
    expect(exact.status).toBe(413)
    expect(JSON.parse(exact.body).error).toBe('payload_too_large')
    const limit = await rawRequest(
      serve.port,
      httpRequest(
        'POST',
        '/api/allocations',
        headers,
        ' '.repeat(1024 * 1024 - 40) + '{"project":"a","service":"b"}',
      ),
    )
    expect(limit.status).toBe(201)

    // Memory from here on: the refused bodies only (the create above scanned the socket tables,
    // which costs what the machine's socket count costs, not what the body does).
    const rssBefore = rss()

    const endless = await endlessChunkedBody(serve.port, serve.token)
    // The server answers 413 and closes; a client still writing may get the reset before it has
    // read the 413 (the kernel drops what it had received). Either way it stopped reading early.
    expect([413, null]).toContain(endless.status)
    expect(endless.sent).toBeLessThan(16 * 1024 * 1024)

    const slow = await rawRequest(
      serve.port,
      `POST /api/allocations HTTP/1.1\r\n${headers.join('\r\n')}\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{`,
      { chunks: Array.from({ length: 20 }, () => ' '), gapMs: 1000, timeoutMs: 15_000 },
    )
    expect(slow.status).toBe(408)
    expect(slow.ms).toBeLessThan(6_000)

    expect((await serve.request('/api/allocations', { auth: false })).status).toBe(200)
    // Memory: the limit is 1 MiB; growth stays far from a copy of every body sent (16 MiB+).
    expect(rss() - rssBefore).toBeLessThan(32 * 1024 * 1024)
    expect(await stopServe(serve)).toBe(0)
  }, 60_000)
})

describe('answers that need no body reach a client still sending one', () => {
  it('a 404, a 415 and a 401 come after the whole body, on a connection not cut under the client', async () => {
    const serve = await startServe()
    // Longer than @hono/node-server's drain of an unread body (500 ms), after which it closes.
    const gapMs = 900
    const body = JSON.stringify({ project: 'x'.repeat(300_000), service: 's' })
    const host = `Host: 127.0.0.1:${serve.port}\r\n`
    const auth = `Authorization: Bearer ${serve.token}\r\n`
    const cases = [
      {
        head: `PUT /api/allocations HTTP/1.1\r\n${host}${auth}Content-Type: application/json\r\n`,
        status: 404,
      },
      {
        head: `POST /api/allocations HTTP/1.1\r\n${host}${auth}Content-Type: text/plain\r\n`,
        status: 415,
      },
      {
        head: `POST /api/allocations HTTP/1.1\r\n${host}Content-Type: application/json\r\n`,
        status: 401,
      },
    ]
    // Half the body, then the rest `gapMs` later, as a slow upload sends it.
    const half = Math.floor(body.length / 2)
    const answers = await Promise.all(
      cases.map((c) =>
        rawRequest(
          serve.port,
          `${c.head}Content-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, half)}`,
          { chunks: [body.slice(half)], gapMs },
        ),
      ),
    )
    expect(answers.map((a) => ({ status: a.status, unsent: a.unsent }))).toEqual(
      cases.map((c) => ({ status: c.status, unsent: 0 })),
    )
    expect(await stopServe(serve)).toBe(0)
  }, 30_000)
})

/**
 * Level-3 health probes: does the service on this port answer like the service it claims to be?
 * TCP connect, HTTP(S) status, the PostgreSQL SSLRequest/startup handshake, the Redis PING.
 *
 * Every probe bounds every step (connect, TLS handshake, write, read) by its own timeout, never
 * throws (a failure is an outcome with a sentence in `detail`), and resolves only after its socket
 * has closed and its timers are cleared, so a caller never inherits an open handle.
 * @module
 */
import { isIP, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { connect as tlsConnect } from 'node:tls'

export interface ServiceProbeResult {
  /** The service answered as expected (see each probe for what counts). */
  ok: boolean
  /** One sentence for humans: `HTTP 200 in 3 ms`, `connection refused`, ... */
  detail: string
  /** Milliseconds from the start of the probe to its answer (or failure), to 0.1 ms. */
  latencyMs: number
}

export interface ProbeOptions {
  /** Bound on each step (connect, TLS handshake, write, read), in milliseconds. Default 2000. */
  timeoutMs?: number
}

export interface HttpProbeOptions extends ProbeOptions {
  host: string
  port: number
  /** Request path, default `/`. */
  path?: string
  /** The status that counts as healthy; default any 2xx or 3xx. */
  expect?: number
  /** Speak TLS; the certificate is not verified (local services are often self-signed). */
  https?: boolean
}

export const DEFAULT_PROBE_TIMEOUT_MS = 2000

/** What the probes send as the PostgreSQL user and database; a server may well not know them. */
export const POSTGRES_PROBE_USER = 'portwarden_probe'
export const POSTGRES_PROBE_DATABASE = 'postgres'

/** Largest answer a probe buffers; every answer it needs is far shorter. */
const MAX_BUFFERED = 16 * 1024

/** Thrown inside a probe to end it with this sentence; never escapes the module. */
class ProbeFailure extends Error {}

/** The steps of a conversation, as they appear in timeout sentences. */
type Step =
  'connecting' | 'during the TLS handshake' | 'sending the request' | 'waiting for an answer'

function normaliseTimeout(timeoutMs: number | undefined): number {
  return typeof timeoutMs === 'number' && Number.isFinite(timeoutMs) && timeoutMs > 0
    ? timeoutMs
    : DEFAULT_PROBE_TIMEOUT_MS
}

/** `[::1]` → `::1`; other hosts as given. */
function normaliseHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
}

function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10
}

function formatMs(ms: number): string {
  return `${Math.round(ms)} ms`
}

/** The sentence for a socket error, by errno code. */
export function describeSocketError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused'
    case 'ECONNRESET':
      return 'connection reset by the server'
    case 'EPIPE':
      return 'connection closed by the server while sending'
    case 'EHOSTUNREACH':
      return 'host unreachable'
    case 'ENETUNREACH':
      return 'network unreachable'
    case 'EADDRNOTAVAIL':
      return 'address not available'
    case 'ENOTFOUND':
    case 'EAI_NONAME':
    case 'EAI_AGAIN':
      return 'host name not found'
    case 'ETIMEDOUT':
      return 'connection timed out'
    case 'EACCES':
    case 'EPERM':
      return 'connection not permitted'
    default: {
      const message = error instanceof Error ? error.message : String(error)
      return code ? `connection failed (${code}: ${message})` : `connection failed (${message})`
    }
  }
}

function describeTlsError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code && !code.startsWith('ERR_SSL') && !code.startsWith('ERR_TLS')) {
    return describeSocketError(error)
  }
  const message = error instanceof Error ? error.message : String(error)
  // OpenSSL messages look like `...:SSL routines:ssl3_get_record:wrong version number:...`.
  const reason = /SSL routines:[^:]*:([^:]+)/.exec(message)?.[1] ?? message
  return `TLS handshake failed (${reason.trim()})`
}

/** A printable rendering of what a server sent, for detail sentences. */
function preview(data: Buffer): string {
  const text = data.subarray(0, 40).toString('latin1')
  // JSON.stringify shows \r, \n and \t as escapes; anything else unprintable becomes '.'.
  const shown = text.replace(/[^\x20-\x7e\r\n\t]/g, '.')
  return JSON.stringify(data.length > 40 ? `${shown}…` : shown)
}

function hexByte(byte: number): string {
  return `0x${byte.toString(16).padStart(2, '0')}`
}

/**
 * One socket and the steps of a conversation over it. Each step waits for one condition under
 * its own timer; socket events only record state and wake the step in progress.
 */
class Conversation {
  readonly started = performance.now()
  private readonly socket: Socket
  private buffer: Buffer = Buffer.alloc(0)
  /** Bytes that arrived before the probe sent anything (a banner). */
  private spokeFirst = false
  private wroteAnything = false
  private ended = false
  private closed = false
  private error: Error | null = null
  private connected = false
  private secured = false
  private wake: (() => void) | null = null
  private readonly closedPromise: Promise<void>

  private readonly timeoutMs: number

  constructor(host: string, port: number, timeoutMs: number, tls: boolean) {
    this.timeoutMs = timeoutMs
    const target = normaliseHost(host)
    this.socket = tls
      ? tlsConnect({
          host: target,
          port,
          rejectUnauthorized: false,
          // SNI must be a name, never an address literal.
          ...(isIP(target) === 0 ? { servername: target } : {}),
          ALPNProtocols: ['http/1.1'],
        })
      : new Socket().connect({ host: target, port })
    this.socket.setNoDelay(true)
    this.closedPromise = new Promise((resolve) => this.socket.once('close', () => resolve()))
    this.socket.on('connect', () => {
      this.connected = true
      this.notify()
    })
    this.socket.on('secureConnect', () => {
      this.secured = true
      this.notify()
    })
    this.socket.on('data', (chunk: Buffer) => {
      if (!this.wroteAnything) this.spokeFirst = true
      if (this.buffer.length < MAX_BUFFERED) this.buffer = Buffer.concat([this.buffer, chunk])
      this.notify()
    })
    this.socket.on('end', () => {
      this.ended = true
      this.notify()
    })
    this.socket.on('error', (error: Error) => {
      this.error ??= error
      this.notify()
    })
    this.socket.on('close', () => {
      this.closed = true
      this.notify()
    })
  }

  get elapsedMs(): number {
    return performance.now() - this.started
  }

  get serverSpokeFirst(): boolean {
    return this.spokeFirst
  }

  private notify(): void {
    this.wake?.()
  }

  /**
   * Waits until `ready()` returns a value (not undefined), or fails on error, close or timeout.
   * `onError` turns a socket error into the detail sentence.
   */
  private step<T>(
    step: Step,
    ready: () => T | undefined,
    onError: (error: Error) => string,
    timeoutMs = this.timeoutMs,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = (outcome: () => void): void => {
        clearTimeout(timer)
        this.wake = null
        outcome()
      }
      const check = (): void => {
        let value: T | undefined
        try {
          value = ready()
        } catch (error) {
          finish(() => reject(error))
          return
        }
        if (value !== undefined) finish(() => resolve(value))
        else if (this.error) {
          const detail = onError(this.error)
          finish(() => reject(new ProbeFailure(detail)))
        } else if (this.ended || this.closed) {
          const detail =
            this.buffer.length === 0
              ? 'closed before answering'
              : `closed after a partial answer ${preview(this.buffer)}`
          finish(() => reject(new ProbeFailure(detail)))
        }
      }
      const timer = setTimeout(() => {
        finish(() => reject(new ProbeFailure(`timed out after ${formatMs(timeoutMs)} ${step}`)))
      }, timeoutMs)
      this.wake = check
      check()
    })
  }

  connect(): Promise<void> {
    return this.step(
      'connecting',
      () => (this.connected ? true : undefined),
      (error) => describeSocketError(error),
    ).then(() => undefined)
  }

  secure(): Promise<void> {
    return this.step(
      'during the TLS handshake',
      () => (this.secured ? true : undefined),
      (error) => describeTlsError(error),
    ).then(() => undefined)
  }

  write(data: Buffer | string, step: Step = 'sending the request'): Promise<void> {
    this.wroteAnything = true
    let flushed = false
    let writeError: Error | null = null
    this.socket.write(data, (error) => {
      if (error) writeError = error
      flushed = true
      this.notify()
    })
    return this.step(
      step,
      () => {
        if (writeError) throw new ProbeFailure(describeSocketError(writeError))
        return flushed ? true : undefined
      },
      (error) => describeSocketError(error),
    ).then(() => undefined)
  }

  /**
   * Waits until `parse(buffer)` returns a value; it may throw a ProbeFailure to stop early.
   * `timeoutMs` shortens this one step's bound.
   */
  read<T>(parse: (buffer: Buffer) => T | undefined, timeoutMs?: number): Promise<T> {
    return this.step(
      'waiting for an answer',
      () => parse(this.buffer),
      (error) => describeSocketError(error),
      timeoutMs,
    )
  }

  /** What the server does within `ms` before we say anything: sends a banner, closes, or waits. */
  async opening(ms: number): Promise<'banner' | 'closed' | 'silent'> {
    try {
      await this.step(
        'waiting for an answer',
        () => (this.buffer.length > 0 ? true : undefined),
        (error) => describeSocketError(error),
        ms,
      )
      return 'banner'
    } catch (error) {
      if (!(error instanceof ProbeFailure) || this.error) throw error
      return this.ended || this.closed ? 'closed' : 'silent'
    }
  }

  /** Sends `data` (if any) and half-closes, then waits (bounded) for the server to close. */
  async closePolitely(data?: Buffer): Promise<void> {
    if (!this.closed && !this.error && this.socket.writable) {
      if (data) this.socket.end(data)
      else this.socket.end()
      const timer = setTimeout(() => this.socket.destroy(), Math.min(this.timeoutMs, 500))
      await this.closedPromise
      clearTimeout(timer)
    }
    await this.close()
  }

  /** Destroys the socket and resolves once it has closed. */
  async close(): Promise<void> {
    this.wake = null
    this.socket.destroy()
    await this.closedPromise
  }
}

/**
 * Runs `body` over a fresh connection. Exceptions become outcomes: a ProbeFailure's message is
 * the detail; anything else is reported as an internal error rather than thrown.
 */
async function converse(
  host: string,
  port: number,
  options: ProbeOptions | undefined,
  tls: boolean,
  body: (
    conversation: Conversation,
  ) => Promise<{ ok: boolean; detail: string; polite?: Buffer | null }>,
): Promise<ServiceProbeResult> {
  const started = performance.now()
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    return { ok: false, detail: `invalid port ${String(port)} (expected 1-65535)`, latencyMs: 0 }
  }
  if (typeof host !== 'string' || host.trim() === '') {
    return { ok: false, detail: 'no host given', latencyMs: 0 }
  }
  let conversation: Conversation
  try {
    conversation = new Conversation(host, port, normaliseTimeout(options?.timeoutMs), tls)
  } catch (error) {
    return {
      ok: false,
      detail: describeSocketError(error),
      latencyMs: roundMs(performance.now() - started),
    }
  }
  let outcome: { ok: boolean; detail: string; polite?: Buffer | null }
  try {
    await conversation.connect()
    if (tls) await conversation.secure()
    outcome = await body(conversation)
  } catch (error) {
    outcome =
      error instanceof ProbeFailure
        ? { ok: false, detail: error.message }
        : {
            ok: false,
            detail: `probe failed (${error instanceof Error ? error.message : String(error)})`,
          }
  }
  const latencyMs = roundMs(conversation.elapsedMs)
  try {
    if (outcome.polite !== undefined) await conversation.closePolitely(outcome.polite ?? undefined)
    else await conversation.close()
  } catch {
    // closing never decides the outcome
  }
  return { ok: outcome.ok, detail: outcome.detail, latencyMs }
}

/** Level 3, weakest form: the port accepts a TCP connection. */
export function probeTcpConnect(
  host: string,
  port: number,
  options?: ProbeOptions,
): Promise<ServiceProbeResult> {
  return converse(host, port, options, false, async (conversation) => ({
    ok: true,
    detail: `accepted a TCP connection in ${formatMs(conversation.elapsedMs)}`,
  }))
}

/** Characters allowed in a request target as sent (no spaces, no controls). */
const PATH_PATTERN = /^\/[\x21-\x7e]*$/

function hostHeader(host: string, port: number, https: boolean): string {
  const bare = normaliseHost(host)
  const shown = isIP(bare) === 6 ? `[${bare}]` : bare
  return port === (https ? 443 : 80) ? shown : `${shown}:${port}`
}

const STATUS_LINE = /^HTTP\/\d(?:\.\d)? (\d{3})(?:[ \r])/

/**
 * Parses the final status of an HTTP/1.x response from the start of `buffer`: skips interim
 * (1xx) responses, returns undefined while more bytes are needed, throws on a non-HTTP answer.
 */
function parseHttpStatus(buffer: Buffer): number | undefined {
  let offset = 0
  for (;;) {
    const rest = buffer.subarray(offset)
    const prefix = 'HTTP/'
    const head = rest.subarray(0, prefix.length).toString('latin1')
    if (!prefix.startsWith(head)) {
      throw new ProbeFailure(`not an HTTP server (answered ${preview(rest)})`)
    }
    const lineEnd = rest.indexOf('\r\n')
    if (lineEnd === -1) {
      if (rest.length >= 1024)
        throw new ProbeFailure(`not an HTTP server (answered ${preview(rest)})`)
      return undefined
    }
    const match = STATUS_LINE.exec(rest.subarray(0, lineEnd + 2).toString('latin1'))
    if (!match) throw new ProbeFailure(`not an HTTP server (answered ${preview(rest)})`)
    const status = Number(match[1])
    if (status >= 200 || status === 101) return status
    // An interim response (100 Continue, 103 Early Hints): the final one follows its headers.
    const headersEnd = rest.indexOf('\r\n\r\n')
    if (headersEnd === -1) {
      if (buffer.length >= MAX_BUFFERED) throw new ProbeFailure('HTTP answer too long')
      return undefined
    }
    offset += headersEnd + 4
  }
}

/**
 * Level 3 for web services: `GET path` over HTTP/1.1 (or HTTPS, certificate not verified). Healthy
 * when the status equals `expect`, or, without `expect`, is 2xx or 3xx.
 */
export function probeHttp(options: HttpProbeOptions): Promise<ServiceProbeResult> {
  const https = options.https === true
  let path = options.path ?? '/'
  if (!path.startsWith('/')) path = `/${path}`
  if (!PATH_PATTERN.test(path)) {
    return Promise.resolve({
      ok: false,
      detail: `invalid HTTP path ${JSON.stringify(path)} (spaces and control characters must be percent-encoded)`,
      latencyMs: 0,
    })
  }
  const expect = options.expect
  if (expect !== undefined && !(Number.isInteger(expect) && expect >= 100 && expect <= 599)) {
    return Promise.resolve({
      ok: false,
      detail: `invalid expected status ${String(expect)} (expected 100-599)`,
      latencyMs: 0,
    })
  }
  const request =
    `GET ${path} HTTP/1.1\r\n` +
    `Host: ${hostHeader(options.host, options.port, https)}\r\n` +
    'User-Agent: portwarden-probe\r\n' +
    'Accept: */*\r\n' +
    'Connection: close\r\n\r\n'
  return converse(options.host, options.port, options, https, async (conversation) => {
    await conversation.write(request)
    const status = await conversation.read(parseHttpStatus)
    const elapsed = formatMs(conversation.elapsedMs)
    const scheme = https ? 'HTTPS' : 'HTTP'
    if (expect !== undefined) {
      return status === expect
        ? { ok: true, detail: `${scheme} ${status} in ${elapsed}` }
        : { ok: false, detail: `${scheme} ${status}, expected ${expect}` }
    }
    return status >= 200 && status < 400
      ? { ok: true, detail: `${scheme} ${status} in ${elapsed}` }
      : { ok: false, detail: `${scheme} ${status}, expected 2xx or 3xx` }
  })
}

/** How long the default probe waits for a banner before it tries HTTP. */
const BANNER_WAIT_MS = 150

/**
 * Level 3 without a declared check: the port must accept a connection, and a service that
 * speaks HTTP is judged by its answer to a bounded `GET /`: 2xx, 3xx and 4xx are up (4xx is the
 * service refusing that request, not failing), 5xx is down. A service that speaks first (SSH,
 * SMTP, MySQL) is never sent the request; one that answers it with something else, closes on it
 * or stays silent keeps the TCP result, with the reason in the detail.
 */
export function probeDefault(
  host: string,
  port: number,
  options?: ProbeOptions,
): Promise<ServiceProbeResult> {
  const request =
    'GET / HTTP/1.1\r\n' +
    `Host: ${hostHeader(host, port, false)}\r\n` +
    'User-Agent: portwarden-probe\r\n' +
    'Accept: */*\r\n' +
    'Connection: close\r\n\r\n'
  const waitMs = Math.min(normaliseTimeout(options?.timeoutMs), 1000)
  return converse(host, port, options, false, async (conversation) => {
    const accepted = `accepted a TCP connection in ${formatMs(conversation.elapsedMs)}`
    const opening = await conversation.opening(BANNER_WAIT_MS)
    if (opening === 'banner')
      return { ok: true, detail: `${accepted} (the service speaks first: not HTTP)` }
    if (opening === 'closed') return { ok: true, detail: `${accepted}, then it closed at once` }
    await conversation.write(request)
    let status: number
    try {
      status = await conversation.read(parseHttpStatus, waitMs)
    } catch (error) {
      if (!(error instanceof ProbeFailure)) throw error
      const why = error.message.startsWith('timed out')
        ? `no answer to an HTTP request within ${formatMs(waitMs)}`
        : error.message.startsWith('not an HTTP server')
          ? 'not HTTP'
          : `${error.message} on an HTTP request: not HTTP`
      return { ok: true, detail: `${accepted} (${why})` }
    }
    const elapsed = formatMs(conversation.elapsedMs)
    if (status >= 500) return { ok: false, detail: `HTTP ${status}, a server error` }
    if (status >= 400)
      return { ok: true, detail: `HTTP ${status} in ${elapsed} (it answers; GET / is refused)` }
    return { ok: true, detail: `HTTP ${status} in ${elapsed}` }
  })
}

/** SSLRequest: length 8, code 80877103. */
function sslRequest(): Buffer {
  const message = Buffer.alloc(8)
  message.writeInt32BE(8, 0)
  message.writeInt32BE(80877103, 4)
  return message
}

/** StartupMessage, protocol 3.0, for the probe user and database. */
function startupMessage(): Buffer {
  const parameters = Buffer.from(
    `user\0${POSTGRES_PROBE_USER}\0database\0${POSTGRES_PROBE_DATABASE}\0application_name\0portwarden-probe\0\0`,
    'utf8',
  )
  const header = Buffer.alloc(8)
  header.writeInt32BE(8 + parameters.length, 0)
  header.writeInt32BE(3 << 16, 4)
  return Buffer.concat([header, parameters])
}

/** Terminate: 'X', length 4. */
const TERMINATE = Buffer.from([0x58, 0, 0, 0, 4])

/** The fields of an ErrorResponse body (`S`everity, `C`ode, `M`essage, ...). */
function errorFields(body: Buffer): Map<string, string> {
  const fields = new Map<string, string>()
  let offset = 0
  while (offset < body.length && body[offset] !== 0) {
    const type = String.fromCharCode(body[offset] as number)
    const end = body.indexOf(0, offset + 1)
    if (end === -1) break
    fields.set(type, body.subarray(offset + 1, end).toString('utf8'))
    offset = end + 1
  }
  return fields
}

const AUTH_METHODS: Record<number, string> = {
  0: 'authenticated without a password',
  2: 'asked for Kerberos authentication',
  3: 'asked for a password',
  5: 'asked for an MD5 password',
  7: 'asked for GSSAPI authentication',
  9: 'asked for SSPI authentication',
  10: 'asked for SCRAM authentication',
}

/**
 * Level 3 for PostgreSQL, with node:net only: an SSLRequest, whose answer from a PostgreSQL
 * server is exactly one byte, `S` or `N`. On `S` the probe stops there (no TLS); on `N` it sends
 * a StartupMessage and wants an authentication request (`R`) or an error (`E`, e.g. the probe
 * role does not exist); both prove a live PostgreSQL.
 */
export function probePostgres(
  host: string,
  port: number,
  options?: ProbeOptions,
): Promise<ServiceProbeResult> {
  return converse(host, port, options, false, async (conversation) => {
    await conversation.write(sslRequest())
    const answer = await conversation.read((buffer) => (buffer.length >= 1 ? buffer : undefined))
    const first = answer[0] as number
    const byte = String.fromCharCode(first)
    if ((byte !== 'S' && byte !== 'N') || answer.length > 1 || conversation.serverSpokeFirst) {
      const more = answer.length > 1 ? ` ${preview(answer)}` : ''
      return { ok: false, detail: `not a PostgreSQL server (answered ${hexByte(first)}${more})` }
    }
    const elapsed = formatMs(conversation.elapsedMs)
    if (byte === 'S') {
      return { ok: true, detail: `PostgreSQL answered in ${elapsed} (SSL offered)`, polite: null }
    }
    const consumed = answer.length
    await conversation.write(startupMessage())
    const reply = await conversation.read((buffer) => parseStartupReply(buffer, consumed))
    const replyElapsed = formatMs(conversation.elapsedMs)
    if (reply.kind === 'ready') {
      // A live session: end it with Terminate rather than a bare hang-up.
      return {
        ok: true,
        detail: `PostgreSQL answered in ${replyElapsed} (ready for queries, no password needed)`,
        polite: TERMINATE,
      }
    }
    if (reply.kind === 'auth') {
      const what = AUTH_METHODS[reply.method] ?? `asked for authentication method ${reply.method}`
      return { ok: true, detail: `PostgreSQL answered in ${replyElapsed} (${what})`, polite: null }
    }
    const fields = errorFields(reply.body)
    const message = fields.get('M') ?? 'unspecified error'
    const code = fields.get('C')
    // 57P03 cannot_connect_now: the server is starting up, shutting down or in recovery.
    if (code === '57P03') {
      return { ok: false, detail: `PostgreSQL is not accepting connections: ${message}` }
    }
    // 53300 too_many_connections: a live server, but not one a client can use now.
    if (code === '53300') {
      return { ok: false, detail: `PostgreSQL refused the connection: ${message}` }
    }
    // Anything else (unknown role or database, pg_hba rejects us): alive and answering.
    return { ok: true, detail: `PostgreSQL answered in ${replyElapsed} (${message})` }
  })
}

type StartupReply =
  { kind: 'auth'; method: number } | { kind: 'error'; body: Buffer } | { kind: 'ready' }

/** Backend message types that may follow AuthenticationOk before ReadyForQuery. */
const AFTER_AUTH_OK = new Set(['S', 'K', 'N', 'Z', 'E'])

/**
 * Walks the backend messages from `offset`: the first must be an authentication request (`R`)
 * or an error (`E`); after AuthenticationOk, parameter statuses, key data and notices until
 * ReadyForQuery (`Z`) or an error. Undefined while incomplete; throws on anything else.
 */
function parseStartupReply(buffer: Buffer, offset: number): StartupReply | undefined {
  let position = offset
  let authenticated = false
  for (;;) {
    if (position >= buffer.length) return undefined
    const typeByte = buffer[position] as number
    const type = String.fromCharCode(typeByte)
    const allowed = authenticated ? AFTER_AUTH_OK.has(type) : type === 'R' || type === 'E'
    if (!allowed) {
      const rest = buffer.subarray(position)
      throw new ProbeFailure(
        authenticated
          ? `PostgreSQL sent an unexpected ${hexByte(typeByte)} message during startup`
          : `not a PostgreSQL server (answered the startup message with ${hexByte(typeByte)} ${preview(rest)})`,
      )
    }
    if (buffer.length - position < 5) return undefined
    const length = buffer.readInt32BE(position + 1)
    if (length < (type === 'R' ? 8 : 4) || length > 8192) {
      throw new ProbeFailure(
        `not a PostgreSQL server (malformed ${hexByte(typeByte)} message of length ${length})`,
      )
    }
    if (buffer.length - position < 1 + length) return undefined
    const body = buffer.subarray(position + 5, position + 1 + length)
    position += 1 + length
    if (type === 'E') return { kind: 'error', body }
    if (type === 'Z') return { kind: 'ready' }
    if (type === 'R') {
      const method = body.readInt32BE(0)
      if (method !== 0 || authenticated) return { kind: 'auth', method }
      authenticated = true
    }
  }
}

/** `*1\r\n$4\r\nPING\r\n` */
const PING = '*1\r\n$4\r\nPING\r\n'

/**
 * Level 3 for Redis: `PING` in RESP. Healthy on `+PONG`; a `-NOAUTH`/`-ERR` (or other
 * authentication) error still proves a live Redis, which needs a password.
 */
export function probeRedis(
  host: string,
  port: number,
  options?: ProbeOptions,
): Promise<ServiceProbeResult> {
  return converse(host, port, options, false, async (conversation) => {
    await conversation.write(PING)
    const line = await conversation.read((buffer) => {
      if (buffer.length === 0) return undefined
      const first = buffer[0] as number
      if ((first !== 0x2b && first !== 0x2d) || conversation.serverSpokeFirst) {
        throw new ProbeFailure(`not a Redis server (answered ${preview(buffer)})`)
      }
      const end = buffer.indexOf('\r\n')
      if (end === -1) {
        if (buffer.length >= 1024)
          throw new ProbeFailure(`not a Redis server (answered ${preview(buffer)})`)
        return undefined
      }
      return buffer.subarray(0, end).toString('utf8')
    })
    const elapsed = formatMs(conversation.elapsedMs)
    if (line === '+PONG')
      return { ok: true, detail: `redis answered PONG in ${elapsed}`, polite: null }
    if (line.startsWith('+')) {
      return {
        ok: false,
        detail: `not a Redis server (answered PING with ${JSON.stringify(line)})`,
      }
    }
    const error = line.slice(1)
    const kind = error.split(' ', 1)[0] ?? ''
    if (kind === 'NOAUTH' || kind === 'ERR' || kind === 'WRONGPASS' || kind === 'NOPERM') {
      return { ok: true, detail: 'redis answered (auth required)', polite: null }
    }
    return { ok: false, detail: `redis answered with an error: ${error}` }
  })
}

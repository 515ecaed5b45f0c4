/**
 * A real `portwarden serve` for the serve-* and dashboard tests: its own state directory (token)
 * and registry in a temporary directory, a random loopback port (`--port 0`), ready when it
 * prints its READY line and its dashboard link. `request` speaks HTTP through Node's fetch; `rawRequest` writes bytes on a socket, for
 * what fetch refuses to send (odd Host headers, HTTP/1.0, two Host headers, slow bodies);
 * `readEventStream` reads `GET /api/events`.
 */
import { connect } from 'node:net'
import { join } from 'node:path'
import { CLI, cliEnv, runCommand } from './cli.js'
import type { Started } from './processes.js'
import { startProcess } from './processes.js'
import { tempDir } from './temp-dirs.js'

export interface Serve {
  process: Started
  pid: number
  port: number
  /** `http://127.0.0.1:PORT` */
  url: string
  token: string
  /** The link `serve` printed: url + `/#token=TOKEN`. */
  dashboard: string
  stateDir: string
  registry: string
  /** The environment for a CLI run that shares this server's state directory and registry. */
  env: NodeJS.ProcessEnv
  /** fetch with the token (unless `auth: false`) and JSON bodies; answers parsed as JSON when they are. */
  request(path: string, options?: ServeRequest): Promise<ServeAnswer>
}

export interface ServeRequest {
  method?: string
  body?: unknown
  /** Sent as is (a string) instead of JSON.stringify(body). */
  rawBody?: string
  headers?: Record<string, string>
  auth?: boolean
}

export interface ServeAnswer {
  status: number
  headers: Headers
  text: string
  json: any // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** Temporary directories come from the one `tempDir` (test/helpers/temp-dirs.ts; removed by `removeTempDirs`). */
export { removeTempDirs as removeServeDirs } from './temp-dirs.js'

export function serveTempDir(): string {
  return tempDir('pw-serve-')
}

/**
 * `netns`: run the server in that network namespace (`ip netns` name; the Docker tests' engine
 * namespace), and make `request` from inside it too (its loopback is not ours).
 */
export async function startServe(
  options: {
    args?: string[]
    env?: Record<string, string | undefined>
    dir?: string
    netns?: string
  } = {},
): Promise<Serve> {
  const dir = options.dir ?? serveTempDir()
  const stateDir = join(dir, 'state')
  const registry = join(dir, 'registry.db')
  const env = cliEnv({
    PORTWARDEN_STATE_DIR: stateDir,
    PORTWARDEN_REGISTRY: registry,
    NO_COLOR: '1',
    ...options.env,
  })
  const serveArgv = [CLI, 'serve', '--port', '0', '--registry', registry, ...(options.args ?? [])]
  // nsenter execs node in place (no --fork): the started pid is the server's.
  const proc = options.netns
    ? startProcess(
        'nsenter',
        [`--net=/run/netns/${options.netns}`, process.execPath, ...serveArgv],
        {
          env,
        },
      )
    : startProcess(process.execPath, serveArgv, { env })
  const url = (
    await proc.waitForLine(/^portwarden serve: listening on (http:\/\/\S+)$/)
  )[1] as string
  const token = (await proc.waitForLine(/^dashboard: \S+#token=(\S+)$/))[1] as string
  const port = Number(new URL(url).port)
  const request = async (path: string, req: ServeRequest = {}): Promise<ServeAnswer> => {
    const headers: Record<string, string> = { ...req.headers }
    if (req.auth !== false) headers.authorization ??= `Bearer ${token}`
    let body: string | undefined = req.rawBody
    if (req.body !== undefined) {
      body = JSON.stringify(req.body)
      headers['content-type'] ??= 'application/json'
    }
    const init = { method: req.method ?? 'GET', headers, body }
    const {
      status,
      headers: answerHeaders,
      text,
    } = options.netns
      ? await fetchInNetns(options.netns, `${url}${path}`, init)
      : await fetch(`${url}${path}`, init).then(async (response) => ({
          status: response.status,
          headers: response.headers,
          text: await response.text(),
        }))
    let json: unknown = undefined
    try {
      json = JSON.parse(text)
    } catch {
      // not JSON (the dashboard, /metrics)
    }
    return { status, headers: answerHeaders, text, json }
  }
  const dashboard = `${url}/#token=${token}`
  return {
    process: proc,
    pid: proc.pid,
    port,
    url,
    token,
    dashboard,
    stateDir,
    registry,
    env,
    request,
  }
}

/** fetch, made by a node run inside the network namespace `netns`. */
async function fetchInNetns(
  netns: string,
  url: string,
  init: { method: string; headers: Record<string, string>; body: string | undefined },
): Promise<{ status: number; headers: Headers; text: string }> {
  const script = `const [url, init] = process.argv.slice(1)
fetch(url, JSON.parse(init)).then(async (r) => process.stdout.write(JSON.stringify({
  status: r.status, headers: [...r.headers], text: await r.text() })))`
  const result = await runCommand(
    'nsenter',
    [`--net=/run/netns/${netns}`, process.execPath, '-e', script, url, JSON.stringify(init)],
    { timeoutMs: 30_000 },
  )
  if (result.code !== 0) throw new Error(`fetch ${url} in ${netns}: ${result.stderr}`)
  const answer = JSON.parse(result.stdout) as {
    status: number
    headers: [string, string][]
    text: string
  }
  return { status: answer.status, headers: new Headers(answer.headers), text: answer.text }
}

export interface RawAnswer {
  status: number | null
  head: string
  body: string
  /** ms from the first byte written to the connection's end. */
  ms: number
  /** The `chunks` not written whole before the connection ended (cut under a slow client). */
  unsent: number
}

/**
 * Writes `text` (then `chunks`, each after `gapMs`) to 127.0.0.1:port and reads until the server
 * closes the connection or `timeoutMs` passes. Requests should say `Connection: close`.
 */
export function rawRequest(
  port: number,
  text: string,
  options: { chunks?: string[]; gapMs?: number; timeoutMs?: number } = {},
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const socket = connect({ host: '127.0.0.1', port })
    let data = ''
    const chunks = [...(options.chunks ?? [])]
    let unsent = chunks.length
    let feeder: NodeJS.Timeout | undefined
    const finish = (): void => {
      clearTimeout(timer)
      clearInterval(feeder)
      socket.destroy()
      const head = data.split('\r\n\r\n', 1)[0] ?? ''
      const status = /^HTTP\/1\.[01] ([0-9]{3})/.exec(head)?.[1]
      resolve({
        status: status === undefined ? null : Number(status),
        head,
        body: data.slice(head.length + 4),
        ms: performance.now() - started,
        unsent,
      })
    }
    const timer = setTimeout(finish, options.timeoutMs ?? 10_000)
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (data += chunk))
    socket.on('end', finish)
    socket.on('close', finish)
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNRESET' || error.code === 'EPIPE') finish()
      else reject(error)
    })
    socket.on('connect', () => {
      socket.write(text)
      if (chunks.length > 0)
        feeder = setInterval(() => {
          const next = chunks.shift()
          if (next === undefined || socket.destroyed) clearInterval(feeder)
          else socket.write(next, (error) => (error ? undefined : unsent--))
        }, options.gapMs ?? 100)
    })
  })
}

/** A minimal HTTP/1.1 request with the given head lines. */
export function httpRequest(method: string, path: string, headers: string[], body = ''): string {
  return `${method} ${path} HTTP/1.1\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n${body ? `Content-Length: ${Buffer.byteLength(body)}\r\n` : ''}\r\n${body}`
}

export interface EventStream {
  /**
   * Reads until `pattern` matches everything the stream has sent so far, and returns the match;
   * throws, naming the pattern and showing the end of what came, if the stream ends first or
   * nothing matches within `ms` (20 s by default: under a test's 30 s, so the failure says why).
   */
  waitFor(pattern: RegExp, ms?: number): Promise<RegExpExecArray>
  /** Everything the stream has sent so far, decoded. */
  text(): string
}

/** The most of what a stream sent that a failure shows (a baseline is megabytes). */
const SHOWN_TAIL = 2000

/** Reads `response`'s body, an event stream (`GET /api/events`), for `waitFor`. */
export function readEventStream(response: Response): EventStream {
  if (!response.body) throw new Error(`the event stream has no body (status ${response.status})`)
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let text = ''
  let ended = false
  // A read that outlives a `waitFor` that timed out is the next one's: reads are never lost.
  let pending: ReturnType<typeof reader.read> | null = null
  const shown = () =>
    text.length > SHOWN_TAIL ? `…${text.slice(-SHOWN_TAIL)}` : text || '(nothing)'
  const waitFor = async (pattern: RegExp, ms = 20_000): Promise<RegExpExecArray> => {
    const deadline = performance.now() + ms
    for (;;) {
      const match = pattern.exec(text)
      if (match) return match
      if (ended) throw new Error(`the event stream ended before ${pattern}; it sent:\n${shown()}`)
      pending ??= reader.read()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), Math.max(0, deadline - performance.now()))
      })
      const result = await Promise.race([pending, timedOut]).finally(() => clearTimeout(timer))
      if (result === 'timeout')
        throw new Error(`no ${pattern} in the event stream within ${ms} ms; it sent:\n${shown()}`)
      pending = null
      if (result.done) {
        ended = true
        text += decoder.decode()
      } else text += decoder.decode(result.value, { stream: true })
    }
  }
  return { waitFor, text: () => text }
}

/** Stops the server with SIGTERM and waits for its exit code (it must shut down by itself). */
export async function stopServe(serve: Serve): Promise<number | string> {
  if (!serve.process.hasExited()) process.kill(serve.pid, 'SIGTERM')
  return serve.process.exited
}

import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { MiddlewareHandler } from 'hono'
import { ApiError } from './errors.js'

/** Methods that change state: they need the token, a same-origin caller and a JSON body. */
const SAFE_METHODS = new Set(['GET', 'HEAD'])

/**
 * Who may call us by name: loopback always (`localhost`, 127.0.0.0/8, `::1`), plus the names
 * of a non-loopback address we were told to bind. `port` is the port we listen on; a Host
 * header naming another port is someone else's request.
 */
export interface HostPolicy {
  port: () => number | null
  /** Lower case. */
  extraNames: readonly string[]
}

/** CSP, nosniff, CORP on every answer (H9); `no-store`: the API's answers are live data. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
}

export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next()
    const headers = c.res.headers
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) headers.set(name, value)
    if (!headers.has('Cache-Control')) headers.set('Cache-Control', 'no-store')
  }
}

/** `host:port` split; IPv6 in brackets. Null for anything that is not a plain name or address. */
export function splitHostHeader(value: string): { name: string; port: number | null } | null {
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::([0-9]{1,5}))?$/.exec(value)
  if (!match) return null
  const name = (match[1] as string).toLowerCase().replace(/^\[(.*)\]$/, '$1')
  return { name, port: match[2] === undefined ? null : Number(match[2]) }
}

export function isLoopbackName(name: string): boolean {
  if (name === 'localhost' || name === '::1') return true
  const octets = /^127\.([0-9]{1,3})\.([0-9]{1,3})\.([0-9]{1,3})$/.exec(name)
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255)
}

/**
 * DNS rebinding defence (H2): every request, GET included, must name us in `Host`. Missing
 * (HTTP/1.0) or foreign → 403 `forbidden_host`; two Host headers → 400. `hostValues` are all
 * the Host headers the request carried. Null when the request may go on.
 */
export function refuseHost(hostValues: readonly string[], policy: HostPolicy): ApiError | null {
  if (hostValues.length > 1) {
    return new ApiError('invalid_request', 'The request has more than one Host header.', {
      details: { header: 'Host' },
    })
  }
  const value = hostValues[0]
  const host = value === undefined ? null : splitHostHeader(value.trim())
  const port = policy.port()
  const ours =
    host !== null &&
    (isLoopbackName(host.name) || policy.extraNames.includes(host.name)) &&
    (host.port === null || port === null || host.port === port)
  if (ours) return null
  return new ApiError(
    'forbidden_host',
    value === undefined
      ? 'The request has no Host header; portwarden answers only requests addressed to it by a loopback name.'
      : `Host ${JSON.stringify(value.slice(0, 200))} is not this server; portwarden answers only requests addressed to localhost, 127.0.0.1 or [::1]${port === null ? '' : ` on port ${port}`}.`,
    { details: { host: value?.slice(0, 200) ?? null } },
  )
}

/** The Host headers of a raw Node request (Node keeps only the first in `headers`). */
export function rawHostValues(incoming: IncomingMessage): string[] {
  const values: string[] = []
  for (let i = 0; i + 1 < incoming.rawHeaders.length; i += 2)
    if (/^host$/i.test(incoming.rawHeaders[i] as string))
      values.push(incoming.rawHeaders[i + 1] as string)
  return values
}

/** The Host check as middleware, for `app.request()`; listen.ts runs it before Hono, too. */
export function hostGuard(policy: HostPolicy): MiddlewareHandler {
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
    const host = c.req.header('host')
    const refusal = refuseHost(
      incoming ? rawHostValues(incoming) : host === undefined ? [] : [host],
      policy,
    )
    if (refusal) throw refusal
    await next()
  }
}

/**
 * Cross-origin callers are refused (H4, H8). A browser sends `Origin` on its cross-origin
 * fetches and EventSources (GET included), so a foreign one is refused on every route; Fetch
 * metadata (`Sec-Fetch-Site: cross-site`) is refused on the API and on every state-changing
 * request, while a link followed to the dashboard itself still opens it. A body must be JSON,
 * which a plain `<form>` cannot send. Preflights get no CORS headers, so a foreign page never
 * reads an answer.
 */
export function originGuard(): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method
    const origin = c.req.header('origin')
    if (
      origin !== undefined &&
      origin.toLowerCase() !== `http://${c.req.header('host')}`.toLowerCase()
    ) {
      throw new ApiError(
        'forbidden_origin',
        `Cross-origin request refused (Origin: ${origin}): the API answers this server's own pages and non-browser clients only.`,
        { details: { origin } },
      )
    }
    const site = c.req.header('sec-fetch-site')
    const api = c.req.path.startsWith('/api/') || c.req.path === '/metrics'
    if (
      site !== undefined &&
      site !== 'same-origin' &&
      site !== 'none' &&
      (api || !SAFE_METHODS.has(method))
    ) {
      throw new ApiError(
        'forbidden_origin',
        `Cross-site request refused (Sec-Fetch-Site: ${site}): the API answers this server's own pages and non-browser clients only.`,
        { details: { sec_fetch_site: site } },
      )
    }
    if (SAFE_METHODS.has(method)) return next()
    if (method === 'OPTIONS') {
      throw new ApiError(
        'method_not_allowed',
        'OPTIONS is not supported: portwarden sends no CORS headers.',
        { details: { method } },
      )
    }
    const type = c.req.header('content-type')
    const hasBody =
      c.req.header('transfer-encoding') !== undefined ||
      (c.req.header('content-length') ?? '0') !== '0'
    if ((type !== undefined || hasBody) && !isJsonType(type)) {
      throw new ApiError(
        'unsupported_media_type',
        `Content-Type ${JSON.stringify(type ?? '')} is not accepted: send the body as application/json.`,
        { details: { content_type: type ?? null } },
      )
    }
    await next()
  }
}

function isJsonType(type: string | undefined): boolean {
  return type !== undefined && /^application\/json\s*(;\s*charset=utf-8\s*)?$/i.test(type.trim())
}

const QUERY_TOKEN_NAMES = ['token', 'access_token', 'auth', 'authorization']

/**
 * The bearer token (H6): on state-changing routes, and on every route when `everyRoute`
 * (bound to a non-loopback address). Compared in constant time (hashes of equal length, then
 * timingSafeEqual). A token in the query string is refused even when it is right: URLs end up
 * in logs and browser history.
 */
export function tokenGuard(token: string, everyRoute: boolean): MiddlewareHandler {
  const expected = digest(token)
  return async (c, next) => {
    const query = new URL(c.req.url).searchParams
    const inQuery = QUERY_TOKEN_NAMES.find((name) => query.has(name))
    if (inQuery !== undefined) {
      throw new ApiError(
        'unauthorized',
        `A token in the query string (${inQuery}=) is not accepted: send it as "Authorization: Bearer TOKEN".`,
        { details: { parameter: inQuery } },
      )
    }
    if (!everyRoute && SAFE_METHODS.has(c.req.method)) return next()
    const header = c.req.header('authorization')
    const presented =
      header === undefined ? null : /^Bearer ([A-Za-z0-9_~+/=.-]{1,512})$/.exec(header)?.[1]
    if (
      presented === undefined ||
      presented === null ||
      !timingSafeEqual(digest(presented), expected)
    ) {
      throw new ApiError(
        'unauthorized',
        header === undefined
          ? 'This request needs the token: send "Authorization: Bearer TOKEN" (the token is in the state directory, printed by `portwarden serve`).'
          : 'The token is wrong: send "Authorization: Bearer TOKEN" with the token `portwarden serve` printed.',
      )
    }
    await next()
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

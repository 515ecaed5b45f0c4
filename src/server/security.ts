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
  extraNames: readonly string[]
}

/** CSP, nosniff, CORP on every answer (H9); `no-store`: the API's answers are live data. */
export function securityHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next()
    const headers = c.res.headers
    headers.set('Content-Security-Policy', "default-src 'self'; frame-ancestors 'none'")
    headers.set('X-Content-Type-Options', 'nosniff')
    headers.set('Cross-Origin-Resource-Policy', 'same-origin')
    headers.set('Referrer-Policy', 'no-referrer')
    headers.set('X-Frame-Options', 'DENY')
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
 * (HTTP/1.0) or foreign → 403 before any handler runs; two Host headers → 400.
 */
export function hostGuard(policy: HostPolicy): MiddlewareHandler {
  const extra = new Set(policy.extraNames.map((name) => name.toLowerCase()))
  return async (c, next) => {
    const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming
    const hostHeaders = incoming
      ? incoming.rawHeaders.filter((_, i) => i % 2 === 0).filter((n) => /^host$/i.test(n)).length
      : c.req.header('host') === undefined
        ? 0
        : 1
    if (hostHeaders > 1) {
      throw new ApiError('invalid_request', 'The request has more than one Host header.', {
        details: { header: 'Host' },
      })
    }
    const value = c.req.header('host')
    const host = value === undefined ? null : splitHostHeader(value.trim())
    const port = policy.port()
    const ours =
      host !== null &&
      (isLoopbackName(host.name) || extra.has(host.name)) &&
      (host.port === null || port === null || host.port === port)
    if (!ours) {
      throw new ApiError(
        'forbidden_host',
        value === undefined
          ? 'The request has no Host header; portwarden answers only requests addressed to it by a loopback name.'
          : `Host ${JSON.stringify(value)} is not this server; portwarden answers only requests addressed to localhost, 127.0.0.1 or [::1]${port === null ? '' : ` on port ${port}`}.`,
        { details: { host: value ?? null } },
      )
    }
    await next()
  }
}

/**
 * Cross-site requests that change state are refused (H4): Fetch metadata first, then `Origin`
 * against `Host`; a body must be JSON, which a plain `<form>` cannot send. Preflights get no
 * CORS headers, so a foreign page can never read an answer either.
 */
export function originGuard(): MiddlewareHandler {
  return async (c, next) => {
    const method = c.req.method
    if (SAFE_METHODS.has(method)) return next()
    const site = c.req.header('sec-fetch-site')
    if (site !== undefined && site !== 'same-origin' && site !== 'none') {
      throw new ApiError(
        'forbidden_origin',
        `Cross-site request refused (Sec-Fetch-Site: ${site}): state-changing requests must come from the dashboard itself or a non-browser client.`,
        { details: { sec_fetch_site: site } },
      )
    }
    const origin = c.req.header('origin')
    if (
      origin !== undefined &&
      origin.toLowerCase() !== `http://${c.req.header('host')}`.toLowerCase()
    ) {
      throw new ApiError(
        'forbidden_origin',
        `Cross-origin request refused (Origin: ${origin}): state-changing requests must come from this server's own pages.`,
        { details: { origin } },
      )
    }
    if (method === 'OPTIONS') {
      throw new ApiError(
        'method_not_allowed',
        'OPTIONS is not supported: portwarden sends no CORS headers.',
        {
          details: { method },
        },
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

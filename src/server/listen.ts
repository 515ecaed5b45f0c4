import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { networkInterfaces, hostname } from 'node:os'
import { getRequestListener } from '@hono/node-server'
import { formatEndpoint } from '../core/addresses.js'
import { checkPort } from '../core/check-port.js'
import { errnoOf, PortwardenError } from '../core/errors.js'
import { checkSentence } from '../core/messages.js'
import type { AppOptions, ServerApp } from './app.js'
import { createApp } from './app.js'
import { errorBody } from './errors.js'
import { SECURITY_HEADERS, isLoopbackName, rawHostValues, refuseHost } from './security.js'

/** Slow-header clients (slowloris) are cut after this; a whole request after REQUEST_TIMEOUT_MS. */
export const HEADERS_TIMEOUT_MS = 10_000
export const REQUEST_TIMEOUT_MS = 30_000

export interface ListenOptions extends Omit<
  AppOptions,
  'serverPort' | 'extraHostNames' | 'tokenOnEveryRoute'
> {
  host: string
  port: number
  /** Whole-request bound, ms (default REQUEST_TIMEOUT_MS); tests shorten it. */
  requestTimeoutMs?: number
}

export interface RunningServer {
  server: Server
  served: ServerApp
  /** `http://127.0.0.1:7878` (the real port when 0 was asked for). */
  url: string
  port: number
  /** True when bound to a non-loopback address (the token then guards every route). */
  exposed: boolean
  close(): Promise<void>
}

/**
 * Listens on `host:port` (never on an omitted host: Node would take `::`, every interface) and
 * serves the app with timeouts that bound slow and endless requests.
 */
export async function startServer(options: ListenOptions): Promise<RunningServer> {
  const exposed = !isLoopbackName(options.host.toLowerCase())
  let port: number | null = null
  const served = createApp({
    ...options,
    serverPort: () => port,
    tokenOnEveryRoute: exposed,
    extraHostNames: exposed ? exposedNames(options.host) : [],
  })
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS
  const server = createServer(
    {
      headersTimeout: Math.min(HEADERS_TIMEOUT_MS, requestTimeout),
      requestTimeout,
      keepAliveTimeout: 5_000,
      // How often Node looks for requests past their timeouts (default 30 s).
      connectionsCheckingInterval: Math.min(1_000, requestTimeout),
      maxHeaderSize: 16 * 1024,
      // Our Host check answers a missing Host (403 forbidden_host, JSON) instead of Node's bare 400.
      requireHostHeader: false,
    },
    hostCheckedListener(served, getRequestListener(served.app.fetch)),
  )
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    await served.close()
    throw await listenError(error, options.host, options.port)
  }
  port = (server.address() as AddressInfo).port
  const shownHost = exposed && isWildcard(options.host) ? '127.0.0.1' : options.host
  return {
    server,
    served,
    port,
    exposed,
    url: `http://${formatEndpoint(shownHost, port)}`,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        // Event streams never end on their own.
        server.closeAllConnections()
      })
      await served.close()
    },
  }
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::'
}

/** The names a client may use for a non-loopback bind: the address, or every local one and our name. */
function exposedNames(host: string): string[] {
  if (!isWildcard(host)) return [host]
  const addresses = Object.values(networkInterfaces())
    .flat()
    .map((info) => info?.address)
    .filter((address): address is string => address !== undefined)
  return [...addresses, hostname()]
}

async function listenError(error: unknown, host: string, port: number): Promise<PortwardenError> {
  const errno = errnoOf(error)
  if (errno === 'EADDRINUSE') {
    const check = await checkPort(port, 'tcp', { host }).catch(() => null)
    const sentence = (check && checkSentence(check)) ?? `TCP port ${port} is already in use`
    return new PortwardenError(
      'port_in_use',
      `Cannot listen on ${formatEndpoint(host, port)}: ${sentence}.`,
      {
        hint: `Choose another port with --port, or see \`portwarden who ${port}\`.`,
        details: { port, protocol: 'tcp' },
      },
    )
  }
  if (errno === 'EADDRNOTAVAIL' || errno === 'EACCES' || errno === 'ENOTFOUND') {
    return new PortwardenError(
      errno === 'EACCES' ? 'permission_denied' : 'invalid_request',
      `Cannot listen on ${formatEndpoint(host, port)}: ${error instanceof Error ? error.message : String(error)}.`,
      {
        hint: 'Give a local address with --host (default 127.0.0.1) and a port above 1023 with --port.',
      },
    )
  }
  return new PortwardenError(
    'backend_unavailable',
    `Cannot listen on ${formatEndpoint(host, port)}: ${error instanceof Error ? error.message : String(error)}.`,
  )
}

/**
 * The Host check before Hono sees the request: the adapter needs a Host to build the request's
 * URL and answers a missing or odd one with a bare 400 of its own.
 */
function hostCheckedListener(
  served: ServerApp,
  next: (incoming: IncomingMessage, outgoing: ServerResponse) => unknown,
) {
  return (incoming: IncomingMessage, outgoing: ServerResponse): void => {
    const refusal = refuseHost(rawHostValues(incoming), served.hosts)
    if (refusal === null) {
      void next(incoming, outgoing)
      return
    }
    const { status, text } = errorBody(refusal)
    outgoing.writeHead(status, {
      ...SECURITY_HEADERS,
      'Cache-Control': 'no-store',
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      Connection: 'close',
    })
    outgoing.end(text)
    incoming.resume()
  }
}

import type { Protocol } from '../types.js'

/** A running container as the Docker Engine API's `GET /containers/json` lists it. */
export interface DockerContainer {
  id: string
  name: string
  ports: { ip: string | null; privatePort: number; publicPort: number | null; protocol: string }[]
  /** The container's addresses on its networks. */
  addresses: string[]
}

export type DockerLookup =
  | { ok: true; socket: string; containers: DockerContainer[] }
  | { ok: false; socket: string; reason: string; timedOut?: true }

/** Default bound on the whole API call: a hung daemon must not hang `free`. */
export const DOCKER_TIMEOUT_MS = 1500
const MAX_RESPONSE_BYTES = 4 << 20

/**
 * The Docker Engine socket: `PORTWARDEN_DOCKER_SOCKET`, else a `unix://` `DOCKER_HOST`, else
 * `/var/run/docker.sock`. TCP daemons (`tcp://`) are not contacted.
 */
export function defaultDockerSocket(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PORTWARDEN_DOCKER_SOCKET) return env.PORTWARDEN_DOCKER_SOCKET
  if (env.DOCKER_HOST?.startsWith('unix://')) return env.DOCKER_HOST.slice('unix://'.length)
  return '/var/run/docker.sock'
}

/** Lists running containers over the Engine API's unix socket, within `timeoutMs`. Never throws. */
export async function listDockerContainers(
  socket: string = defaultDockerSocket(),
  timeoutMs: number = DOCKER_TIMEOUT_MS,
): Promise<DockerLookup> {
  // Loaded on demand: only a container proxy on a port to free needs HTTP at all.
  const { request } = await import('node:http')
  return new Promise((resolve) => {
    let settled = false
    const finish = (value: DockerLookup): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      resolve(value)
    }
    const req = request(
      {
        socketPath: socket,
        path: '/containers/json',
        method: 'GET',
        headers: { Host: 'docker', Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = []
        let size = 0
        res.on('data', (chunk: Buffer) => {
          size += chunk.length
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy()
            finish({ ok: false, socket, reason: 'the Docker API answer was too large' })
          } else chunks.push(chunk)
        })
        res.on('error', (error) => finish({ ok: false, socket, reason: error.message }))
        res.on('end', () => {
          if (res.statusCode !== 200) {
            finish({ ok: false, socket, reason: `the Docker API answered HTTP ${res.statusCode}` })
            return
          }
          try {
            finish({
              ok: true,
              socket,
              containers: parseContainers(JSON.parse(Buffer.concat(chunks).toString('utf8'))),
            })
          } catch {
            finish({ ok: false, socket, reason: 'the Docker API answer was not the expected JSON' })
          }
        })
      },
    )
    const timer = setTimeout(() => {
      req.destroy()
      finish({
        ok: false,
        socket,
        reason: `the Docker API did not answer within ${timeoutMs} ms`,
        timedOut: true,
      })
    }, timeoutMs)
    timer.unref()
    req.on('error', (error: NodeJS.ErrnoException) => {
      const reason =
        error.code === 'ENOENT'
          ? `${socket} does not exist`
          : error.code === 'EACCES'
            ? `no permission to use ${socket}`
            : error.message
      finish({ ok: false, socket, reason })
    })
    req.end()
  })
}

/** Where the Engine API is, and how long a call may take. */
export interface DockerEngineOptions {
  /** The Engine API socket (default: `defaultDockerSocket()`). */
  dockerSocket?: string
  dockerTimeoutMs?: number
}

/**
 * `fresh`: ask anew rather than reuse the last second's answer (a watcher naming a proxy that has
 * just appeared, for a container that may have just started); a silent engine is still left alone.
 */
export type DockerAskOptions = DockerEngineOptions & { fresh?: boolean }

/** How long an answer is reused: one command's several asks, a server's requests within a poll. */
const ANSWER_REUSE_MS = 1000
/** How long an engine that let an ask time out is not asked again. */
const SILENT_ENGINE_MS = 10_000

interface Ask {
  lookup: Promise<DockerLookup>
  /** When it settled, and whether the engine let it time out; null while it is in flight. */
  settled: { at: number; silent: boolean } | null
}
const lastAsk = new Map<string, Ask>()

/**
 * The running containers, for portwarden's own attribution: `listDockerContainers` with the
 * defaults, where an answer is reused for a second (asks made meanwhile share it), and an engine
 * that let an ask time out is not asked again for 10 s. One command asks from several places (its
 * holders, the ports' publishers, the namespaces' names, `free`'s plan): it costs one call, and a
 * hung daemon one timeout, not one per place (nor a long-running `serve` one per request).
 */
export function askDockerEngine(options: DockerAskOptions = {}): Promise<DockerLookup> {
  const socket = options.dockerSocket ?? defaultDockerSocket()
  const last = lastAsk.get(socket)
  if (last && (last.settled === null || stands(last.settled, options.fresh === true)))
    return last.lookup
  const ask: Ask = {
    lookup: listDockerContainers(socket, options.dockerTimeoutMs ?? DOCKER_TIMEOUT_MS),
    settled: null,
  }
  void ask.lookup.then((lookup) => {
    ask.settled = { at: performance.now(), silent: !lookup.ok && lookup.timedOut === true }
  })
  lastAsk.set(socket, ask)
  return ask.lookup
}

function stands(settled: { at: number; silent: boolean }, fresh: boolean): boolean {
  const age = performance.now() - settled.at
  return settled.silent ? age < SILENT_ENGINE_MS : !fresh && age < ANSWER_REUSE_MS
}

function parseContainers(body: unknown): DockerContainer[] {
  if (!Array.isArray(body)) throw new Error('not a list')
  const containers: DockerContainer[] = []
  for (const item of body as unknown[]) {
    if (typeof item !== 'object' || item === null) continue
    const record = item as Record<string, unknown>
    const names = Array.isArray(record.Names)
      ? record.Names.filter((n): n is string => typeof n === 'string')
      : []
    const id = typeof record.Id === 'string' ? record.Id : ''
    const name = (names[0] ?? id.slice(0, 12)).replace(/^\//, '')
    if (!name) continue
    const ports: DockerContainer['ports'] = []
    for (const port of Array.isArray(record.Ports) ? (record.Ports as unknown[]) : []) {
      if (typeof port !== 'object' || port === null) continue
      const p = port as Record<string, unknown>
      if (typeof p.PrivatePort !== 'number') continue
      ports.push({
        ip: typeof p.IP === 'string' ? p.IP : null,
        privatePort: p.PrivatePort,
        publicPort: typeof p.PublicPort === 'number' ? p.PublicPort : null,
        protocol: typeof p.Type === 'string' ? p.Type : 'tcp',
      })
    }
    const addresses: string[] = []
    const settings = record.NetworkSettings as
      | { Networks?: Record<string, { IPAddress?: unknown; GlobalIPv6Address?: unknown }> }
      | undefined
    for (const network of Object.values(settings?.Networks ?? {})) {
      if (typeof network?.IPAddress === 'string' && network.IPAddress)
        addresses.push(network.IPAddress)
      if (typeof network?.GlobalIPv6Address === 'string' && network.GlobalIPv6Address)
        addresses.push(network.GlobalIPv6Address)
    }
    containers.push({ id, name, ports, addresses })
  }
  return containers
}

/**
 * The container that publishes `port`: by its published port first, else by the container
 * address (`172.17.0.2:80`) that docker-proxy's command line names.
 */
export function findPublishingContainer(
  containers: readonly DockerContainer[],
  port: number,
  protocol: Protocol,
  target: string | null,
): DockerContainer | null {
  const published = containers.find((c) =>
    c.ports.some((p) => p.publicPort === port && p.protocol === protocol),
  )
  if (published) return published
  if (!target) return null
  const colon = target.lastIndexOf(':')
  const ip = colon > 0 ? target.slice(0, colon).replace(/^\[|\]$/g, '') : target
  return containers.find((c) => c.addresses.includes(ip)) ?? null
}

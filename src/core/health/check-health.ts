import { describeHolders } from '../messages.js'
import { judgeHolding, outsideWhat, whyUnjudged } from '../registry/ownership.js'
import type { Allocation, HealthCheckSpec, HealthStatus, RegistryStore } from '../registry/types.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { SocketScan } from '../sockets/list-sockets.js'
import { listenersOn } from '../sockets/query.js'
import { exactPorts } from '../port-spec.js'
import type { SocketEntry, Warning } from '../types.js'
import type { ServiceProbeResult } from './probes.js'

export interface HealthResult {
  allocation: Allocation
  status: HealthStatus
  detail: string
  /** The deepest level the check reached: 1 bind test, 2 listening socket, 3 the service answered. */
  level: 1 | 2 | 3
  checkedAt: string
}

export interface CheckHealthOptions {
  project?: string
  /** A scan of (at least) the listening sockets on the allocated ports, made already. */
  inventory?: SocketScan
  /** Probes in flight at once. Default 8. */
  concurrency?: number
  /** Bound on every probe step. Default 2000 ms. */
  timeoutMs?: number
  procRoot?: string
}

/**
 * Checks every allocation (of one project, or all) in three levels and records the outcome:
 * is the port bound at all, is it listened on (by the recorded pid, when there is one), does the
 * service answer its protocol (TCP connect, HTTP status, PostgreSQL handshake, Redis PING).
 */
export async function checkHealth(
  store: RegistryStore,
  options: CheckHealthOptions = {},
): Promise<{ results: HealthResult[]; warnings: Warning[] }> {
  const allocations = await store.list(
    options.project === undefined ? {} : { project: options.project },
  )
  if (allocations.length === 0) return { results: [], warnings: [] }
  const inventory =
    options.inventory ??
    (await listSockets({ ports: exactPorts(allocations), procRoot: options.procRoot }))
  const results = await mapBounded(allocations, options.concurrency ?? 8, async (allocation) => {
    const finding = await judge(
      allocation,
      listenersOn(inventory.sockets, allocation.protocol, allocation.port),
      options,
    )
    const checkedAt = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')
    await store.recordHealth(allocation.id, finding.status, finding.detail, checkedAt)
    return {
      allocation: {
        ...allocation,
        healthStatus: finding.status,
        healthDetail: finding.detail,
        lastCheckedAt: checkedAt,
      },
      ...finding,
      checkedAt,
    }
  })
  return { results, warnings: inventory.warnings }
}

type Finding = Pick<HealthResult, 'status' | 'detail' | 'level'>

async function judge(
  allocation: Allocation,
  sockets: readonly SocketEntry[],
  options: CheckHealthOptions,
): Promise<Finding> {
  if (sockets.length === 0) {
    const { probeEveryAddress } = await import('../bind-probe.js')
    const probes = await probeEveryAddress(allocation.protocol, allocation.port)
    if (probes.some((p) => p.outcome === 'EADDRINUSE')) {
      return {
        status: 'unhealthy',
        level: 1,
        detail:
          'the port is bound but nothing visible listens on it (bound without listen, or another network namespace)',
      }
    }
    return { status: 'not_running', level: 1, detail: 'nothing is listening on the port' }
  }
  // The rule of the conflict report: a port a foreign process holds is not the service up.
  const { owned, foreign, unverified } = judgeHolding(allocation, sockets, options.procRoot)
  if (foreign.length > 0) {
    return {
      status: 'unhealthy',
      level: 2,
      detail: `held by ${describeHolders(foreign)}, not by ${allocation.service} (${outsideWhat(allocation)})`,
    }
  }
  // A holder that cannot be judged is reported as such (an unverified SYSTEM CONFLICT), and said.
  const caveat =
    unverified.length > 0
      ? `; held by ${describeHolders(unverified)}, not verified as ${allocation.service}: ${whyUnjudged(allocation, unverified)}`
      : ''
  if (allocation.protocol === 'udp') {
    const by = owned.length > 0 ? `bound by ${describeHolders(owned)}` : 'bound'
    return { status: 'healthy', level: 2, detail: `${by}${caveat}` }
  }
  const host = probeHost(sockets[0] as SocketEntry)
  const outcome = await probeService(allocation.healthCheck, host, allocation.port, {
    timeoutMs: options.timeoutMs,
  })
  return {
    status: outcome.ok ? 'healthy' : 'unhealthy',
    level: 3,
    detail: `${outcome.detail}${caveat}`,
  }
}

/**
 * Level 3 for any health check spec: does the service on host:port answer its protocol? No spec
 * (null): a connect, and the HTTP status when the service speaks HTTP.
 */
export async function probeService(
  check: HealthCheckSpec | null,
  host: string,
  port: number,
  options: { timeoutMs?: number } = {},
): Promise<ServiceProbeResult> {
  const probes = await import('./probes.js')
  const { timeoutMs } = options
  if (check === null) return probes.probeDefault(host, port, { timeoutMs })
  switch (check.kind) {
    case 'http':
    case 'https':
      return probes.probeHttp({
        host,
        port,
        path: check.path,
        expect: check.expect,
        https: check.kind === 'https',
        timeoutMs,
      })
    case 'postgres':
      return probes.probePostgres(host, port, { timeoutMs })
    case 'redis':
      return probes.probeRedis(host, port, { timeoutMs })
    case 'tcp':
      return probes.probeTcpConnect(host, port, { timeoutMs })
  }
}

/** Where to reach a listener from this host: loopback for a wildcard, else its own address. */
export function probeHost(socket: SocketEntry): string {
  if (socket.localAddress === '0.0.0.0') return '127.0.0.1'
  if (socket.localAddress === '::') return '::1'
  if (socket.localAddress.startsWith('::ffff:') && socket.localAddress.includes('.'))
    return socket.localAddress.slice(7)
  return socket.localAddress
}

async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await work(items[index] as T)
    }
  })
  await Promise.all(lanes)
  return results
}

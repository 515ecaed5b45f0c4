import type { ProbeTarget } from '../bind-probe.js'
import { PortwardenError } from '../errors.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { Protocol, Warning } from '../types.js'
import type { PortRange } from './allocator.js'
import { DEFAULT_ALLOCATION_RANGE, rangeWarnings, reservedPorts } from './allocator.js'
import { validatePort } from './names.js'
import type { RegistryStore } from './types.js'

export const MAX_FIND_COUNT = 1000

export interface FindFreeOptions {
  protocol?: Protocol
  range?: PortRange
  count?: number
  /** Only this address must be free; default every address. */
  host?: string
  /** Ports allocated here are skipped even when nothing listens on them yet. */
  store?: RegistryStore | null
  procRoot?: string
}

/**
 * Free ports, lowest first: not in any socket table, not allocated in the registry, not in
 * `ip_local_reserved_ports`, and bindable right now. Advisory: nothing is reserved.
 */
export async function findFreePorts(
  options: FindFreeOptions = {},
): Promise<{ ports: number[]; warnings: Warning[] }> {
  const protocol = options.protocol ?? 'tcp'
  const range = options.range ?? DEFAULT_ALLOCATION_RANGE
  validatePort(range.from)
  validatePort(range.to)
  if (range.to < range.from) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid range ${range.from}-${range.to}: it is inverted.`,
      {
        hint: 'A range is A-B with 1 <= A <= B <= 65535.',
      },
    )
  }
  const count = options.count ?? 1
  if (!Number.isInteger(count) || count < 1 || count > MAX_FIND_COUNT) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid count ${String(count)}: ask for 1 to ${MAX_FIND_COUNT} ports.`,
      {
        hint: 'Example: --count 3',
      },
    )
  }
  const { EVERY_ADDRESS, bindSucceeded, bindableHost, probeBind } = await import('../bind-probe.js')
  const targets: readonly ProbeTarget[] | undefined =
    options.host === undefined
      ? undefined
      : [{ host: (await bindableHost(options.host)).address, ipv6Only: false }]
  const inventory = await listSockets({
    all: true,
    protocols: [protocol],
    ports: [{ ...range, protocol }],
    withProcesses: false,
    procRoot: options.procRoot,
  })
  const busy = new Set(inventory.sockets.map((s) => s.localPort))
  const allocated = new Set((await options.store?.list({ protocol }))?.map((a) => a.port) ?? [])
  const reserved = reservedPorts(options.procRoot)
  const ports: number[] = []
  for (let port = range.from; port <= range.to && ports.length < count; port++) {
    if (busy.has(port) || allocated.has(port) || reserved.has(port)) continue
    const probes = await Promise.all(
      (targets ?? EVERY_ADDRESS).map((t) => probeBind(protocol, port, t)),
    )
    if (!bindSucceeded(probes)) continue
    ports.push(port)
  }
  if (ports.length < count) {
    throw new PortwardenError(
      'range_exhausted',
      `Only ${ports.length} free ${protocol.toUpperCase()} port${ports.length === 1 ? '' : 's'} in ${range.from}-${range.to}; ${count} asked for.`,
      {
        hint: 'Give a wider range with --range A-B.',
        details: { range: `${range.from}-${range.to}`, found: ports },
      },
    )
  }
  return { ports, warnings: rangeWarnings(range, options.procRoot) }
}

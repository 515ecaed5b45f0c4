import { formatEndpoint } from '../addresses.js'
import { checkPort } from '../check-port.js'
import { toJsonAllocation } from '../wire.js'
import { PortwardenError } from '../errors.js'
import { checkSentence } from '../messages.js'
import { readProcText } from '../process/read-process.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { Protocol, Warning } from '../types.js'
import { validateName, validatePort } from './names.js'
import type { Allocation, HealthCheckSpec, RegistryStore } from './types.js'

export interface PortRange {
  from: number
  to: number
}

/** Below the usual ephemeral range (32768-60999) and clear of the ports people type by hand. */
export const DEFAULT_ALLOCATION_RANGE: PortRange = { from: 20000, to: 29999 }

export interface AllocateRequest {
  project: string
  service: string
  protocol?: Protocol
  /** This exact port, or an error saying who has it. */
  port?: number
  /** Where to look for a free port; default DEFAULT_ALLOCATION_RANGE. */
  range?: PortRange
  healthCheck?: HealthCheckSpec
  pid?: number
  worktree?: string
}

export interface AllocateResult {
  allocation: Allocation
  /** False when the service already had this port (allocation is idempotent). */
  created: boolean
  warnings: Warning[]
}

export interface AllocateOptions {
  procRoot?: string
}

/**
 * Gives a service a port, or returns the one it already has. The choice and the insert happen
 * under the registry's write lock, so concurrent callers never get the same port; a port held
 * by any process (socket tables, then a bind test) is never handed out.
 */
export async function allocate(
  store: RegistryStore,
  request: AllocateRequest,
  options: AllocateOptions = {},
): Promise<AllocateResult> {
  const project = validateName('project', request.project)
  const service = validateName('service', request.service)
  const protocol = request.protocol ?? 'tcp'
  if (request.port !== undefined) validatePort(request.port)
  const range =
    request.port !== undefined
      ? { from: request.port, to: request.port }
      : (request.range ?? DEFAULT_ALLOCATION_RANGE)
  validateRange(range)
  const warnings = rangeWarnings(range, options.procRoot)
  // Idempotency first, and cheaply: a service that has its port needs no socket-table read.
  const [known] = await store.list({ project, service, protocol })
  if (known && (request.port === undefined || known.port === request.port)) {
    if (known.port < range.from || known.port > range.to) {
      warnings.push({
        code: 'outside_range',
        message: `${service} of project ${project} keeps its port ${known.port}, outside ${range.from}-${range.to}; release it first to move it`,
      })
    }
    return { allocation: known, created: false, warnings }
  }
  const reserved = reservedPorts(options.procRoot)
  const busy = await systemBusyPorts(protocol, options.procRoot)
  const { bindSucceeded, probeEveryAddress } = await import('../bind-probe.js')
  const bindable = async (port: number) => bindSucceeded(await probeEveryAddress(protocol, port))

  let heldBySystem: number | null = null
  const outcome = await store.write(async (tx) => {
    const existing = await tx.findService(project, service, protocol)
    if (existing) {
      if (request.port !== undefined && existing.port !== request.port) {
        throw new PortwardenError(
          'port_allocated',
          `${service} of project ${project} already has ${protocol.toUpperCase()} port ${existing.port}; release it first to move it to ${request.port}.`,
          {
            hint: `portwarden release ${service} --project ${project}`,
            details: toJsonAllocation(existing),
          },
        )
      }
      return { allocation: existing, created: false }
    }
    if (request.port !== undefined) {
      const owner = await tx.findPort(protocol, request.port)
      if (owner) {
        throw new PortwardenError(
          'port_allocated',
          `${protocol.toUpperCase()} port ${request.port} is allocated to ${owner.service} of project ${owner.project}.`,
          {
            hint: 'Leave out --port to get a free one, or release it there first.',
            details: toJsonAllocation(owner),
          },
        )
      }
      if (busy.has(request.port) || !(await bindable(request.port))) {
        heldBySystem = request.port
        return null
      }
      return {
        allocation: await tx.insert(newRow(request, project, service, protocol, request.port)),
        created: true,
      }
    }
    const taken = await tx.takenPorts(protocol, range.from, range.to)
    for (const port of candidatePorts(project, service, protocol, range)) {
      if (taken.has(port) || busy.has(port) || reserved.has(port)) continue
      if (!(await bindable(port))) continue
      return {
        allocation: await tx.insert(newRow(request, project, service, protocol, port)),
        created: true,
      }
    }
    throw new PortwardenError(
      'range_exhausted',
      `No free ${protocol.toUpperCase()} port in ${range.from}-${range.to}: every port there is allocated or in use.`,
      {
        hint: 'Give a wider range with --range A-B, or release allocations you no longer need.',
        details: { range: `${range.from}-${range.to}`, protocol },
      },
    )
  })
  if (outcome === null) throw await portInUseError(protocol, heldBySystem ?? 0, options.procRoot)
  return { ...outcome, warnings }
}

async function portInUseError(
  protocol: Protocol,
  port: number,
  procRoot?: string,
): Promise<PortwardenError> {
  // Outside the lock: naming the holder walks /proc, which must not hold up other allocators.
  const check = await checkPort(port, protocol, { procRoot })
  const sentence =
    checkSentence(check) ?? `${protocol.toUpperCase()} port ${port} is already in use`
  const socket = check.holders[0]
  const holder = socket?.processes[0]
  return new PortwardenError('port_in_use', `${sentence}.`, {
    hint: `See \`portwarden who ${port}/${protocol}\`; free it with \`portwarden free ${port}/${protocol}\` or leave out --port.`,
    details: {
      port,
      protocol,
      process: holder?.name ?? null,
      pid: holder?.pid ?? null,
      local_address: socket ? formatEndpoint(socket.localAddress, port) : null,
    },
  })
}

function newRow(
  request: AllocateRequest,
  project: string,
  service: string,
  protocol: Protocol,
  port: number,
) {
  return {
    project,
    service,
    protocol,
    port,
    healthCheck: request.healthCheck ?? null,
    pid: request.pid ?? null,
    worktree: request.worktree ?? null,
  }
}

function validateRange(range: PortRange): void {
  validatePort(range.from)
  validatePort(range.to)
  if (range.to < range.from) {
    throw new PortwardenError(
      'invalid_request',
      `Invalid range ${range.from}-${range.to}: it is inverted (write ${range.to}-${range.from}).`,
      {
        hint: 'A range is A-B with 1 <= A <= B <= 65535, e.g. --range 20000-20999.',
      },
    )
  }
}

/**
 * Candidates in a stable order that starts at a port derived from project/service/protocol, so
 * a worktree that is deleted and made again gets the same port back when it is still free.
 */
export function* candidatePorts(
  project: string,
  service: string,
  protocol: Protocol,
  range: PortRange,
): Generator<number> {
  const size = range.to - range.from + 1
  const start = fnv1a(`${project}\0${service}\0${protocol}`) % size
  for (let i = 0; i < size; i++) yield range.from + ((start + i) % size)
}

export function preferredPort(
  project: string,
  service: string,
  protocol: Protocol,
  range: PortRange = DEFAULT_ALLOCATION_RANGE,
): number {
  return candidatePorts(project, service, protocol, range).next().value as number
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte
    hash = Math.imul(hash, 0x01000193) >>> 0
  }
  return hash
}

/** Ports some socket uses right now, from the tables alone (no holder scan: it is not needed). */
/** How long a read of the socket tables serves later allocations in this process. */
const BUSY_SNAPSHOT_TTL_MS = 1000

const busySnapshots = new Map<string, { at: number; ports: Set<number> }>()

/**
 * Ports some socket uses (any state, TIME-WAIT included), from the tables alone. Reading
 * /proc/net costs about 0.7 ms per file even when nearly empty (the kernel walks its whole hash
 * table), so a batch of allocations shares one read for a second; the bind test made right before
 * each insert still catches a listener that appeared since.
 */
async function systemBusyPorts(protocol: Protocol, procRoot = '/proc'): Promise<Set<number>> {
  const key = `${protocol}:${procRoot}`
  const cached = busySnapshots.get(key)
  if (cached && Date.now() - cached.at < BUSY_SNAPSHOT_TTL_MS) return cached.ports
  const inventory = await listSockets({
    all: true,
    protocols: [protocol],
    withProcesses: false,
    procRoot,
  })
  const ports = new Set(inventory.sockets.map((socket) => socket.localPort))
  busySnapshots.set(key, { at: Date.now(), ports })
  return ports
}

/** `ip_local_reserved_ports`: ports the kernel keeps out of its ephemeral choice, for services. */
export function reservedPorts(procRoot = '/proc'): Set<number> {
  const text = readProcText(`${procRoot}/sys/net/ipv4/ip_local_reserved_ports`)?.trim() ?? ''
  const ports = new Set<number>()
  for (const part of text.split(',')) {
    const match = /^(\d+)(?:-(\d+))?$/.exec(part.trim())
    if (!match) continue
    const from = Number(match[1])
    const to = Math.min(Number(match[2] ?? match[1]), 65535)
    for (let port = from; port <= to; port++) ports.add(port)
  }
  return ports
}

/** `ip_local_port_range`: where outgoing connections take their local ports. */
export function ephemeralRange(procRoot = '/proc'): PortRange | null {
  const match = /^(\d+)\s+(\d+)/.exec(
    readProcText(`${procRoot}/sys/net/ipv4/ip_local_port_range`)?.trim() ?? '',
  )
  return match ? { from: Number(match[1]), to: Number(match[2]) } : null
}

export function rangeWarnings(range: PortRange, procRoot?: string): Warning[] {
  const ephemeral = ephemeralRange(procRoot)
  if (!ephemeral || range.to < ephemeral.from || range.from > ephemeral.to) return []
  return [
    {
      code: 'ephemeral_range',
      message: `the range ${range.from}-${range.to} overlaps the kernel's ephemeral range ${ephemeral.from}-${ephemeral.to} (ip_local_port_range): outgoing connections may take those ports at any time`,
    },
  ]
}

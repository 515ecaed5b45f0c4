import { formatEndpoint } from '../addresses.js'
import { checkPort } from '../check-port.js'
import { toJsonAllocation } from '../wire.js'
import { PortwardenError } from '../errors.js'
import { checkSentence } from '../messages.js'
import { isDescendantOf, readProcText } from '../process/read-process.js'
import { listSockets } from '../sockets/list-sockets.js'
import type { Protocol, Warning } from '../types.js'
import { validateName, validatePort } from './names.js'
import type {
  Allocation,
  HealthCheckSpec,
  NewAllocation,
  RegistryStore,
  RegistryTransaction,
} from './types.js'

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
  /**
   * The process serving the port. Recorded on the service's allocation when it has one already;
   * a port held by exactly this process (or its descendants) can be allocated to it.
   */
  pid?: number
  worktree?: string
}

export interface AllocateResult {
  allocation: Allocation
  /** False when the service already had this port (allocation is idempotent). */
  created: boolean
  /**
   * A running service was adopted: `pid` was recorded on the allocation it had, or the port
   * given was allocated although that process already holds it.
   */
  adopted: boolean
  warnings: Warning[]
}

export interface AllocateOptions {
  procRoot?: string
}

/** Races lost to another allocator before the scan moves under the write lock. */
const MAX_LOST_RACES = 8

/**
 * Gives a service a port, or returns the one it already has. The scan and the bind tests happen
 * outside the registry's write lock (they await the kernel, and 64 callers on 2 cores waiting on
 * one that does queue past any sane timeout); under the lock only the chosen port is re-checked
 * and inserted. A caller that loses the race for a port chooses again; after MAX_LOST_RACES it
 * scans under the lock, so it always ends. A port held by any process (socket tables, then a
 * bind test) is never handed out, and the UNIQUE constraint backs the lock.
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
  const kept = await keptAllocation(store, request, { project, service, protocol, range, warnings })
  if (kept) return { ...kept, warnings }
  const { bindSucceeded, probeEveryAddress } = await import('../bind-probe.js')
  const run: AllocationRun = {
    store,
    request,
    procRoot: options.procRoot,
    project,
    service,
    protocol,
    range,
    reserved: reservedPorts(options.procRoot),
    busy: await systemBusyPorts(protocol, options.procRoot),
    bindable: async (port) => bindSucceeded(await probeEveryAddress(protocol, port)),
    row: (port) => newRow(request, project, service, protocol, port),
  }
  const outcome =
    request.port !== undefined
      ? await allocateAskedPort(run, request.port)
      : ((await allocateOutsideLock(run)) ?? (await allocateUnderLock(run)))
  return { ...outcome, warnings }
}

type Outcome = Omit<AllocateResult, 'warnings'>

/** One allocation's inputs and the system's state as read once before the registry's lock. */
interface AllocationRun {
  store: RegistryStore
  request: AllocateRequest
  procRoot: string | undefined
  project: string
  service: string
  protocol: Protocol
  range: PortRange
  reserved: Set<number>
  busy: Set<number>
  bindable(port: number): Promise<boolean>
  row(port: number): NewAllocation
}

/** The service's allocation when it already has one that answers the request (pid recorded). */
async function keptAllocation(
  store: RegistryStore,
  request: AllocateRequest,
  asked: {
    project: string
    service: string
    protocol: Protocol
    range: PortRange
    warnings: Warning[]
  },
): Promise<Outcome | null> {
  const { project, service, protocol, range } = asked
  const [known] = await store.list({ project, service, protocol })
  if (!known || (request.port !== undefined && known.port !== request.port)) return null
  if (known.port < range.from || known.port > range.to) {
    asked.warnings.push({
      code: 'outside_range',
      message: `${service} of project ${project} keeps its port ${known.port}, outside ${range.from}-${range.to}; release it first to move it`,
    })
  }
  if (request.pid === undefined || known.pid === request.pid)
    return { allocation: known, created: false, adopted: false }
  // (Released meanwhile: null, and it is allocated anew.)
  return store.write((tx) => existingFor(tx, project, service, protocol, request.port, request.pid))
}

/** `--port P`: that port or an error; a service already running on it is adopted. */
async function allocateAskedPort(run: AllocationRun, port: number): Promise<Outcome> {
  const { project, service, protocol, request } = run
  const free = !run.busy.has(port) && (await run.bindable(port))
  // A service already running on its port is adopted: the port is "in use" by it.
  const adopted =
    !free &&
    request.pid !== undefined &&
    (await heldOnlyBy(protocol, port, request.pid, run.procRoot))
  const outcome = await run.store.write(async (tx) => {
    const existing = await existingFor(tx, project, service, protocol, port, request.pid)
    if (existing) return existing
    const owner = await tx.findPort(protocol, port)
    if (owner) {
      throw new PortwardenError(
        'port_allocated',
        `${protocol.toUpperCase()} port ${port} is allocated to ${owner.service} of project ${owner.project}.`,
        {
          hint: 'Leave out --port to get a free one, or release it there first.',
          details: toJsonAllocation(owner),
        },
      )
    }
    if (!free && !adopted) return null
    return { allocation: await tx.insert(run.row(port)), created: true, adopted }
  })
  if (outcome === null) throw await portInUseError(protocol, port, run.procRoot, request.pid)
  return outcome
}

/**
 * Chooses a port with the bind tests outside the lock, then inserts it under the lock; a port
 * lost to another allocator is never tried again. Null after MAX_LOST_RACES, or when nothing is
 * left to try outside the lock.
 */
async function allocateOutsideLock(run: AllocationRun): Promise<Outcome | null> {
  const { project, service, protocol, range, request } = run
  const unusable = new Set<number>() // failed a bind test, or lost to another allocator
  const usable = (port: number, taken: Set<number>) =>
    !taken.has(port) && !run.busy.has(port) && !run.reserved.has(port) && !unusable.has(port)
  for (let lost = 0; lost < MAX_LOST_RACES; lost++) {
    const taken = await run.store.takenPorts(protocol, range.from, range.to)
    let chosen: number | null = null
    for (const port of candidatePorts(project, service, protocol, range)) {
      if (!usable(port, taken)) continue
      if (await run.bindable(port)) {
        chosen = port
        break
      }
      unusable.add(port)
    }
    if (chosen === null) return null // nothing left outside the lock; the scan under it says so
    const port = chosen
    const outcome = await run.store.write(async (tx) => {
      const existing = await existingFor(tx, project, service, protocol, undefined, request.pid)
      if (existing) return existing
      if (await tx.findPort(protocol, port)) return null
      return { allocation: await tx.insert(run.row(port)), created: true, adopted: false }
    })
    if (outcome) return outcome
    unusable.add(port)
  }
  return null
}

/** Many lost races (or a full range): scan under the lock, as one writer alone would. */
function allocateUnderLock(run: AllocationRun): Promise<Outcome> {
  const { project, service, protocol, range, request } = run
  return run.store.write(async (tx) => {
    const existing = await existingFor(tx, project, service, protocol, undefined, request.pid)
    if (existing) return existing
    const taken = await tx.takenPorts(protocol, range.from, range.to)
    for (const port of candidatePorts(project, service, protocol, range)) {
      if (taken.has(port) || run.busy.has(port) || run.reserved.has(port)) continue
      if (!(await run.bindable(port))) continue
      return { allocation: await tx.insert(run.row(port)), created: true, adopted: false }
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
}

/**
 * The service's allocation when it has one (allocation is idempotent), with `pid` recorded on it
 * when given, or an error when it has a port other than the one asked for.
 */
async function existingFor(
  tx: RegistryTransaction,
  project: string,
  service: string,
  protocol: Protocol,
  port?: number,
  pid?: number,
): Promise<{ allocation: Allocation; created: false; adopted: boolean } | null> {
  const existing = await tx.findService(project, service, protocol)
  if (!existing) return null
  if (port !== undefined && existing.port !== port) {
    throw new PortwardenError(
      'port_allocated',
      `${service} of project ${project} already has ${protocol.toUpperCase()} port ${existing.port}; release it first to move it to ${port}.`,
      {
        hint: `portwarden release ${service} --project ${project}`,
        details: toJsonAllocation(existing),
      },
    )
  }
  if (pid === undefined || existing.pid === pid)
    return { allocation: existing, created: false, adopted: false }
  return { allocation: await tx.recordPid(existing.id, pid), created: false, adopted: true }
}

/**
 * Is the port held, and only by `pid` or its descendants? Then it is that service's port already.
 * Every socket the check names must show its processes: one /proc hides could be anyone's.
 */
async function heldOnlyBy(
  protocol: Protocol,
  port: number,
  pid: number,
  procRoot?: string,
): Promise<boolean> {
  const check = await checkPort(port, protocol, { procRoot, publishers: false })
  return (
    check.reason === 'in_use' &&
    check.holders.length > 0 &&
    check.holders.every(
      (socket) =>
        socket.processes.length > 0 &&
        socket.processes.every((holder) => isDescendantOf(holder.pid, pid, procRoot)),
    )
  )
}

async function portInUseError(
  protocol: Protocol,
  port: number,
  procRoot?: string,
  pid?: number,
): Promise<PortwardenError> {
  // Outside the lock: naming the holder walks /proc, which must not hold up other allocators.
  const check = await checkPort(port, protocol, { procRoot })
  const sentence =
    checkSentence(check) ?? `${protocol.toUpperCase()} port ${port} is already in use`
  const socket = check.holders[0]
  const holder = socket?.processes[0]
  const notAdopted =
    pid === undefined
      ? ''
      : `It is not held by pid ${pid} or a child of it alone, so --pid cannot adopt it. `
  return new PortwardenError('port_in_use', `${sentence}.`, {
    hint:
      socket?.kernel && !holder
        ? `No process holds it: the kernel does${socket.kernel.fix ? ` (release it with \`${socket.kernel.fix}\`)` : ''}; or leave out --port.`
        : `${notAdopted}See \`portwarden who ${port}/${protocol}\`; free it with \`portwarden free ${port}/${protocol}\` or leave out --port.`,
    details: {
      port,
      protocol,
      process: holder?.name ?? null,
      pid: holder?.pid ?? null,
      local_address: socket ? formatEndpoint(socket.localAddress, port) : null,
      // A holder that stands for a container the Docker Engine named (docker-proxy, dockerd).
      ...(holder?.dockerContainer
        ? { container: holder.dockerContainer.name, container_id: holder.dockerContainer.id }
        : {}),
      // Only for a kernel holder (no process to name or free): what holds it and the fix.
      ...(socket?.kernel && !holder
        ? {
            kind: 'kernel',
            interface: socket.kernel.interface,
            link_kind: socket.kernel.linkKind,
            description: socket.kernel.description,
            fix: socket.kernel.fix,
          }
        : {}),
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

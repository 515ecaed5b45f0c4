import { displayName, hiddenHolderReason } from '../messages.js'
import type { PortSpec } from '../port-spec.js'
import type { PortPublisher } from '../containers/published-ports.js'
import { describePublisher, publisherFix } from '../containers/published-ports.js'
import type { ContainerRole } from '../containers/roles.js'
import { containerRole } from '../containers/roles.js'
import { namespaceInitCaveat } from '../process/pid-namespace.js'
import { ProcessReader } from '../process/read-process.js'
import type { BackendName } from '../sockets/query.js'
import type { Holder, KernelHolder, Protocol, SocketEntry, Warning } from '../types.js'
import type { EvidenceContext, HolderJudgement } from '../stale/index.js'
import type { PortHolders } from '../who-holds.js'
import { whoHolds } from '../who-holds.js'
import type { DockerLookup } from '../containers/docker-engine.js'
import { findPublishingContainer, askDockerEngine } from '../containers/docker-engine.js'
import type { FreeSignal } from './options.js'
import type { ProcessIdentity } from '../process/identity.js'
import type { UnsafeReason } from '../process/signal.js'
import { readIdentity } from '../process/identity.js'
import { unsafeTarget } from '../process/signal.js'
import { SYSTEMD_UNIT_DIRS, findSocketUnits, initIsSystemd, initName } from './systemd.js'

export interface FreeOptions {
  /** The first signal (default SIGTERM). */
  signal?: FreeSignal
  /** How long to wait for the ports after the last signal (default 5000 ms). */
  waitMs?: number
  /** Send SIGKILL when a port is still held this long after the first signal (default: never). */
  killAfterMs?: number | null
  backend?: BackendName | 'auto'
  procRoot?: string
  /** The Docker Engine API socket (default: PORTWARDEN_DOCKER_SOCKET, DOCKER_HOST, /var/run/docker.sock). */
  dockerSocket?: string
  dockerTimeoutMs?: number
  /** Where to look for systemd `.socket` units when pid 1 holds a port. */
  systemdUnitDirs?: readonly string[]
  /** Gather each holder's stale evidence for the plan (as `whoHolds`' `evidence`). */
  evidence?: Omit<EvidenceContext, 'sockets'>
}

export { DEFAULT_WAIT_MS } from './options.js'
import { DEFAULT_WAIT_MS } from './options.js'

export interface PortKey {
  port: number
  protocol: Protocol
}

export type RefusalCode =
  | UnsafeReason
  | 'systemd_socket'
  | 'container_proxy'
  | 'container_runtime'
  | 'published'
  | 'not_visible'
  | 'kernel_held'
  | 'out_of_sight'
  | 'gone'
  | 'changed'

/** Why something standing on a port will not be signalled, and what to do instead. */
export interface Refusal {
  code: RefusalCode
  /** A sentence fragment, no final period: `docker-proxy (pid 812) publishes ...`. */
  message: string
  /** What to do instead, for a person: `stop the container instead: docker stop web`. */
  suggestion: string | null
  /** The command in the suggestion, when there is one to run. */
  command: string | null
  /** The environment stopped us (another user's process, unreadable /proc): exit 3, not 1. */
  permission: boolean
}

export interface ContainerInfo {
  /** `proxy`: a port proxy; `runtime`: the engine itself (dockerd's placeholder of a published port). */
  role: ContainerRole
  /** The holder's name: docker-proxy, rootlessport, slirp4netns, pasta, dockerd, containerd... */
  proxy: string
  /** Where it forwards to (`172.17.0.2:80`, from its command line), or null. */
  address: string | null
  /** The container's name from the Docker Engine API, or null. */
  name: string | null
  id: string | null
  /** Why the Docker API could not name it, or null. */
  lookupError: string | null
}

/** A process `free` would signal, or has decided not to. */
export interface FreeTarget {
  holder: Holder
  /** The requested ports it holds. */
  ports: PortKey[]
  /** Recorded now, compared right before every signal; null when refused or gone. */
  identity: ProcessIdentity | null
  /** Null: it will be signalled (after confirmation). */
  refusal: Refusal | null
  container: ContainerInfo | null
  /** What the signals will do differently from usual, said before any is sent (a namespace init). */
  caveats: string[]
  /** Is it a leftover? When the plan gathered evidence (`evidence`), else null. */
  judgement: HolderJudgement | null
}

export interface PortPlan extends PortKey {
  /** Something holds it (a socket in the tables, or a failed bind test). */
  held: boolean
  sockets: SocketEntry[]
  connections: number
  heldOutOfSight: boolean
  /** Holder pids, in table order (as found: a crafted table may hold anything). */
  pids: number[]
  /** Holders we cannot even name a process for (hidden owners, out of sight, DNAT rules). */
  blockers: Refusal[]
  /** No socket holds it, but a DNAT rule (a container's published port) takes its traffic. */
  publishers: PortPublisher[]
}

export interface FreePlan {
  specs: PortSpec[]
  signal: FreeSignal
  waitMs: number
  killAfterMs: number | null
  ports: PortPlan[]
  targets: FreeTarget[]
  warnings: Warning[]
  backend: BackendName | 'auto'
  procRoot: string
}

/** No socket, no failed bind test: only a DNAT rule takes the port, so there is nothing to signal. */
export function heldOnlyByPublishers(port: PortPlan): boolean {
  return port.sockets.length === 0 && !port.heldOutOfSight && port.publishers.length > 0
}

/** A `whoHolds` answer for one port; a crafted table may leave out the (DNAT) publishers. */
export type HolderTableEntry = Omit<PortHolders, 'publishers'> & {
  publishers?: PortHolders['publishers']
}

/** What `free` would do: reads the socket tables once and decides per holder. Sends nothing. */
export async function planFree(
  specs: readonly PortSpec[],
  options: FreeOptions = {},
): Promise<FreePlan> {
  const who = await whoHolds(specs, {
    backend: options.backend,
    procRoot: options.procRoot,
    ...(options.evidence ? { evidence: options.evidence } : {}),
  })
  return planFreeFrom(specs, who.ports, options, who.warnings)
}

/**
 * The plan for a given holder table (what `whoHolds` answered, or a crafted one in tests): every
 * pid passes the safety rules here, and again right before each signal.
 */
export async function planFreeFrom(
  specs: readonly PortSpec[],
  entries: readonly HolderTableEntry[],
  options: FreeOptions = {},
  warnings: Warning[] = [],
): Promise<FreePlan> {
  const procRoot = options.procRoot ?? '/proc'
  const reader = new ProcessReader({ procRoot })
  const targets = new Map<number, FreeTarget>()
  const ports = entries.map((entry) => planPort(entry, targets, reader))
  const docker: DockerLookupOnce = { lookup: null }
  for (const target of targets.values()) await judgeTarget(target, options, procRoot, docker)
  return {
    specs: [...specs],
    signal: options.signal ?? 'SIGTERM',
    waitMs: options.waitMs ?? DEFAULT_WAIT_MS,
    killAfterMs: options.killAfterMs ?? null,
    ports,
    targets: [...targets.values()],
    warnings,
    backend: options.backend ?? 'auto',
    procRoot,
  }
}

/** One port of the holder table: its holders join `targets`, what blocks freeing it is named. */
function planPort(
  entry: HolderTableEntry,
  targets: Map<number, FreeTarget>,
  reader: ProcessReader,
): PortPlan {
  const key: PortKey = { port: entry.port, protocol: entry.protocol }
  const pids: number[] = []
  const hidden = new Map<number, string>()
  const kernel = new Map<string, KernelHolder>()
  for (const socket of entry.sockets) {
    if (socket.processes.length === 0 && socket.kernel)
      kernel.set(socket.kernel.description, socket.kernel)
    else if (socket.processes.length === 0 && socket.state !== 'TIME-WAIT')
      hidden.set(socket.uid, socket.user)
    for (const holder of socket.processes) {
      if (!pids.includes(holder.pid)) pids.push(holder.pid)
      const target = targets.get(holder.pid)
      if (!target) {
        const judgement = entry.judgements?.find((j) => j.pid === holder.pid) ?? null
        const fresh = {
          holder,
          ports: [key],
          identity: null,
          refusal: null,
          container: null,
          judgement,
        }
        targets.set(holder.pid, { ...fresh, caveats: [] })
      } else if (!target.ports.some((p) => p.port === key.port && p.protocol === key.protocol))
        target.ports.push(key)
    }
  }
  const blockers: Refusal[] = []
  for (const [uid, user] of hidden) blockers.push(hiddenOwner(key, uid, user, reader))
  for (const holder of kernel.values()) blockers.push(kernelRefusal(holder))
  if (entry.sockets.length === 0 && entry.heldOutOfSight) {
    blockers.push(
      plainRefusal(
        'out_of_sight',
        'a bind test fails but no socket table shows a holder (a socket bound without listen(), ' +
          'one in another network namespace, or a container network)',
      ),
    )
  }
  const publishers = entry.publishers ?? []
  for (const publisher of publishers) blockers.push(publisherRefusal(publisher))
  return {
    ...key,
    held: entry.sockets.length > 0 || entry.heldOutOfSight || publishers.length > 0,
    sockets: entry.sockets,
    connections: entry.connections,
    heldOutOfSight: entry.heldOutOfSight,
    pids,
    blockers,
    publishers,
  }
}

/** The Docker engine's containers, asked at most once per plan and only when a holder needs it. */
interface DockerLookupOnce {
  lookup: Promise<DockerLookup> | null
}

/**
 * May this holder be signalled? Sets its refusal (unsafe pid, pid 1, a container's proxy or
 * runtime, gone, pid reused) or its identity, recorded now and compared before every signal.
 */
async function judgeTarget(
  target: FreeTarget,
  options: FreeOptions,
  procRoot: string,
  docker: DockerLookupOnce,
): Promise<void> {
  const { holder } = target
  const unsafe = unsafeTarget(holder.pid, { procRoot })
  if (unsafe?.reason === 'init') {
    target.refusal = initRefusal(target, procRoot, options.systemdUnitDirs ?? SYSTEMD_UNIT_DIRS)
    return
  }
  if (unsafe) {
    target.refusal = plainRefusal(unsafe.reason, unsafe.message)
    return
  }
  const role = containerRole(holder.name) ?? (holder.container !== null ? 'proxy' : null)
  if (role !== null) {
    docker.lookup ??= askDockerEngine(options)
    target.container = describeContainer(target, role, await docker.lookup)
    target.refusal =
      role === 'runtime'
        ? runtimeRefusal(target, target.container)
        : containerRefusal(target, target.container)
    return
  }
  const identity = readIdentity(holder.pid, procRoot)
  if (!identity) {
    target.refusal = plainRefusal(
      'gone',
      `pid ${holder.pid} has exited since the socket table was read`,
    )
    return
  }
  if (holder.startTicks !== null && identity.startTicks !== holder.startTicks) {
    target.refusal = plainRefusal(
      'changed',
      `pid ${holder.pid} now belongs to another process than the one holding the port (started at a different time)`,
    )
    return
  }
  target.identity = identity
  const signal = options.signal ?? 'SIGTERM'
  const caveat = namespaceInitCaveat(holder.pid, signal, options.killAfterMs != null, procRoot)
  if (caveat) target.caveats.push(caveat)
}

/** A refusal that suggests nothing to run. */
function plainRefusal(code: Refusal['code'], message: string): Refusal {
  return { code, message, suggestion: null, command: null, permission: false }
}

function portLabel(key: PortKey): string {
  return `${key.port}/${key.protocol}`
}

/** No process holds it: the kernel does, and a signal reaches no one; its fix is the way. */
function kernelRefusal(holder: KernelHolder): Refusal {
  return {
    code: 'kernel_held',
    message: `the kernel holds it for ${displayName(holder.description)}: there is no process to signal`,
    suggestion: holder.fix
      ? `release it with: ${holder.fix}`
      : 'find the kernel user (`ip -d link show`, `ip fou show`, `wg show`) and remove it',
    command: holder.fix,
    permission: false,
  }
}

function hiddenOwner(key: PortKey, uid: number, user: string, reader: ProcessReader): Refusal {
  const euid = process.geteuid?.() ?? -1
  const owner = `${uid === 0 ? 'root' : displayName(user)} (uid ${uid})`
  if (euid === 0) {
    return {
      code: 'not_visible',
      message: `the process of ${owner} holding it ${hiddenHolderReason([uid])}, so it cannot be signalled safely`,
      suggestion: null,
      command: null,
      permission: true,
    }
  }
  const me = displayName(reader.userName(euid))
  const command = `sudo portwarden free ${portLabel(key)}`
  return {
    code: 'not_visible',
    message:
      uid === euid
        ? `the process of yours (uid ${uid}) holding it ${hiddenHolderReason([uid])}`
        : `user ${me} can neither see nor signal a process owned by ${owner}`,
    suggestion: uid === euid ? null : `run as root: ${command}`,
    command: uid === euid ? null : command,
    permission: true,
  }
}

function initRefusal(target: FreeTarget, procRoot: string, unitDirs: readonly string[]): Refusal {
  if (!initIsSystemd(procRoot)) {
    const name = initName(procRoot)
    return plainRefusal(
      'init',
      `pid 1${name ? ` (${displayName(name)})` : ''} is the init process and is never signalled`,
    )
  }
  const units = [
    ...new Set(target.ports.flatMap((key) => findSocketUnits(key.port, key.protocol, unitDirs))),
  ]
  if (units.length > 0) {
    const command = `systemctl stop ${units.join(' ')}`
    return {
      code: 'systemd_socket',
      message: `systemd (pid 1) holds it for socket activation (${units.map(displayName).join(', ')}); pid 1 is never signalled`,
      suggestion: `stop the socket unit instead: ${command}`,
      command,
      permission: false,
    }
  }
  const first = target.ports[0]
  return {
    code: 'systemd_socket',
    message: 'systemd (pid 1) holds it, probably for a socket unit; pid 1 is never signalled',
    suggestion: `find the unit with \`systemctl list-sockets\`${first ? ` (look for ${first.port})` : ''}, then run systemctl stop NAME.socket`,
    command: null,
    permission: false,
  }
}

function describeContainer(
  target: FreeTarget,
  role: ContainerRole,
  lookup: DockerLookup,
): ContainerInfo {
  const { holder } = target
  const address =
    holder.container !== null && holder.container !== holder.name ? holder.container : null
  const first = target.ports[0]
  let found = null
  if (lookup.ok && first)
    found = findPublishingContainer(lookup.containers, first.port, first.protocol, address)
  return {
    role,
    proxy: holder.name,
    address,
    name: found?.name ?? null,
    id: found?.id ?? null,
    lookupError: lookup.ok
      ? found
        ? null
        : `no container in the Docker API publishes it`
      : lookup.reason,
  }
}

function containerRefusal(target: FreeTarget, container: ContainerInfo): Refusal {
  const to = container.address ? ` (${displayName(container.address)})` : ''
  const why = `signalling ${displayName(container.proxy)} would break the mapping, not stop the container`
  if (container.name) {
    const command = `docker stop ${displayName(container.name)}`
    return {
      code: 'container_proxy',
      message: `it publishes the port for Docker container ${displayName(container.name)}${to}; ${why}`,
      suggestion: `stop the container instead: ${command}`,
      command,
      permission: false,
    }
  }
  const first = target.ports[0]
  const filter = first ? ` --filter publish=${first.port}/${first.protocol}` : ''
  const find = `docker ps${filter}`
  const suggestion =
    container.proxy === 'docker-proxy'
      ? `find the container with \`${find}\`, then stop it: docker stop NAME`
      : `find the container with \`${find}\` (or \`podman ps${filter}\`), then stop it: docker stop NAME (or podman stop NAME)`
  return {
    code: 'container_proxy',
    message: `it publishes the port for a container${container.address ? ` at ${displayName(container.address)}` : ''}; ${why}`,
    suggestion,
    command: null,
    permission: false,
  }
}

/**
 * dockerd, containerd, a shim: stopping the engine stops every container. dockerd holds a
 * published port itself when the userland proxy is off (a placeholder socket beside the NAT
 * rules), so the container that publishes the port is the thing to stop.
 */
function runtimeRefusal(target: FreeTarget, container: ContainerInfo): Refusal {
  const engine = displayName(container.proxy)
  const why = `signalling ${engine} would stop the container runtime and every container it runs`
  if (container.name) {
    const command = `docker stop ${displayName(container.name)}`
    return {
      code: 'container_runtime',
      message: `${engine} holds it for Docker container ${displayName(container.name)}, which publishes the port; ${why}`,
      suggestion: `stop the container instead: ${command}`,
      command,
      permission: false,
    }
  }
  const first = target.ports[0]
  const filter = first ? ` --filter publish=${first.port}/${first.protocol}` : ''
  return {
    code: 'container_runtime',
    message: `${engine} is part of the container runtime (a published port's placeholder, or the engine's own socket); ${why}`,
    suggestion: `if a container publishes it, find it with \`docker ps${filter}\` and stop it: docker stop NAME; else stop the engine's service deliberately (systemctl stop docker)`,
    command: null,
    permission: false,
  }
}

/** A DNAT rule takes the port's traffic: no process to signal, the container or rule to stop. */
function publisherRefusal(publisher: PortPublisher): Refusal {
  const command = publisherFix(publisher)
  return {
    code: 'published',
    message: `no process holds it, but it is ${describePublisher(publisher)}`,
    suggestion: publisher.container
      ? `stop the container instead: ${command}`
      : `delete the rule: ${command}`,
    command,
    permission: false,
  }
}

// The requested specs for sentences; the library exports it from here.
export { describeSpecs } from '../messages.js'

import type { PortPublisher } from './containers/published-ports.js'
import { publisherFix } from './containers/published-ports.js'
import type { PortCheck } from './check-port.js'
import {
  checkSentence,
  otherNamespaceSentence,
  otherProtocolSentence,
  portHoldersSentence,
} from './messages.js'
import type { NamespaceHolders } from './other-namespaces.js'
import type { OtherProtocolHolders } from './other-protocol.js'
import { stringifyForTerminal } from '../shared/safe-text.js'
import type { Holder, KernelHolder, NetnsTag, Protocol, SocketEntry } from './types.js'
import type { HolderJudgement } from './stale/index.js'
import type { PortHolders } from './who-holds.js'
import { isHeld } from './who-holds.js'
import type { AllocateResult } from './registry/allocator.js'
import type { Conflict } from './registry/conflicts.js'
import type { RegistryStatus } from './registry/status.js'
import type { Allocation } from './registry/types.js'

/** The wire shapes of SPEC.md (snake_case), shared by the CLI's --json and the HTTP API. */
/** A process holder on the wire (SPEC.md's six fields and `kind`, the container's beside them). */
export interface JsonProcessHolder {
  kind: 'process'
  pid: number
  name: string
  command: string
  user: string
  started_at: string | null
  container: string | null
  /** Only on a holder that stands for a container: its full id, when the engine named it. */
  container_id?: string | null
  /** Only on a holder that stands for a container: where the traffic goes (`172.17.0.2:80`). */
  container_address?: string | null
}

/**
 * `container` is the container's name once the Docker Engine named it, else what the proxy's
 * command line says (`172.17.0.2:80`), else null. A holder that stands for a container also
 * carries `container_id` (null when unnamed) and `container_address` (where the traffic goes);
 * other holders keep the spec's fields alone.
 */
export function toJsonHolder(holder: Holder): JsonProcessHolder {
  const base: JsonProcessHolder = {
    kind: 'process' as const,
    pid: holder.pid,
    name: holder.name,
    command: holder.command,
    user: holder.user,
    started_at: holder.startedAt,
    container: holder.dockerContainer?.name ?? holder.container,
  }
  if (holder.dockerContainer === undefined && holder.container === null) return base
  return {
    ...base,
    container_id: holder.dockerContainer?.id ?? null,
    container_address:
      holder.dockerContainer?.address ?? proxyAddress(holder.container, holder.name),
  }
}

/** docker-proxy's `172.17.0.2:80`; a proxy that names no address has its own name there. */
function proxyAddress(container: string | null, name: string): string | null {
  return container !== null && container !== name ? container : null
}

export function toJsonSocket(socket: SocketEntry) {
  return {
    protocol: socket.protocol,
    family: socket.family,
    state: socket.state,
    local_address: socket.localAddress,
    local_port: socket.localPort,
    remote_address: socket.remoteAddress,
    remote_port: socket.remotePort,
    inode: socket.inode,
    uid: socket.uid,
    user: socket.user,
    processes: socket.kernel
      ? [...socket.processes.map(toJsonHolder), toJsonKernelHolder(socket.kernel, socket.user)]
      : socket.processes.map(toJsonHolder),
    // Only a listing of every namespace tags its sockets; others keep their shape.
    ...(socket.netns ? { netns: toJsonNetns(socket.netns) } : {}),
  }
}

/** `{inode, name, container_id, host}`: which network namespace a socket is in. */
export function toJsonNetns(netns: NetnsTag) {
  return {
    inode: netns.inode,
    name: netns.name,
    container_id: netns.containerId,
    host: netns.host,
  }
}

/**
 * A socket no task holds, in a scan that saw every task: the kernel's, in a holder's shape
 * (`pid` null) with what names it: `interface`, `link_kind`, `description`, `fix`.
 */
export function toJsonKernelHolder(kernel: KernelHolder, user: string) {
  return {
    kind: 'kernel' as const,
    pid: null,
    name: 'kernel',
    command: '',
    user,
    started_at: null,
    container: null,
    interface: kernel.interface,
    link_kind: kernel.linkKind,
    description: kernel.description,
    fix: kernel.fix,
  }
}

/** `allocation`: the registry's row for the port, where the caller looked it up (the API does). */
export function toJsonCheck(check: PortCheck, allocation: Allocation | null = null) {
  return {
    port: check.port,
    protocol: check.protocol,
    free: check.free,
    holders: check.holders.map((s) => toJsonSocketWithEvidence(s, check.judgements)),
    allocation: allocation ? toJsonAllocation(allocation) : null,
    reason: check.reason,
    message: checkSentence(check),
    publishers: check.publishers.map(toJsonPublisher),
    other_protocol: toJsonOtherProtocol(check.port, check.otherProtocol),
    ...(check.otherNamespaces
      ? {
          other_namespaces: toJsonOtherNamespaces(
            check.protocol,
            check.port,
            check.otherNamespaces,
          ),
        }
      : {}),
    warnings: check.warnings.map((w) => w.message),
  }
}

/** What holds a free port over the other protocol (`check`/`who`), or null. */
export function toJsonOtherProtocol(port: number, other: OtherProtocolHolders | null) {
  return other
    ? {
        protocol: other.protocol,
        message: otherProtocolSentence(port, other),
        holders: other.sockets.map(toJsonSocket),
      }
    : null
}

/** A NAT rule / container taking a port's traffic without a socket (`check`'s `published`). */
export function toJsonPublisher(publisher: PortPublisher) {
  return {
    container: publisher.container?.name ?? null,
    container_id: publisher.container?.id ?? null,
    target: publisher.target,
    rule: publisher.rule,
    fix: publisherFix(publisher),
  }
}

/** The evidence and verdict on one holder (snake_case), as `who`/`check`/the API show it. */
export function toJsonJudgement(judgement: HolderJudgement) {
  const e = judgement.evidence
  return {
    evidence: {
      orphaned: e.orphaned
        ? {
            parent_pid: e.orphaned.parentPid,
            parent_name: e.orphaned.parentName,
            launcher: e.orphaned.launcher,
          }
        : null,
      cwd: e.cwd,
      cwd_deleted: e.cwdDeleted,
      exe: e.exe,
      worktree: e.worktree,
      registry: e.registry,
      connections: {
        established: e.connections.established,
        idle_ms: e.connections.idleMs,
        idle_measured: e.connections.idleMeasured,
      },
      http_status: e.httpStatus,
      duplicate: e.duplicate,
      // (The age is the holder's own `started_at`: an answer does not change with the clock.)
    },
    verdict: judgement.verdict,
    reasons: judgement.reasons.map((r) => ({ sign: r.sign, weight: r.weight, text: r.text })),
  }
}

/** A socket whose holder objects carry their evidence (only for asked ports, never `list`). */
export function toJsonSocketWithEvidence(
  socket: SocketEntry,
  judgements: readonly HolderJudgement[] | undefined,
) {
  const json = toJsonSocket(socket)
  if (!judgements) return json
  const processes = socket.processes.map((holder) => {
    const judgement = judgements.find((j) => j.pid === holder.pid)
    return judgement
      ? { ...toJsonHolder(holder), ...toJsonJudgement(judgement) }
      : toJsonHolder(holder)
  })
  // A kernel holder has no process to judge: it keeps its place after the processes.
  return { ...json, processes: [...processes, ...json.processes.slice(socket.processes.length)] }
}

export function toJsonPortHolders(entry: PortHolders) {
  return {
    port: entry.port,
    protocol: entry.protocol,
    in_use: isHeld(entry),
    message: portHoldersSentence(entry),
    holders: entry.sockets.map((s) => toJsonSocketWithEvidence(s, entry.judgements)),
    connections: entry.connections,
    publishers: entry.publishers.map(toJsonPublisher),
    other_protocol: toJsonOtherProtocol(entry.port, entry.otherProtocol),
    ...(entry.netns ? { netns: toJsonNetns(entry.netns) } : {}),
    ...(entry.otherNamespaces
      ? {
          other_namespaces: toJsonOtherNamespaces(
            entry.protocol,
            entry.port,
            entry.otherNamespaces,
          ),
        }
      : {}),
  }
}

/** A free port's listeners in other network namespaces (`check`/`who`): one entry per namespace. */
export function toJsonOtherNamespaces(
  protocol: Protocol,
  port: number,
  elsewhere: readonly NamespaceHolders[],
) {
  return elsewhere.map((e) => ({
    netns: toJsonNetns(e.netns),
    message: otherNamespaceSentence(protocol, port, e),
    holders: e.sockets.map(toJsonSocket),
  }))
}

export function toJsonAllocation(allocation: Allocation) {
  return {
    id: allocation.id,
    project: allocation.project,
    service: allocation.service,
    protocol: allocation.protocol,
    port: allocation.port,
    created_at: allocation.createdAt,
    health_status: allocation.healthStatus,
    last_checked_at: allocation.lastCheckedAt,
    health_detail: allocation.healthDetail,
    health_check: allocation.healthCheck,
    host: allocation.host,
    pid: allocation.pid,
    worktree: allocation.worktree,
  }
}

export function toJsonConflict(conflict: Conflict) {
  return {
    kind: conflict.kind,
    protocol: conflict.protocol,
    port: conflict.port,
    verified: conflict.verified,
    message: conflict.message,
    resolution: conflict.resolution,
    allocations: conflict.claims.map((claim) => ({
      project: claim.project,
      service: claim.service,
      protocol: claim.protocol,
      port: claim.port,
      source: claim.source,
      entry: claim.entry,
    })),
    holders: conflict.holders.map(toJsonSocket),
  }
}

// The documents of the commands (`who`, `check`, `find`, `alloc`, `release`, `status` --json),
// made here once for every front end that answers them (the CLI, the MCP server).

/** `who --json` */
export function toJsonWho(ports: readonly PortHolders[]) {
  return { ports: ports.map(toJsonPortHolders) }
}

/** `check --json` */
export function toJsonChecks(checks: readonly PortCheck[]) {
  return { ports: checks.map((check) => toJsonCheck(check)) }
}

/** `find --json` */
export function toJsonFound(protocol: Protocol, ports: readonly number[]) {
  return { protocol, ports: [...ports] }
}

/** `alloc --json` (and POST /api/allocations): the allocation, and whether it is new. */
export function toJsonAllocated(result: AllocateResult) {
  return { ...toJsonAllocation(result.allocation), created: result.created }
}

/** `release --json` */
export function toJsonReleased(removed: readonly Allocation[]) {
  return { released: removed.map(toJsonAllocation) }
}

/** `status --json`: each allocation says whether its worktree is gone; conflicts when checked. */
export function toJsonStatus(status: RegistryStatus) {
  return {
    registry: status.location,
    allocations: status.allocations.map((a) => ({
      ...toJsonAllocation(a),
      worktree_gone: status.goneIds.has(a.id),
    })),
    ...(status.report
      ? { conflicts: status.report.conflicts.map(toJsonConflict), summary: status.report.summary }
      : {}),
  }
}

/**
 * `list --json` as text, the same bytes as `stringifyForTerminal(sockets.map(toJsonSocket))`,
 * built without an object per socket: at 100k sockets the objects, their copies and the regex
 * pass over 40 MB cost more than the kernel work. A holder's JSON is made once, however many
 * sockets it holds. Addresses, states and numbers are ASCII by construction; the free text
 * (user, name, command) goes through the terminal-safe encoder.
 */
export function renderSocketsJson(sockets: readonly SocketEntry[]): string {
  let text = ''
  for (const chunk of socketsJsonChunks(sockets)) text += chunk
  return text
}

/**
 * `renderSocketsJson` in pieces of about 64 KiB, to be written as they come: the whole
 * document (40 MB at 100k sockets) is never in memory at once.
 */
export function* socketsJsonChunks(sockets: readonly SocketEntry[]): Generator<string> {
  const holders = new Map<Holder, string>()
  const users = new Map<string, string>()
  const namespaces = new Map<NetnsTag, string>()
  let chunk = '['
  for (let i = 0; i < sockets.length; i++) {
    const socket = sockets[i] as SocketEntry
    let processes = ''
    for (const holder of socket.processes) {
      let json = holders.get(holder)
      if (json === undefined) {
        json = stringifyForTerminal(toJsonHolder(holder))
        holders.set(holder, json)
      }
      processes += processes === '' ? json : `,${json}`
    }
    if (socket.kernel) {
      const json = stringifyForTerminal(toJsonKernelHolder(socket.kernel, socket.user))
      processes += processes === '' ? json : `,${json}`
    }
    let user = users.get(socket.user)
    if (user === undefined) {
      user = stringifyForTerminal(socket.user)
      users.set(socket.user, user)
    }
    chunk +=
      (i === 0 ? '' : ',') +
      `{"protocol":"${socket.protocol}","family":"${socket.family}","state":"${socket.state}",` +
      `"local_address":"${socket.localAddress}","local_port":${socket.localPort},` +
      `"remote_address":"${socket.remoteAddress}","remote_port":${socket.remotePort},` +
      `"inode":${socket.inode},"uid":${socket.uid},"user":${user},"processes":[${processes}]`
    if (socket.netns) {
      let netns = namespaces.get(socket.netns)
      if (netns === undefined) {
        netns = stringifyForTerminal(toJsonNetns(socket.netns))
        namespaces.set(socket.netns, netns)
      }
      chunk += `,"netns":${netns}`
    }
    chunk += '}'
    if (chunk.length >= 65536) {
      yield chunk
      chunk = ''
    }
  }
  yield `${chunk}]`
}

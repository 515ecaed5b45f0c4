import { formatEndpoint } from './addresses.js'
import type { PortCheck } from './check-port.js'
import type { PortPublisher } from './containers/published-ports.js'
import { describePublisher } from './containers/published-ports.js'
import type { OtherProtocolHolders } from './other-protocol.js'
import type { PortSpec } from './port-spec.js'
import { formatPortSpec } from './port-spec.js'
import type { AllocateResult } from './registry/allocator.js'
import type { RegistryStatus } from './registry/status.js'
import type { Allocation } from './registry/types.js'
import type { FreeReport } from './free/execute-free.js'
import type { FreePlan } from './free/plan-free.js'
import type { PruneReport } from './prune/execute-prune.js'
import type { PrunePlan } from './prune/plan-prune.js'
import { escapeUnsafe } from '../shared/safe-text.js'
import type { NamespaceHolders } from './other-namespaces.js'
import type { Holder, NamedContainer, NetnsTag, Protocol, SocketEntry, Warning } from './types.js'
import type { PortHolders } from './who-holds.js'

/**
 * `node (pid 4242, user dev)`, or `nginx (pids 10, 11, user www-data)` for a pre-fork server;
 * `docker-proxy (pid 812, user root, for Docker container web)` once the engine named it.
 */
export function describeProcesses(holders: readonly Holder[]): string {
  return describeProcessList(holders, true)
}

/**
 * `namedContainers` false: a container the engine named is left to the sentence, which says it
 * per socket with its route (containerPublishing).
 */
function describeProcessList(holders: readonly Holder[], namedContainers: boolean): string {
  const groups = new Map<string, Holder[]>()
  for (const holder of holders) {
    const key = `${holder.name}\0${holder.user}`
    const group = groups.get(key) ?? []
    groups.set(key, group)
    group.push(holder)
  }
  const parts = [...groups.values()].map((group) => {
    const first = group[0] as Holder
    const pids = [...new Set(group.map((h) => h.pid))].sort((a, b) => a - b)
    const pidText = pids.length === 1 ? `pid ${pids[0]}` : `pids ${pids.join(', ')}`
    // dockerd holds one placeholder per published port: each socket may name another container.
    const named = [
      ...new Set(group.flatMap((h) => (h.dockerContainer ? [h.dockerContainer.name] : []))),
    ]
    const container =
      named.length > 0
        ? namedContainers
          ? `, for Docker container${named.length === 1 ? '' : 's'} ${joinWords(named.map(displayName))}`
          : ''
        : first.container
          ? `, forwarding to container ${displayName(first.container)}`
          : ''
    return `${displayName(first.name)} (${pidText}, user ${displayName(first.user)}${container})`
  })
  return joinWords(parts)
}

/** Who holds these sockets, for a sentence: processes, else the owning uid we could not see past. */
export function describeHolders(sockets: readonly SocketEntry[]): string {
  return describeHolderList(sockets, true)
}

function describeHolderList(sockets: readonly SocketEntry[], namedContainers: boolean): string {
  const processes = sockets.flatMap((socket) => socket.processes)
  if (processes.length > 0) return describeProcessList(processes, namedContainers)
  const kernel = kernelHeldBy(sockets)
  if (kernel !== null) return `the kernel: ${kernel}`
  const owners = [...new Set(sockets.map((s) => `uid ${s.uid} (${displayName(s.user)})`))]
  return `a process of ${joinWords(owners)} that ${hiddenHolderReason(sockets.map((s) => s.uid))}`
}

/** A holder sentence's subject and place, then the containers it stands for with their routes. */
function holdersAndWhere(sockets: readonly SocketEntry[]): string {
  const published = containerPublishing(sockets)
  return published === null
    ? `${describeHolders(sockets)} ${describeWhere(sockets)}`
    : `${describeHolderList(sockets, false)} ${describeWhere(sockets)}: ${published}`
}

/**
 * `vxlan interface vx0 (VNI 42)` when no process and only the kernel holds these sockets (see
 * SocketEntry.kernel), else null.
 */
export function kernelHeldBy(sockets: readonly SocketEntry[]): string | null {
  if (sockets.length === 0 || !sockets.every((s) => s.processes.length === 0 && s.kernel))
    return null
  return joinWords([...new Set(sockets.map((s) => displayName(s.kernel?.description ?? '')))])
}

/** The commands that release kernel-held sockets (`ip link del vx0`), or null when none is known. */
export function kernelFix(sockets: readonly SocketEntry[]): string | null {
  const fixes = [...new Set(sockets.flatMap((s) => (s.kernel?.fix ? [s.kernel.fix] : [])))]
  return fixes.length > 0 ? fixes.join('; ') : null
}

/** `pw-web (3f2a9c1b0d4e)`: a container the Docker Engine named, with its short id. */
export function describeNamedContainer(container: NamedContainer): string {
  const id = container.id ? ` (${displayName(container.id.slice(0, 12))})` : ''
  return `${displayName(container.name)}${id}`
}

/**
 * What a holder's `container` says, for `who`'s holder lines: `pw-web (3f2a9c1b0d4e) at
 * 172.17.0.2:80` once the engine named it, else the proxy's own `172.17.0.2:80`; null for none.
 */
export function holderContainerLabel(holder: Holder): string | null {
  const named = holder.dockerContainer
  if (named)
    return `${describeNamedContainer(named)}${named.address ? ` at ${displayName(named.address)}` : ''}`
  return holder.container ? displayName(holder.container) : null
}

/**
 * `published by Docker container pw-web (3f2a9c1b0d4e), 127.0.0.1:8080 → 172.17.0.2:80`: the
 * containers that these sockets' holders (docker-proxy, or dockerd's placeholder with
 * `userland-proxy: false`) stand for, as the engine named them; null when it named none.
 */
export function containerPublishing(sockets: readonly SocketEntry[]): string | null {
  const byId = new Map<string, { container: NamedContainer; routes: Set<string> }>()
  for (const socket of sockets) {
    for (const holder of socket.processes) {
      const container = holder.dockerContainer
      if (!container) continue
      const key = `${container.id}\0${container.name}`
      const entry = byId.get(key) ?? { container, routes: new Set<string>() }
      byId.set(key, entry)
      const host = formatEndpoint(socket.localAddress, socket.localPort)
      entry.routes.add(container.address ? `${host} → ${displayName(container.address)}` : host)
    }
  }
  if (byId.size === 0) return null
  const parts = [...byId.values()].map(
    ({ container, routes }) =>
      `Docker container ${describeNamedContainer(container)}, ${joinWords([...routes])}`,
  )
  return `published by ${joinWords(parts)}`
}

/** `docker stop pw-web` for the containers these sockets' holders stand for, or null. */
export function containerFix(sockets: readonly SocketEntry[]): string | null {
  const names = new Set<string>()
  for (const socket of sockets)
    for (const holder of socket.processes)
      if (holder.dockerContainer) names.add(holder.dockerContainer.name)
  return names.size > 0
    ? [...names].map((name) => `docker stop ${displayName(name)}`).join(', or ')
    : null
}

/** Rootless container port helpers, by comm: the real listener is inside a user's container. */
const ROOTLESS_HELPERS = new Set(['rootlessport', 'rootlessport-ch', 'slirp4netns', 'pasta'])

/** `who`'s note for a rootless helper holding a port (issue 12 item 4), else null. */
export function rootlessHelperNote(holder: Holder): string | null {
  if (!ROOTLESS_HELPERS.has(holder.name)) return null
  return `${displayName(holder.name)} is a rootless container's port helper: the service runs in a container of user ${displayName(holder.user)} (see \`podman ps\` or \`docker ps\` as that user); its container is not named here`
}

/** What hides a holder that not even root (or its own user) can see: never a missing sudo. */
export const HIDDEN_FROM_ROOT_CAUSE = 'likely another pid namespace or a restricted /proc'

/**
 * Would root see the hidden holder of sockets owned by `uids`? Without root, other users'
 * processes are hidden and root would see them. As root, or for our own uid, root cannot help:
 * the process is out of this /proc's sight (a sandbox's own listener, say).
 */
export function rootWouldSeeHolder(uids: readonly number[]): boolean {
  const me = process.geteuid?.()
  return me !== 0 && !(uids.length > 0 && uids.every((uid) => uid === me))
}

/** Why the holder of sockets owned by `uids` is not shown, after "a process ... that". */
export function hiddenHolderReason(uids: readonly number[] = []): string {
  return `is ${notVisibleWhere(uids)}`
}

/** `not visible without root`, or where root cannot help, `not visible here[, even to root] (why)`. */
export function notVisibleWhere(uids: readonly number[]): string {
  if (rootWouldSeeHolder(uids)) return 'not visible without root'
  const who = process.geteuid?.() === 0 ? ', even to root' : ''
  return `not visible here${who} (${HIDDEN_FROM_ROOT_CAUSE})`
}

/** `0.0.0.0:8080 and [::]:8080` */
export function describeAddresses(sockets: readonly SocketEntry[]): string {
  return joinWords([...new Set(sockets.map((s) => formatEndpoint(s.localAddress, s.localPort)))])
}

/**
 * `on 0.0.0.0:8080`; `on 127.0.0.1:8080 (bound, not listening)` for a TCP socket bound without
 * listen() (state UNCONN: TCP_CLOSE); `as the local end of 2 connections on ...` when only
 * connections use the port.
 */
function describeWhere(sockets: readonly SocketEntry[]): string {
  const at = describeAddresses(sockets)
  const bound = (s: SocketEntry) => s.protocol === 'tcp' && s.state === 'UNCONN'
  if (sockets.some((s) => s.state === 'LISTEN' || (s.state === 'UNCONN' && !bound(s))))
    return `on ${at}`
  if (sockets.every(bound)) return `on ${at} (bound, not listening)`
  const connections = sockets.filter((s) => !bound(s)).length
  return `as the local end of ${connections === 1 ? 'a connection' : `${connections} connections`} on ${at}`
}

/** The one sentence: `TCP port 8080 is already in use by node (pid 4242, user dev) on 0.0.0.0:8080`. */
export function portInUseSentence(
  protocol: Protocol,
  port: number,
  sockets: readonly SocketEntry[],
  /** How the holding is said: `is already in use by` (before an action), `is still held by` (after one). */
  verb = 'is already in use by',
): string {
  const label = `${protocol.toUpperCase()} port ${port}`
  if (sockets.length === 0)
    return `${label} is in use, but no socket in the tables shows who holds it`
  const kernel = kernelHeldBy(sockets)
  if (kernel !== null)
    return `${label} ${verb === 'is already in use by' ? 'is in use by' : verb} the kernel: ${kernel}`
  return `${label} ${verb} ${holdersAndWhere(sockets)}`
}

/**
 * `published by Docker container web through a DNAT rule to 172.17.0.2:80 (no socket holds it:
 * it can be bound, but connections to it reach the container)`.
 */
export function publishedSummary(publishers: readonly PortPublisher[]): string {
  const reach = publishers.some((p) => p.container) ? 'reach the container' : 'go there'
  return `${joinWords(publishers.map(describePublisher))} (no socket holds it: it can be bound, but connections to it ${reach})`
}

/** `TCP port 9090 is published by Docker container web through a DNAT rule to ...`. */
export function publishedSentence(
  protocol: Protocol,
  port: number,
  publishers: readonly PortPublisher[],
): string {
  return `${protocol.toUpperCase()} port ${port} is ${publishedSummary(publishers)}`
}

/**
 * A free port's TIME-WAIT warning: it binds for us (and for servers with SO_REUSEADDR), but a
 * server without SO_REUSEADDR may fail for up to 60 s, so `check` and `preflight` say [WARN].
 */
export function timeWaitCaveat(check: PortCheck | null): Warning | null {
  if (!check?.free) return null
  return check.warnings.find((w) => w.code === 'time_wait') ?? null
}

/**
 * After `[FAIL] 8080/tcp: ` — `in use by node (pid 4242, user dev) on 0.0.0.0:8080`; after
 * `[PASS]`, `available`; after `[WARN]`, `available, but 1 TIME-WAIT socket on ...`.
 */
export function checkSummary(check: PortCheck): string {
  const caveat = timeWaitCaveat(check)
  if (caveat) return `available, but ${caveat.message}`
  if (check.free) return 'available'
  if (check.reason === 'published') return publishedSummary(check.publishers)
  if (check.reason === 'bind_failed' && check.warnings.some((w) => w.code === 'time_wait')) {
    return 'in use (a TIME-WAIT socket left by a server without SO_REUSEADDR blocks every bind until it expires, within 60 s)'
  }
  if (check.reason === 'bind_failed') {
    const refused = check.probes
      .filter((p) => p.outcome === 'EADDRINUSE')
      .map((p) => formatEndpoint(p.host, check.port))
    return (
      `in use (owner not visible: binding ${refused.join(' and ')} failed with EADDRINUSE, but no socket ` +
      `table shows a holder; it may be bound without listening or held in another network namespace)`
    )
  }
  return `in use by ${holdersAndWhere(check.holders)}`
}

/**
 * A note for a port free over the protocol asked about but held over the other one:
 * `UDP port 51820 is held by wireguard-go (pid 812, user root) on 0.0.0.0:51820 and [::]:51820`.
 */
export function otherProtocolSentence(port: number, other: OtherProtocolHolders): string {
  return `${other.protocol.toUpperCase()} port ${port} is held by ${holdersAndWhere(other.sockets)}`
}

/** For `who` when a bind test fails but no table shows a holder. */
export function outOfSightSentence(protocol: Protocol, port: number, verb = 'is in use'): string {
  return (
    `${protocol.toUpperCase()} port ${port} ${verb}, but no socket table shows who holds it ` +
    `(a socket bound without listen(), one in another network namespace, or another user's when not root)`
  )
}

/** The whole sentence for a check, or null when the port is free. */
export function checkSentence(check: PortCheck): string | null {
  if (check.free) return null
  if (check.reason === 'published')
    return publishedSentence(check.protocol, check.port, check.publishers)
  if (check.reason === 'bind_failed')
    return `${check.protocol.toUpperCase()} port ${check.port} is ${checkSummary(check)}`
  return portInUseSentence(check.protocol, check.port, check.holders)
}

/**
 * Process names and command lines come from other users' processes: never let them move the
 * cursor, recolour the terminal or reorder text. Control and bidi characters become escapes.
 */
export function displayName(text: string): string {
  return escapeUnsafe(text)
}

/** `TCP port 8080` */
function portLabel(protocol: Protocol, port: number): string {
  return `${protocol.toUpperCase()} port ${port}`
}

/** `8080/tcp, 9000/udp`: the requested specs, for sentences. */
export function describeSpecs(specs: readonly PortSpec[]): string {
  return specs.map(formatPortSpec).join(', ')
}

/** `who`'s sentence for one port (in use, in use out of sight, published), or null when free. */
export function portHoldersSentence(entry: PortHolders): string | null {
  if (entry.sockets.length > 0)
    return `${portInUseSentence(entry.protocol, entry.port, entry.sockets)}${namespaceSuffix(entry.netns)}`
  if (entry.heldOutOfSight) return outOfSightSentence(entry.protocol, entry.port)
  if (entry.publishers.length > 0)
    return publishedSentence(entry.protocol, entry.port, entry.publishers)
  return null
}

/** Everything `who` found, in one sentence: the held ports' sentences, then the free ones. */
export function whoSentence(ports: readonly PortHolders[]): string {
  if (ports.length === 0) return 'nothing holds any port in the given range'
  const parts = ports.map((entry) => {
    const held = portHoldersSentence(entry)
    if (held !== null) return held
    const buts = [
      ...(entry.otherProtocol ? [otherProtocolSentence(entry.port, entry.otherProtocol)] : []),
      ...(entry.otherNamespaces ?? []).map((e) =>
        otherNamespaceSentence(entry.protocol, entry.port, e),
      ),
    ]
    const other = buts.length > 0 ? ` (but ${buts.join('; ')})` : ''
    return `nothing holds ${portLabel(entry.protocol, entry.port)}${namespaceSuffix(entry.netns)}${other}`
  })
  return parts.join('; ')
}

/** `TCP port 8080 is available` / `... is already in use by node (pid 4242, user dev) on ...`. */
export function checkResultSentence(check: PortCheck): string {
  const taken = checkSentence(check)
  if (taken !== null) return taken
  const other = check.otherProtocol
    ? ` (but ${otherProtocolSentence(check.port, check.otherProtocol)})`
    : ''
  return `${portLabel(check.protocol, check.port)} is ${checkSummary(check)}${other}`
}

/** `free TCP port: 20417` / `free TCP ports: 20417, 20418 and 20419` (`find`). */
export function foundSentence(protocol: Protocol, ports: readonly number[]): string {
  const noun = ports.length === 1 ? 'port' : 'ports'
  return `free ${protocol.toUpperCase()} ${noun}: ${joinWords(ports.map(String))}`
}

/** `12 sockets (10 TCP, 2 UDP), held by 5 processes` (`list`). */
export function listingSentence(sockets: readonly SocketEntry[]): string {
  if (sockets.length === 0) return 'no socket matches'
  const tcp = sockets.filter((s) => s.protocol === 'tcp').length
  const pids = new Set(sockets.flatMap((s) => s.processes.map((p) => p.pid)))
  const noun = sockets.length === 1 ? 'socket' : 'sockets'
  const held =
    pids.size === 0
      ? 'no holding process visible here'
      : pids.size === 1
        ? 'held by 1 process'
        : `held by ${pids.size} processes`
  return `${sockets.length} ${noun} (${tcp} TCP, ${sockets.length - tcp} UDP), ${held}`
}

/** What `alloc` did: `allocated TCP port 20417 to web of project shop`, `web of ... already has ...`. */
export function allocationSentence(result: AllocateResult): string {
  const { allocation } = result
  const port = portLabel(allocation.protocol, allocation.port)
  const whose = `${allocation.service} of project ${allocation.project}`
  if (result.created)
    return result.adopted
      ? `allocated ${port}, which pid ${allocation.pid} already holds, to ${whose}`
      : `allocated ${port} to ${whose}`
  return result.adopted
    ? `recorded pid ${allocation.pid} as the process of ${whose} (${port})`
    : `${whose} already has ${port}`
}

/** `released TCP port 20417 (web of project shop)`: one per released allocation. */
export function releasedSentence(allocation: Allocation): string {
  return `released ${portLabel(allocation.protocol, allocation.port)} (${allocation.service} of project ${allocation.project})`
}

/** `status`'s warning about the allocations of worktrees that no longer exist. */
export function goneWorktreesWarning(gone: readonly Allocation[]): string {
  const names = gone.map((a) => `${a.service} of ${a.project} (${a.port}/${a.protocol})`)
  const which = gone.length === 1 ? 'an allocation belongs' : `${gone.length} allocations belong`
  return `${which} to a worktree that no longer exists: ${names.join(', ')}; \`portwarden release --gone\` releases ${gone.length === 1 ? 'it' : 'them'}`
}

function counted(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`
}

/**
 * `3 allocations in /home/dev/.local/state/portwarden/registry.db: 2 healthy, 1 not running;
 * 1 conflict (1 system conflict)`: the registry at a glance (`status`).
 */
export function statusSentence(status: RegistryStatus, options: { health?: boolean } = {}): string {
  const { allocations, report } = status
  const parts = [`${counted(allocations.length, 'allocation')} in ${status.location}`]
  if (options.health && allocations.length > 0) {
    const byStatus = new Map<string, number>()
    for (const a of allocations)
      byStatus.set(a.healthStatus, (byStatus.get(a.healthStatus) ?? 0) + 1)
    const health = [...byStatus].map(([name, n]) => `${n} ${name.replace('_', ' ')}`)
    parts[0] += `: ${joinWords(health)}`
  }
  if (status.goneIds.size > 0)
    parts.push(`${counted(status.goneIds.size, 'allocation')} of a worktree that no longer exists`)
  if (report) {
    const kinds = Object.entries(report.summary)
      .filter(([kind, n]) => kind !== 'allocations' && n > 0)
      .map(([kind, n]) => counted(n, kind.replace('_', ' ')))
    parts.push(
      report.conflicts.length === 0
        ? 'no conflicts'
        : `${counted(report.conflicts.length, 'conflict')} (${joinWords(kinds)})`,
    )
  }
  return parts.join('; ')
}

/** Who would be signalled and who would not, for a dry run of `free`. */
export function freePlanSentence(plan: FreePlan): string {
  const held = plan.ports.filter((p) => p.held)
  if (held.length === 0)
    return `nothing to free: no process holds any port in ${describeSpecs(plan.specs)}`
  const parts: string[] = []
  const signalled = plan.targets.filter((t) => t.refusal === null && t.identity !== null)
  if (signalled.length > 0)
    parts.push(
      `${plan.signal} would go to ${describeProcesses(signalled.map((t) => t.holder))} (${describeSpecs(signalled.flatMap((t) => t.ports.map((p) => ({ from: p.port, to: p.port, protocol: p.protocol }))))})`,
    )
  for (const target of plan.targets)
    if (target.refusal) parts.push(`would not signal: ${target.refusal.message}`)
  for (const port of held)
    for (const blocker of port.blockers)
      parts.push(`${portLabel(port.protocol, port.port)} cannot be freed: ${blocker.message}`)
  return parts.join('; ')
}

/** What `free` did, port by port: `TCP port 8080 is free (node (pid 4242, ...) exited after SIGTERM)`. */
export function freeReportSentence(report: FreeReport): string {
  if (report.ports.length === 0)
    return `nothing to free: no process holds any port in ${describeSpecs(report.plan.specs)}`
  const parts = report.ports.map((port) => {
    const label = portLabel(port.protocol, port.port)
    if (port.status === 'nothing_to_free') return `nothing to free on ${label}: no process held it`
    if (port.status === 'still_held') return port.message
    const concerned = report.targets.filter((t) =>
      t.target.ports.some((p) => p.port === port.port && p.protocol === port.protocol),
    )
    const how = concerned
      .filter((t) => t.outcome === 'exited' || t.outcome === 'released')
      .map(
        (t) =>
          `${describeProcesses([t.target.holder])} ${t.outcome === 'exited' ? 'exited' : 'let go of it'} after ${t.signals.map((s) => s.signal).join(', then ')}`,
      )
    return how.length > 0 ? `${label} is free: ${joinWords(how)}` : `${label} is free`
  })
  if (!report.targets.some((t) => t.signals.length > 0) && report.outcome !== 'nothing_to_free')
    parts.push('nothing was signalled')
  return parts.join('; ')
}

/** What the other holders of the project's ports are: `2 left alone (in use or not this project's)`. */
function leftAlone(plan: PrunePlan): string | null {
  const n = plan.candidates.filter((c) => c.decision === 'not_stale' || c.decision === 'not_ours')
  if (n.length === 0) return null
  const foreign = n.filter((c) => c.decision === 'not_ours').length
  const words =
    foreign === n.length
      ? "not this project's"
      : foreign === 0
        ? 'not stale'
        : "not stale or not this project's"
  return `${n.length} other holder${n.length === 1 ? '' : 's'} left alone (${words})`
}

/** What `prune --dry-run` would do: `prune shop: SIGTERM would go to python3 (pid 42, …) …`. */
export function prunePlanSentence(plan: PrunePlan): string {
  const parts: string[] = []
  const stopping = plan.candidates.filter((c) => c.decision === 'stop')
  if (stopping.length > 0)
    parts.push(
      `${plan.free.signal} would go to ${describeProcesses(stopping.map((c) => c.holder))}, which look${stopping.length === 1 ? 's' : ''} stale`,
    )
  for (const c of plan.candidates)
    if (c.decision === 'refused') parts.push(`would not signal pid ${c.holder.pid}: ${c.why}`)
  if (plan.gone.length > 0)
    parts.push(
      `would release ${joinWords(plan.gone.map((a) => `${a.service} (${portLabel(a.protocol, a.port)})`))}, whose worktree is gone`,
    )
  if (parts.length === 0) parts.push('nothing looks stale')
  const alone = leftAlone(plan)
  if (alone) parts.push(alone)
  return `prune ${plan.scope.project}: ${parts.join('; ')}`
}

/** What `prune` did: who was stopped, what was released, what was left alone. */
export function pruneReportSentence(report: PruneReport): string {
  const { plan } = report
  if (report.outcome === 'nothing_to_prune') return prunePlanSentence(plan)
  const parts: string[] = []
  if (report.free.targets.length > 0) parts.push(freeReportSentence(report.free))
  const running = report.tree.filter((t) => t.outcome === 'running')
  if (running.length > 0)
    parts.push(
      `still running from their trees: ${running.map((t) => `pid ${t.mark.pid}`).join(', ')}`,
    )
  if (report.released.length > 0) parts.push(joinWords(report.released.map(releasedSentence)))
  const alone = leftAlone(plan)
  if (alone) parts.push(alone)
  return `prune ${plan.scope.project}: ${parts.join('; ')}`
}

function joinWords(parts: readonly string[]): string {
  if (parts.length <= 1) return parts[0] ?? ''
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`
}

/**
 * How a sentence names where a socket is: `network namespace t1`, `container web (3f2a9c1b)`,
 * or, for a namespace with no name, its inode and a process in it.
 */
export function namespacePlace(tag: NetnsTag, memberName?: string | null): string {
  if (tag.host) return 'this network namespace'
  if (tag.containerId !== null)
    return tag.name !== null
      ? `container ${escapeUnsafe(tag.name)} (${tag.containerId.slice(0, 12)})`
      : `container ${tag.containerId.slice(0, 12)}`
  if (tag.name !== null) return `network namespace ${escapeUnsafe(tag.name)}`
  return `network namespace ${tag.inode}${memberName ? ` (of ${escapeUnsafe(memberName)})` : ''}`
}

/** ` in network namespace t1`: where an answer about another namespace is; nothing for this one. */
export function namespaceSuffix(netns: NetnsTag | undefined): string {
  return netns && !netns.host ? ` in ${namespacePlace(netns)}` : ''
}

/**
 * `TCP port 8088 is in use in network namespace t1 by python3 (pid 4242, user dev) on
 * 127.0.0.1:8088, which does not take it here`.
 */
export function otherNamespaceSentence(
  protocol: Protocol,
  port: number,
  elsewhere: NamespaceHolders,
): string {
  return `${protocol.toUpperCase()} port ${port} is in use in ${namespacePlace(elsewhere.netns)} by ${holdersAndWhere(elsewhere.sockets)}, which does not take it here`
}

/** The `namespace_unreadable` warning: which namespaces a listing of every one could not read. */
export function namespacesNotReadSentence(places: readonly string[]): string {
  const which =
    places.length === 1 ? 'One network namespace was' : `${places.length} network namespaces were`
  return `${which} not read (${places.join(', ')}): entering needs root (CAP_SYS_ADMIN) and the native addon, and no process of it is visible here`
}

import { addressesOverlap, formatEndpoint } from './addresses.js'
import type { ProbeResult, ProbeTarget } from './bind-probe.js'
import type { PortPublisher, PublisherOptions } from './containers/published-ports.js'
import { PortwardenError } from './errors.js'
import type { PortSpec } from './port-spec.js'
import { expandPortSpecs } from './port-spec.js'
import type { OtherProtocolHolders } from './other-protocol.js'
import { otherProtocolHolders, withOtherProtocols } from './other-protocol.js'
import type { NamespaceHolders } from './other-namespaces.js'
import { noteOtherNamespaces } from './other-namespaces.js'
import { readProcText } from './process/read-process.js'
import { socketsOnPorts } from './sockets/list-sockets.js'
import type { EvidenceContext, HolderJudgement } from './stale/index.js'
import type { BackendName } from './sockets/query.js'
import type { Family, Protocol, SocketEntry, Warning } from './types.js'

export interface PortCheck {
  port: number
  protocol: Protocol
  free: boolean
  /** The sockets standing in the way (empty when free, or when only a bind test saw the conflict). */
  holders: SocketEntry[]
  /**
   * `in_use`: the socket tables show the holder; `bind_failed`: only a bind test saw it;
   * `published`: bindable, but a DNAT rule (a container's published port) takes its traffic.
   */
  reason: 'in_use' | 'bind_failed' | 'published' | null
  /** For `published`: the NAT rules / containers that take the port's traffic. */
  publishers: PortPublisher[]
  warnings: Warning[]
  /** The bind tests that were run and what the kernel answered. */
  probes: ProbeResult[]
  /** For a free port, when asked (`otherProtocol`): what holds it over the other protocol. */
  otherProtocol: OtherProtocolHolders | null
  /** Per holder process of a taken port, when asked (`evidence`): is it a leftover? */
  judgements?: HolderJudgement[]
  /** When asked (`otherNamespaces`): the port's listeners in other network namespaces. */
  otherNamespaces?: NamespaceHolders[]
}

export interface CheckOptions extends PublisherOptions {
  /** Check one address only (as a service binding it would); default: every address. */
  host?: string
  backend?: BackendName | 'auto'
  procRoot?: string
  /**
   * Ask the Docker Engine and the NAT table about ports that look free (default true): a port
   * published by a DNAT rule is bindable, but its traffic goes to the container.
   */
  publishers?: boolean
  /**
   * Also say what holds a free port over the other protocol (default false): `check 51820`
   * with wireguard-go on 51820/udp. The twin ports are read in the same scan.
   */
  otherProtocol?: boolean
  /** Gather the stale-holder evidence for the holders of each taken port, as `whoHolds` does. */
  evidence?: Omit<EvidenceContext, 'sockets'>
  /**
   * Name each free port's listeners in other network namespaces (`true`; `'every-port'`: taken
   * ports' too, as `check --all-namespaces`; default: neither). They never make a port taken
   * here, but are often what a user checking it is looking for.
   */
  otherNamespaces?: boolean | 'every-port'
}

/** Bounded: every port costs two binds, and A10 asks for a cap on what one call can do. */
export const MAX_CHECKED_PORTS = 16_384

/**
 * Is each port free to bind? The socket tables name holders on any address (0.0.0.0, ::,
 * 127.0.0.1, ::1, v4-mapped); bind tests catch what the tables cannot show.
 */
export async function checkPorts(
  specs: readonly PortSpec[],
  options: CheckOptions = {},
): Promise<PortCheck[]> {
  const wanted =
    options.host === undefined
      ? undefined
      : await (await import('./bind-probe.js')).bindableHost(options.host)
  const ports = expandPortSpecs(specs)
  if (ports.length > MAX_CHECKED_PORTS) {
    throw new PortwardenError(
      'invalid_request',
      `Too many ports to check at once: ${ports.length} (at most ${MAX_CHECKED_PORTS}).`,
      { hint: 'Check a smaller range, or use `portwarden find --range A-B` to find free ports.' },
    )
  }
  const { byPort, inventory } = await socketsOnPorts(
    options.otherProtocol === true ? withOtherProtocols(specs) : specs,
    options,
  )
  const targets: readonly ProbeTarget[] | undefined = wanted
    ? [{ host: wanted.address, ipv6Only: false }]
    : undefined
  const results: PortCheck[] = []
  for (const { protocol, port } of ports) {
    const sockets = byPort.get(`${protocol}:${port}`) ?? []
    const result = await judgePort(protocol, port, sockets, wanted, targets)
    results.push(result)
    if (options.evidence && result.holders.length > 0) {
      const { judgePortHolders } = await import('./stale/judge-holders.js')
      result.judgements = await judgePortHolders(result.holders, sockets, result, {
        ...options.evidence,
        ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
      })
    }
  }
  if (options.publishers !== false) await markPublished(results, options)
  if (options.otherProtocol === true)
    for (const result of results)
      if (result.free)
        result.otherProtocol = otherProtocolHolders(byPort, result.protocol, result.port)
  // This namespace's tables decide; other namespaces only add notes.
  const warnings = [...inventory.warnings]
  if (options.otherNamespaces)
    warnings.push(
      ...(await noteOtherNamespaces(
        results.filter((r) => r.free || options.otherNamespaces === 'every-port'),
        options,
      )),
    )
  if (results.length > 0 && warnings.length > 0)
    (results[0] as PortCheck).warnings.push(...warnings)
  return results
}

/** One port: `checkPorts` for a single port and protocol. */
export async function checkPort(
  port: number,
  protocol: Protocol = 'tcp',
  options: CheckOptions = {},
): Promise<PortCheck> {
  const [result] = await checkPorts([{ from: port, to: port, protocol }], options)
  return result as PortCheck
}

async function judgePort(
  protocol: Protocol,
  port: number,
  sockets: readonly SocketEntry[],
  wanted: { address: string; family: Family } | null | undefined,
  targets: readonly ProbeTarget[] | undefined,
): Promise<PortCheck> {
  const warnings: Warning[] = []
  const verdict = (
    free: boolean,
    holders: SocketEntry[],
    reason: PortCheck['reason'],
    probes: ProbeResult[],
  ): PortCheck => ({
    port,
    protocol,
    free,
    holders,
    reason,
    warnings,
    probes,
    publishers: [],
    otherProtocol: null,
  })
  const { definite, possible, timeWait } = sortByOverlap(sockets, wanted, protocol)
  const { bindSucceeded } = await import('./bind-probe.js')
  const probe = (retry: boolean) => probeUntilSettled(protocol, port, targets, retry)
  let probes: ProbeResult[] | undefined
  if (definite.length > 0) {
    // The table names the holder; the bind test confirms it is still there. A socket with no
    // visible holder, or one held by this very process, may be such a passing bind test.
    probes = await probe(unexplained(definite))
    if (!bindSucceeded(probes)) return verdict(false, definite, 'in_use', probes)
  }
  // (When the table's holders proved gone, their bind test succeeded: nothing to ask again.)
  // A bound, not yet listening socket with no visible holder is what another checker's bind
  // test looks like between its bind() and listen(): it gets the same retries as an empty table.
  probes ??= await probe(timeWait.length === 0 && unexplained(possible))
  if (probes.some(isRefused)) {
    if (possible.length > 0) return verdict(false, possible, 'in_use', probes)
    // A TIME-WAIT socket keeps the SO_REUSEADDR flag of the server that left it; without it,
    // every bind fails, even one with SO_REUSEADDR. Name that cause, not a hidden owner.
    if (timeWait.length > 0) warnings.push(timeWaitWarning(timeWait, protocol, port, true))
    return verdict(false, [], 'bind_failed', probes)
  }
  if (probes.some((p) => p.outcome === 'EACCES')) {
    warnings.push({
      code: 'privileged_port',
      message: `binding port ${port} needs privileges (ports below ${unprivilegedPortStart()}); only the socket tables were checked`,
    })
  }
  if (timeWait.length > 0) warnings.push(timeWaitWarning(timeWait, protocol, port, false))
  return verdict(true, [], null, probes)
}

/**
 * The sockets on the port by what they say about the wanted address: `definite` holders
 * (a listener, or a UDP socket, on an overlapping address), `possible` ones (an address that may
 * overlap, or a TCP socket in another state), and TIME-WAIT leftovers.
 */
function sortByOverlap(
  sockets: readonly SocketEntry[],
  wanted: { address: string; family: Family } | null | undefined,
  protocol: Protocol,
) {
  const definite: SocketEntry[] = []
  const possible: SocketEntry[] = []
  const timeWait: SocketEntry[] = []
  for (const socket of sockets) {
    const overlap = wanted
      ? addressesOverlap({ address: socket.localAddress, family: socket.family }, wanted)
      : 'yes'
    if (overlap === 'no') continue
    if (socket.state === 'TIME-WAIT') timeWait.push(socket)
    else if (overlap === 'yes' && (socket.state === 'LISTEN' || protocol === 'udp'))
      definite.push(socket)
    else possible.push(socket)
  }
  return { definite, possible, timeWait }
}

const isRefused = (p: ProbeResult) => p.outcome === 'EADDRINUSE'

/** No holder but this process is visible: the sockets may be bind tests (ours or another's). */
const unexplained = (sockets: readonly SocketEntry[]) =>
  sockets.every((s) => s.processes.every((p) => p.pid === process.pid))

/**
 * Bind tests on every target address. Another checker's own bind test (a second preflight, a
 * get-port, a parallel `check`) is in the tables for about a millisecond: with `retry`, when no
 * visible holder explains a refusal, the kernel is asked three more times (within 140 ms) before
 * the port is called taken.
 */
async function probeUntilSettled(
  protocol: Protocol,
  port: number,
  targets: readonly ProbeTarget[] | undefined,
  retry: boolean,
): Promise<ProbeResult[]> {
  const { EVERY_ADDRESS, probeBind } = await import('./bind-probe.js')
  let probes: ProbeResult[] = []
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt))
    probes = await Promise.all((targets ?? EVERY_ADDRESS).map((t) => probeBind(protocol, port, t)))
    if (!retry || !probes.some(isRefused)) break
  }
  return probes
}

/** TIME-WAIT leftovers: the cause of a failed bind (`blocking`), or a caveat on a free port. */
function timeWaitWarning(
  timeWait: readonly SocketEntry[],
  protocol: Protocol,
  port: number,
  blocking: boolean,
): Warning {
  const count = `${timeWait.length} TIME-WAIT socket${timeWait.length === 1 ? '' : 's'} on ${protocol}/${port} (${formatEndpoint(timeWait[0]!.localAddress, port)})`
  return {
    code: 'time_wait',
    message: blocking
      ? `${count} left by a server without SO_REUSEADDR: binding fails until ${timeWait.length === 1 ? 'it expires' : 'they expire'} (up to 60 s)`
      : `${count}: servers without SO_REUSEADDR may fail to bind for up to 60 s`,
  }
}

/** Ports that look free but that a NAT rule or the Docker Engine gives to a container. */
async function markPublished(results: PortCheck[], options: CheckOptions): Promise<void> {
  const free = results.filter((r) => r.free)
  if (free.length === 0) return
  const { findPortPublishers } = await import('./containers/published-ports.js')
  const byPort = await findPortPublishers(free, options)
  for (const result of free) {
    const publishers = byPort.get(`${result.protocol}:${result.port}`)
    if (!publishers) continue
    result.free = false
    result.reason = 'published'
    result.publishers = publishers
  }
}

function unprivilegedPortStart(): number {
  const text = readProcText('/proc/sys/net/ipv4/ip_unprivileged_port_start')
  const value = Number(text?.trim())
  return Number.isInteger(value) && value >= 0 ? value : 1024
}

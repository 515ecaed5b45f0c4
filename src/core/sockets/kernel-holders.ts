import { readFileSync } from 'node:fs'
import type { KernelHolder, Protocol } from '../types.js'
import { nativeAddon } from './native-addon.js'

/** A UDP tunnel device as the addon's RTM_GETLINK dump reports it (native/link_dump.c). */
interface TunnelLink {
  name: string
  kind: string
  port: number | null
  id: number | null
}

/** Who in the kernel uses which port: asked once per listing, only when a socket has no task. */
export interface KernelUsers {
  /**
   * The kernel user of a socket no task holds, or null when nothing in the kernel names it: then
   * it is not called kernel-held, since a socket whose only fd is in flight (passed over a unix
   * socket, SCM_RIGHTS) or held in another pid namespace's view looks the same.
   */
  holderOf(protocol: Protocol, port: number): KernelHolder | null
}

/**
 * The kernel's own socket users: UDP tunnel devices (vxlan, geneve, bareudp, gtp) from the
 * addon's link dump, WireGuard listen ports and `ip fou` ports from generic netlink (the addon
 * asks the wireguard and fou families; an absent module is nothing to ask), nfsd's ports from
 * /proc/fs/nfsd/portlist and lockd's from /proc/sys/fs/nfs/nlm_{tcp,udp}port. A UDP socket beside
 * a WireGuard interface whose port the kernel did not tell (no CAP_NET_ADMIN) is named as likely
 * WireGuard.
 */
export function readKernelUsers(procRoot = '/proc', namespace?: OtherNamespace): KernelUsers {
  // nfsd and lockd answer for the namespace they were started in: asked in the host's only.
  const services = namespace ? new Map<string, KernelHolder>() : serviceHolders(procRoot)
  return kernelUsersOf(tunnelLinks(namespace?.path), services, namespace)
}

/**
 * The matching of `readKernelUsers`, on what it read: the addon's link dump (a WireGuard
 * interface or `ip fou` port this kernel has no module for can only be given so) and the nfsd and
 * lockd ports by `protocol:port`.
 */
export function kernelUsersOf(
  links: readonly TunnelLink[],
  services: ReadonlyMap<string, KernelHolder>,
  namespace?: OtherNamespace,
): KernelUsers {
  // A WireGuard interface whose listen port the kernel did not tell (no CAP_NET_ADMIN).
  const unknownWireguard = links.find((l) => l.kind === 'wireguard' && l.port === null)
  return {
    holderOf(protocol, port) {
      if (protocol === 'udp') {
        const link = links.find((l) => l.port === port)
        if (link) return linkHolder(link, namespace)
      }
      const service = services.get(`${protocol}:${port}`)
      if (service) return service
      return protocol === 'udp' && unknownWireguard
        ? wireguardGuess(unknownWireguard.name, namespace)
        : null
    },
  }
}

/** Another network namespace than this process's: the nsfs file that enters it, and its `ip netns` name. */
export interface OtherNamespace {
  path: string
  name: string | null
}

function tunnelLinks(nsPath?: string): TunnelLink[] {
  const { addon } = nativeAddon()
  // An older addon would dump this namespace's links instead: nothing is known of that one.
  if (nsPath !== undefined && !addon?.enterNamespaces) return []
  try {
    return addon?.listUdpTunnels ? addon.listUdpTunnels(nsPath) : []
  } catch {
    return []
  }
}

/** How the kernel holder of a tunnel link's port is named, and how it is released. */
export function linkHolder(link: TunnelLink, namespace?: OtherNamespace): KernelHolder {
  const ip = ipIn(namespace)
  if (link.kind === 'fou' || link.kind === 'gue') {
    const carries =
      link.id !== null ? ` (${IP_PROTOCOLS[link.id] ?? `IP protocol ${link.id}`})` : ''
    return {
      interface: null,
      linkKind: link.kind,
      description: `${link.kind === 'gue' ? 'a GUE' : 'a fou'} receive port${carries}`,
      fix: `${ip} fou del port ${link.port}`,
    }
  }
  if (link.kind === 'wireguard') {
    return {
      interface: link.name,
      linkKind: link.kind,
      description: `WireGuard interface ${link.name}`,
      fix: wireguardFix(link.name, namespace),
    }
  }
  const vni = (link.kind === 'vxlan' || link.kind === 'geneve') && link.id !== null
  return {
    interface: link.name,
    linkKind: link.kind,
    description: `${link.kind} interface ${link.name}${vni ? ` (VNI ${link.id})` : ''}`,
    fix: `${ip} link del ${link.name}`,
  }
}

/** What a fou port decapsulates (`ip fou add port P ipproto N`). */
const IP_PROTOCOLS: Record<number, string> = { 4: 'IPIP', 41: 'IPv6-in-IP', 47: 'GRE' }

/** A UDP socket no device names, beside a WireGuard interface: likely its listen port. */
function wireguardGuess(wg: string, namespace?: OtherNamespace): KernelHolder {
  return {
    interface: null,
    linkKind: null,
    description: `an in-kernel socket (likely WireGuard: \`wg show ${wg} listen-port\` tells)`,
    fix: wireguardFix(wg, namespace),
  }
}

/** How a WireGuard interface is taken down. */
function wireguardFix(wg: string, namespace?: OtherNamespace): string {
  // wg-quick and its systemd unit run in the host's namespace; elsewhere the device goes.
  return namespace
    ? `${ipIn(namespace)} link del ${wg}`
    : `wg-quick down ${wg} (or systemctl stop wg-quick@${wg}, or ip link del ${wg})`
}

/** `ip` run in the socket's namespace: `ip -n NAME ...`, or through nsenter for an unnamed one. */
function ipIn(namespace?: OtherNamespace): string {
  if (!namespace) return 'ip'
  return namespace.name !== null ? `ip -n ${namespace.name}` : `nsenter --net=${namespace.path} ip`
}

function serviceHolders(procRoot: string): Map<string, KernelHolder> {
  const found = new Map<string, KernelHolder>()
  const nfsd: KernelHolder = {
    interface: null,
    linkKind: null,
    description: 'the NFS server (nfsd)',
    fix: 'systemctl stop nfs-server',
  }
  // Lines such as `tcp 2049` / `udp 2049` (also `rdma 20049`, not a socket we list).
  for (const line of readText(`${procRoot}/fs/nfsd/portlist`).split('\n')) {
    const [transport, port] = line.trim().split(/\s+/)
    if ((transport === 'tcp' || transport === 'udp') && port)
      found.set(`${transport}:${port}`, nfsd)
  }
  const lockd: KernelHolder = {
    interface: null,
    linkKind: null,
    description: 'the NFS lock manager (lockd)',
    fix: 'systemctl stop nfs-server (lockd stays while NFS mounts exist: umount them)',
  }
  for (const protocol of ['tcp', 'udp'] as const) {
    const port = readText(`${procRoot}/sys/fs/nfs/nlm_${protocol}port`).trim()
    if (/^[1-9]\d*$/.test(port)) found.set(`${protocol}:${port}`, lockd)
  }
  return found
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch {
    return ''
  }
}

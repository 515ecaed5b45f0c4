import { displayName } from '../messages.js'
import type { Protocol } from '../types.js'
import type { DockerContainer } from './docker-engine.js'
import { askDockerEngine } from './docker-engine.js'
import type { DnatRule } from './nat-rules.js'
import { readDnatRules, ruleMatches } from './nat-rules.js'

/**
 * Something that takes a port's traffic without holding a socket on it: a destination-NAT rule
 * (found in the kernel's NAT table) and/or a container that the Docker Engine says publishes it.
 */
export interface PortPublisher {
  port: number
  protocol: Protocol
  /** The container, when the Engine API names it (by published port, or the rule's target). */
  container: { name: string; id: string } | null
  /** Where the traffic goes (`172.17.0.2:80`), when known. */
  target: string | null
  /** The NAT rule, as `iptables-save` prints it, when one was read. */
  rule: string | null
  /** The command that manages the rule: `iptables` or `ip6tables`. */
  ruleTable: 'iptables' | 'ip6tables' | null
}

export interface PublisherOptions {
  /** The Docker Engine API socket (default: PORTWARDEN_DOCKER_SOCKET, DOCKER_HOST, /var/run/docker.sock). */
  dockerSocket?: string
  dockerTimeoutMs?: number
  /** Read the kernel's NAT rules (root only; default true). */
  natRules?: boolean
}

/**
 * Who publishes these ports without a socket, by `protocol:port`: asked of the Docker Engine
 * (its socket missing costs nothing) and the NAT table, once for all ports. A source that
 * cannot be asked (no engine, not root) simply adds nothing: this is attribution on top of
 * the bind test, never the reason a port is called free.
 */
export async function findPortPublishers(
  keys: readonly { port: number; protocol: Protocol }[],
  options: PublisherOptions = {},
): Promise<Map<string, PortPublisher[]>> {
  const byPort = new Map<string, PortPublisher[]>()
  if (keys.length === 0) return byPort
  const [docker, nat] = await Promise.all([
    askDockerEngine(options),
    options.natRules === false ? null : readDnatRules(),
  ])
  const containers = docker.ok ? docker.containers : []
  const rules = nat?.ok ? nat.rules : []
  for (const { port, protocol } of keys) {
    const found = publishersOf(port, protocol, containers, rules)
    if (found.length > 0) byPort.set(`${protocol}:${port}`, found)
  }
  return byPort
}

function publishersOf(
  port: number,
  protocol: Protocol,
  containers: readonly DockerContainer[],
  rules: readonly DnatRule[],
): PortPublisher[] {
  const publishers: PortPublisher[] = []
  const matching = rules.filter((rule) => ruleMatches(rule, port, protocol))
  for (const container of containers) {
    for (const published of container.ports) {
      if (published.publicPort !== port || published.protocol !== protocol) continue
      const address = container.addresses[0] ?? null
      const rule = matching.find((r) => address !== null && r.toAddress === address)
      publishers.push({
        port,
        protocol,
        container: { name: container.name, id: container.id },
        target: address ? endpoint(address, published.privatePort) : null,
        rule: rule?.text ?? null,
        ruleTable: rule ? tableOf(rule) : null,
      })
    }
  }
  for (const rule of matching) {
    if (publishers.some((p) => p.rule === rule.text)) continue
    const container = containers.find((c) => c.addresses.includes(rule.toAddress))
    publishers.push({
      port,
      protocol,
      container: container ? { name: container.name, id: container.id } : null,
      target: endpoint(rule.toAddress, rule.toPort ?? port),
      rule: rule.text,
      ruleTable: tableOf(rule),
    })
  }
  return publishers
}

function tableOf(rule: DnatRule): 'iptables' | 'ip6tables' {
  return rule.family === 'ipv6' ? 'ip6tables' : 'iptables'
}

function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

/**
 * `published by Docker container web through a DNAT rule to 172.17.0.2:80`, or `redirected by
 * a DNAT rule to 10.0.0.5:53`: a fragment for `check`, `who` and `free`.
 */
export function describePublisher(publisher: PortPublisher): string {
  const to = publisher.target ? ` to ${displayName(publisher.target)}` : ''
  if (!publisher.container) return `redirected by a DNAT rule${to}`
  const how = publisher.rule ? ' through a DNAT rule' : ' (says the Docker Engine)'
  return `published by Docker container ${displayName(publisher.container.name)}${how}${to}`
}

/** A noun for lists of owners: `Docker container web (through a DNAT rule)`, `a DNAT rule to 10.0.0.5:53`. */
export function publisherName(publisher: PortPublisher): string {
  if (!publisher.container) {
    return `a DNAT rule${publisher.target ? ` to ${displayName(publisher.target)}` : ''}`
  }
  return `Docker container ${displayName(publisher.container.name)} (${publisher.rule ? 'through a DNAT rule' : 'published, says the Docker Engine'})`
}

/** The fixes for a port's publishers, each once: `docker stop web, or iptables -t nat -D ...`. */
export function publishersFix(publishers: readonly PortPublisher[]): string | null {
  const fixes = [...new Set(publishers.map(publisherFix))]
  return fixes.length > 0 ? fixes.join(', or ') : null
}

/** What to run instead: stop the container, else delete the rule. */
export function publisherFix(publisher: PortPublisher): string {
  if (publisher.container) return `docker stop ${displayName(publisher.container.name)}`
  if (publisher.rule)
    return `${publisher.ruleTable ?? 'iptables'} -t nat -D ${displayName(publisher.rule.slice(3))}`
  return 'find the rule with `iptables-save -t nat`'
}

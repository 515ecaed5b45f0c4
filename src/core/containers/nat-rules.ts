import { execFile } from 'node:child_process'
import type { Family, Protocol } from '../types.js'

/**
 * A destination-NAT rule for a port: traffic to it goes elsewhere, whoever binds it here.
 * Docker without its userland proxy, nerdctl, CNI's portmap and Kubernetes' hostPort publish
 * ports this way, and no socket table shows them.
 */
export interface DnatRule {
  family: Family
  protocol: Protocol
  /** The matched destination ports (`--dport 8080`, `--dport 8000:8010`, `--dports 80,443`). */
  ports: { from: number; to: number }[]
  /** The matched destination address (`-d 127.0.0.1/32`), or null for any. */
  destination: string | null
  /** Where the traffic goes: its address and first port (null: the port is kept). */
  toAddress: string
  toPort: number | null
  chain: string
  /** The rule as `iptables-save` prints it. */
  text: string
}

export type DnatLookup = { ok: true; rules: DnatRule[] } | { ok: false; reason: string }

const SAVE_TIMEOUT_MS = 1500
/** A `serve` answering many checks, or an allocator trying candidates, reads the table once. */
const CACHE_MS = 1000
let cached: { at: number; lookup: Promise<DnatLookup> } | null = null
const MAX_OUTPUT_BYTES = 16 << 20

/**
 * The kernel's DNAT rules, from `iptables-save -t nat` and `ip6tables-save -t nat` (the restore
 * format, meant for programs; iptables-nft and legacy alike). This is a declared fallback: no
 * socket data comes from it, only the NAT rules, which only root may read (both commands take
 * ~7 ms together; nf_nat is often built in, so no cheaper sign says there are none). Run as
 * child processes without blocking the event loop (`serve` asks while answering others).
 */
export function readDnatRules(): Promise<DnatLookup> {
  const now = Date.now()
  if (cached && now - cached.at < CACHE_MS) return cached.lookup
  const lookup = readDnatRulesNow()
  cached = { at: now, lookup }
  return lookup
}

async function readDnatRulesNow(): Promise<DnatLookup> {
  if (process.geteuid?.() !== 0) return { ok: false, reason: 'reading NAT rules needs root' }
  const tables = await Promise.all(
    (
      [
        ['iptables-save', 'ipv4'],
        ['ip6tables-save', 'ipv6'],
      ] as const
    ).map(([command, family]) => saveNatTable(command, family)),
  )
  const read = tables.filter((rules): rules is DnatRule[] => rules !== null)
  return read.length > 0
    ? { ok: true, rules: read.flat() }
    : { ok: false, reason: 'iptables-save is not installed' }
}

/** One `*-save -t nat`, parsed; null when the command is missing or fails. Never rejects. */
function saveNatTable(command: string, family: Family): Promise<DnatRule[] | null> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['-t', 'nat'],
      { encoding: 'utf8', timeout: SAVE_TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES },
      (error, stdout) => resolve(error ? null : parseIptablesSave(stdout, family)),
    )
  })
}

/** The DNAT rules of an `iptables-save` text. Total: lines it does not understand are skipped. */
export function parseIptablesSave(text: string, family: Family): DnatRule[] {
  const rules: DnatRule[] = []
  for (const line of text.split('\n')) {
    if (!line.startsWith('-A ')) continue
    const tokens = splitRule(line)
    const value = (flag: string): string | null => {
      const at = tokens.indexOf(flag)
      return at >= 0 && at + 1 < tokens.length && tokens[at - 1] !== '!'
        ? (tokens[at + 1] as string)
        : null
    }
    if (value('-j') !== 'DNAT') continue
    const protocol = value('-p')
    if (protocol !== 'tcp' && protocol !== 'udp') continue
    const ports = parsePorts(value('--dport') ?? value('--dports'))
    const to = parseDestination(value('--to-destination'))
    if (ports.length === 0 || !to) continue
    rules.push({
      family,
      protocol,
      ports,
      destination: value('-d'),
      toAddress: to.address,
      toPort: to.port,
      chain: tokens[1] ?? '',
      text: line,
    })
  }
  return rules
}

/** Splits a rule line into words, honouring the double quotes around comments. */
function splitRule(line: string): string[] {
  const tokens: string[] = []
  const word = /"((?:[^"\\]|\\.)*)"|(\S+)/g
  for (let match = word.exec(line); match; match = word.exec(line))
    tokens.push(match[1] ?? match[2] ?? '')
  return tokens
}

function parsePorts(text: string | null): { from: number; to: number }[] {
  if (!text) return []
  const ports: { from: number; to: number }[] = []
  for (const part of text.split(',')) {
    const [a, b] = part.split(':')
    const from = Number(a)
    const to = b === undefined ? from : Number(b)
    if (Number.isInteger(from) && Number.isInteger(to) && from >= 1 && to <= 65535 && from <= to)
      ports.push({ from, to })
  }
  return ports
}

/** `172.17.0.2:80`, `172.17.0.2:80-90`, `172.17.0.2`, `[fd00::2]:80`. */
function parseDestination(text: string | null): { address: string; port: number | null } | null {
  if (!text) return null
  const bracketed = /^\[([^\]]+)\](?::(\d+))?/.exec(text)
  if (bracketed) {
    return { address: bracketed[1] as string, port: bracketed[2] ? Number(bracketed[2]) : null }
  }
  if (text.indexOf(':') !== text.lastIndexOf(':')) return { address: text, port: null }
  const [address, port] = text.split(':')
  if (!address) return null
  const first = port?.split('-')[0]
  return { address: address.split('-')[0] as string, port: first ? Number(first) : null }
}

export function ruleMatches(rule: DnatRule, port: number, protocol: Protocol): boolean {
  return rule.protocol === protocol && rule.ports.some((r) => r.from <= port && port <= r.to)
}

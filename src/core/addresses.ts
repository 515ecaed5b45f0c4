import { normalizeAddress } from './sockets/inet-address.js'
import type { Family } from './types.js'

/** Does a socket bound to `bound` stand in the way of binding `wanted` (same port)? */
export function addressesOverlap(
  bound: { address: string; family: Family },
  wanted: { address: string; family: Family },
): 'yes' | 'no' | 'if-dual-stack' {
  const boundV4 = mappedIPv4(bound.address) ?? (bound.family === 'ipv4' ? bound.address : null)
  const wantedV4 = mappedIPv4(wanted.address) ?? (wanted.family === 'ipv4' ? wanted.address : null)
  if (boundV4 !== null && wantedV4 !== null) {
    return boundV4 === wantedV4 || boundV4 === '0.0.0.0' || wantedV4 === '0.0.0.0' ? 'yes' : 'no'
  }
  if (boundV4 === null && wantedV4 === null) {
    return bound.address === wanted.address || bound.address === '::' || wanted.address === '::'
      ? 'yes'
      : 'no'
  }
  // One IPv4, one IPv6: only a `::` socket without IPV6_V6ONLY spans both, and the
  // proc tables do not say whether it set the option; a bind test decides.
  if (bound.address === '::' || wanted.address === '::') return 'if-dual-stack'
  return 'no'
}

function mappedIPv4(address: string): string | null {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : null
}

/** Parses a `--host` value; null when it is not an IP address. */
export function parseHost(text: string): { address: string; family: Family } | null {
  if (text === 'localhost') return { address: '127.0.0.1', family: 'ipv4' }
  return normalizeAddress(text)
}

/** `127.0.0.1:80`, `[::1]:80`. */
export function formatEndpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`
}

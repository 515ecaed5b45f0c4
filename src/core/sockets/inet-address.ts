import { endianness } from 'node:os'

// /proc/net/{tcp,udp}6 print each address as 32-bit words in the kernel's (host) byte order.
const littleEndian = endianness() === 'LE'

function wordBytes(hex: string, offset: number, out: number[]): void {
  const b0 = parseInt(hex.slice(offset, offset + 2), 16)
  const b1 = parseInt(hex.slice(offset + 2, offset + 4), 16)
  const b2 = parseInt(hex.slice(offset + 4, offset + 6), 16)
  const b3 = parseInt(hex.slice(offset + 6, offset + 8), 16)
  if (littleEndian) out.push(b3, b2, b1, b0)
  else out.push(b0, b1, b2, b3)
}

/** `0100007F` → `127.0.0.1` (on a little-endian host). */
export function parseHexIPv4(hex: string): string {
  const bytes: number[] = []
  wordBytes(hex, 0, bytes)
  return bytes.join('.')
}

/** 32 hex digits from /proc/net/tcp6 → RFC 5952 text, v4-mapped as `::ffff:127.0.0.1`. */
export function parseHexIPv6(hex: string): string {
  const bytes: number[] = []
  for (let offset = 0; offset < 32; offset += 8) wordBytes(hex, offset, bytes)
  return formatIPv6Bytes(bytes)
}

export function formatIPv6Bytes(bytes: ArrayLike<number>): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0))
  const mapped =
    groups[0] === 0 &&
    groups[1] === 0 &&
    groups[2] === 0 &&
    groups[3] === 0 &&
    groups[4] === 0 &&
    groups[5] === 0xffff
  if (mapped) return `::ffff:${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`
  // Longest run of two or more zero groups becomes "::" (first one wins a tie).
  let bestStart = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLength) {
      bestStart = i
      bestLength = j - i
    }
    i = j
  }
  const hexGroups = groups.map((group) => group.toString(16))
  if (bestStart < 0) return hexGroups.join(':')
  const head = hexGroups.slice(0, bestStart).join(':')
  const tail = hexGroups.slice(bestStart + bestLength).join(':')
  return `${head}::${tail}`
}

/** Normalises any IPv4/IPv6 text to the form the socket tables use, or null when invalid. */
export function normalizeAddress(
  text: string,
): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text
  if (isIPv4Text(bare)) return { address: bare, family: 'ipv4' }
  const bytes = parseIPv6Text(bare)
  return bytes ? { address: formatIPv6Bytes(bytes), family: 'ipv6' } : null
}

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
const IPV4_PATTERN = new RegExp(`^(?:${IPV4_OCTET}\\.){3}${IPV4_OCTET}$`)

function isIPv4Text(text: string): boolean {
  return IPV4_PATTERN.test(text)
}

function parseIPv6Text(text: string): number[] | null {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return null
  let body = text
  const tailBytes: number[] = []
  const lastColon = body.lastIndexOf(':')
  if (lastColon < 0) return null
  if (body.slice(lastColon + 1).includes('.')) {
    const v4 = body.slice(lastColon + 1)
    if (!isIPv4Text(v4)) return null
    tailBytes.push(...v4.split('.').map(Number))
    body = body.slice(0, lastColon + 1) + '0:0'
  }
  const halves = body.split('::')
  if (halves.length > 2) return null
  const parse = (part: string): number[] | null => {
    if (part === '') return []
    const groups = part.split(':')
    if (groups.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return null
    return groups.map((g) => parseInt(g, 16))
  }
  const head = parse(halves[0] ?? '')
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : []
  if (!head || !tail) return null
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail]
  const bytes: number[] = []
  for (const group of groups) bytes.push(group >> 8, group & 0xff)
  if (tailBytes.length) bytes.splice(12, 4, ...tailBytes)
  return bytes
}

export function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::'
}

import { PortwardenError } from '../errors.js'
import { specContains } from '../port-spec.js'
import type { Family, Protocol, RawSocket } from '../types.js'
import { formatIPv6Bytes } from './inet-address.js'
import type { NativeAddon } from './native-addon.js'
import { nativeAddon } from './native-addon.js'
import { stateName } from './parse-proc-net.js'
import type { ListSocketsOptions } from './query.js'

/**
 * TCP states 1-12, as /proc/net shows them. Bit 13 (TCP_BOUND_INACTIVE, Linux 6.5+) only when
 * asked: sockets bound but never listening, which /proc/net/tcp does not list and `ss -a`
 * leaves out; port questions ask, so `check`/`who`/`free` name their holder. (It is a filter
 * only: the kernel reports such a socket in state TCP_CLOSE, which reads as UNCONN.)
 */
const ALL_STATES = 0x1ffe
const TCP_BOUND_INACTIVE = 1 << 13
const TCP_LISTEN = 1 << 10
/** UDP's "state" is TCP_CLOSE (7) when bound but not connected: `ss -l` shows those. */
const UDP_UNCONN = 1 << 7
const AF_INET = 2
const IPPROTO_TCP = 6

let probed: boolean | undefined

/** Whether the addon loads and the kernel answers a sock_diag request (asked once). */
export function netlinkAvailable(): boolean {
  if (probed !== undefined) return probed
  const { addon } = nativeAddon()
  try {
    // Connected IPv4 UDP sockets on port 0: none, and the UDP table is the cheapest to walk
    // (a TCP dump walks every listener, 20 ms at 100k sockets).
    probed = addon !== null && Buffer.isBuffer(addon.dumpSockets(0, 1 << 1, 1, 0, 0))
  } catch {
    probed = false
  }
  return probed
}

/**
 * The socket tables from NETLINK_SOCK_DIAG dumps: the same rows as /proc/net/*, with the state
 * filter and (for port questions) the port range done by the kernel. A listing takes the CLI
 * entry's early dump when there is one (prefetchListing).
 */
export async function readTablesNetlink(
  options: ListSocketsOptions,
  nsPath?: string,
): Promise<RawSocket[]> {
  const addon = requireAddon()
  if (nsPath !== undefined && !addon.enterNamespaces)
    throw new PortwardenError(
      'backend_unavailable',
      'This build of the native addon cannot enter another network namespace.',
      { hint: 'Rebuild it with `npm rebuild portwarden`, or use --backend proc.' },
    )
  const raw: RawSocket[] = []
  const decoder = new RecordDecoder(addon.recordSize)
  const specs = options.ports
  if (!specs) {
    const records =
      nsPath === undefined
        ? await dumpListingAsync(options)
        : dump(addon, ...listingRequest(options), -1, -1, nsPath)
    decoder.decode(records, raw)
    return raw
  }
  const protocols = options.protocols ?? ['tcp', 'udp']
  // One dump per spec, filtered by the kernel; a socket that several specs contain is kept
  // from the first of them only.
  specs.forEach((spec, index) => {
    if (!protocols.includes(spec.protocol)) return
    const records = dump(
      addon,
      ...stateMasks(options, [spec.protocol]),
      familyMask(options),
      spec.from,
      spec.to,
      nsPath,
    )
    const earlier = specs.slice(0, index)
    decoder.decode(records, raw, (protocol, port) =>
      earlier.every((other) => !specContains(other, protocol, port)),
    )
  })
  return raw
}

let prefetched: { request: string; records: Promise<Buffer> } | null = null

/**
 * Starts the listing's dump now, on a pool thread, for the next `dumpListingAsync` with the
 * same options to take: the CLI's entry calls it for a plain `list`, so the kernel walks its
 * tables while Node compiles the rest of the CLI. Without the addon it does nothing.
 * Resolves when the early dump is done (never rejects: `dumpListingAsync` dumps again).
 */
export function prefetchListing(options: ListSocketsOptions): Promise<void> {
  const { addon } = nativeAddon()
  if (!addon) return Promise.resolve()
  const request = listingRequest(options)
  const records = addon.dumpSocketsAsync(...request, -1, -1)
  prefetched = { request: request.join(), records }
  return records.then(
    () => {},
    () => {},
  )
}

/** `dumpListing`, from the prefetched dump when there is one for these options. */
export async function dumpListingAsync(
  options: ListSocketsOptions,
  /** The caller's last dump, returned itself when the tables have not changed (never change it). */
  previous?: Buffer,
): Promise<Buffer> {
  const early = prefetched
  prefetched = null
  if (early && early.request === listingRequest(options).join()) {
    try {
      return await early.records
    } catch {
      // dumped again below, where an error becomes a sentence
    }
  }
  // On a pool thread: the server's watcher polls while answers are being written, and a 10k
  // socket dump would hold the event loop for milliseconds.
  const addon = requireAddon()
  const request = listingRequest(options)
  try {
    return await addon.dumpSocketsAsync(...request, -1, -1, undefined, previous)
  } catch (error) {
    throw dumpError(error, request[0], request[1], -1, -1)
  }
}

/** The dump's state masks and family mask for a listing. */
function listingRequest(options: ListSocketsOptions): [number, number, number] {
  return [...stateMasks(options, options.protocols ?? ['tcp', 'udp']), familyMask(options)]
}

function stateMasks(options: ListSocketsOptions, wanted: readonly Protocol[]): [number, number] {
  const all = options.all === true
  const bound = options.boundInactive === true ? TCP_BOUND_INACTIVE : 0
  return [
    wanted.includes('tcp') ? (all ? ALL_STATES : TCP_LISTEN) | bound : 0,
    wanted.includes('udp') ? (all ? ALL_STATES : UDP_UNCONN) : 0,
  ]
}

function familyMask(options: ListSocketsOptions): number {
  const families = options.families ?? ['ipv4', 'ipv6']
  return (families.includes('ipv4') ? 1 : 0) | (families.includes('ipv6') ? 2 : 0)
}

function requireAddon(): NativeAddon {
  const { addon, reason } = nativeAddon()
  if (!addon) {
    throw new PortwardenError(
      'backend_unavailable',
      `The netlink backend is unavailable: ${reason}.`,
      {
        hint: 'Build it with `npm rebuild portwarden` (needs a C compiler), or use --backend proc.',
      },
    )
  }
  return addon
}

function dump(
  addon: NativeAddon,
  tcpStates: number,
  udpStates: number,
  families: number,
  from: number,
  to: number,
  nsPath?: string,
): Buffer {
  try {
    return addon.dumpSockets(tcpStates, udpStates, families, from, to, nsPath)
  } catch (error) {
    throw dumpError(error, tcpStates, udpStates, from, to)
  }
}

/** A failed dump as a sentence: the addon's message names its own entry point; only the kernel's reason is for people. */
function dumpError(
  error: unknown,
  tcpStates: number,
  udpStates: number,
  from: number,
  to: number,
): PortwardenError {
  const text = error instanceof Error ? error.message : String(error)
  const why = /^[\w ]+: (.+)$/.exec(text)?.[1]
  const protocols = [tcpStates ? 'TCP' : null, udpStates ? 'UDP' : null].filter(Boolean)
  const ports = from < 0 ? '' : from === to ? ` on port ${from}` : ` on ports ${from}-${to}`
  const asked = `its ${protocols.join(' and ') || 'no'} sockets${ports}`
  return new PortwardenError(
    'backend_unavailable',
    why
      ? `The kernel refused to list ${asked} through netlink (sock_diag): ${why}.`
      : `The kernel could not be asked for ${asked} through netlink (sock_diag).`,
    { hint: 'Use --backend proc (the /proc/net tables) instead.', cause: error },
  )
}

/** The rows of a dump's records (the watcher's polls; the tests of the addon's own renderer). */
export function decodeRecords(
  records: Buffer,
  recordSize: number = requireAddon().recordSize,
): RawSocket[] {
  const raw: RawSocket[] = []
  new RecordDecoder(recordSize).decode(records, raw)
  return raw
}

/** A row's holders until they are looked up: replaced, never added to. */
const NO_HOLDERS: readonly never[] = Object.freeze([])

/** Turns records into rows; addresses are formatted once per distinct address. */
class RecordDecoder {
  private readonly ipv4 = new Map<number, string>()
  /** Keyed by the 16 bytes as latin1 text: a short string is cheaper than formatting again. */
  private readonly ipv6 = new Map<string, string>()
  private readonly size: number

  constructor(recordSize: number) {
    this.size = recordSize
  }

  decode(
    records: Buffer,
    out: RawSocket[],
    keep?: (protocol: Protocol, port: number) => boolean,
  ): void {
    const size = this.size
    for (let offset = 0; offset + size <= records.length; offset += size) {
      const protocol: Protocol = records[offset] === IPPROTO_TCP ? 'tcp' : 'udp'
      const family: Family = records[offset + 1] === AF_INET ? 'ipv4' : 'ipv6'
      const localPort = records.readUInt16LE(offset + 4)
      if (keep && !keep(protocol, localPort)) continue
      out.push({
        protocol,
        family,
        state: stateName(protocol, records[offset + 2] as number),
        localAddress: this.address(records, offset + 16, family),
        localPort,
        remoteAddress: this.address(records, offset + 32, family),
        remotePort: records.readUInt16LE(offset + 6),
        inode: records.readUInt32LE(offset + 12),
        uid: records.readUInt32LE(offset + 8),
        // Filled in later (withHolders), but made here: fields added to an object later go to a
        // second allocation per object (~3 MiB of a 100k-socket snapshot).
        user: '',
        processes: NO_HOLDERS,
      } as RawSocket)
    }
  }

  private address(records: Buffer, offset: number, family: Family): string {
    if (family === 'ipv6') {
      const key = records.toString('latin1', offset, offset + 16)
      let text = this.ipv6.get(key)
      if (text === undefined) {
        text = formatIPv6Bytes(records.subarray(offset, offset + 16))
        this.ipv6.set(key, text)
      }
      return text
    }
    const key = records.readUInt32BE(offset)
    let text = this.ipv4.get(key)
    if (text === undefined) {
      text = `${key >>> 24}.${(key >>> 16) & 255}.${(key >>> 8) & 255}.${key & 255}`
      this.ipv4.set(key, text)
    }
    return text
  }
}

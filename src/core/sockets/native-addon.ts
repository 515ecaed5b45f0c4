import { endianness } from 'node:os'
import nodeGypBuild from 'node-gyp-build'
import { PACKAGE_ROOT } from '../package-root.js'

/**
 * How the addon finds which process holds which socket: `bpf` (a BPF task_file iterator: every
 * process in one pass inside the kernel; root only), or the /proc/<pid>/fd walk by `readlink` or
 * by `stat` (fstatat's st_ino); `auto` is BPF when allowed, else readlink.
 */
export type FdScanMethod = 'auto' | 'bpf' | 'readlink' | 'stat'

/** (inode, pid) pairs sorted by inode then pid, and the pids whose fd table was refused. */
export interface FdScanResult {
  pairs: Uint32Array
  unreadable: Uint32Array
  /** The method used. */
  method: Exclude<FdScanMethod, 'auto'>
  /** Under `auto`, why the BPF iterator was not used (empty when it was). */
  bpfRefusal: string
  /** With `withDetails`: each holder's stat, cmdline and owner (see parseProcessDetails). */
  details: Buffer
}

/** A sock_diag request: state masks, families (bit 0 IPv4, bit 1 IPv6), a port range or -1s. */
type DumpRequest = [
  tcpStates: number,
  udpStates: number,
  families: number,
  portFrom: number,
  portTo: number,
  /** An nsfs file (`/run/netns/NAME`, `/proc/PID/ns/net`): that network namespace's tables. */
  nsPath?: string,
  /**
   * The caller's last dump: when the new one has the same bytes, this very Buffer is returned
   * (nothing is allocated). It is read off the main thread: never change it. Older builds
   * ignore it.
   */
  previous?: Buffer,
]

/** Who holds which socket: pids (null: every process), sorted inodes (empty: every socket). */
type ScanRequest = [
  pids: Uint32Array | null,
  sortedInodes: Uint32Array,
  procRoot: string,
  method: FdScanMethod,
  threads: number,
  withDetails?: boolean,
]

/** The optional C addon in native/ (see native/records.h for the record layout). */
export interface NativeAddon {
  /** Fixed-size records of `recordSize` bytes; throws `ERRNO_<n>` errors. */
  dumpSockets(...request: DumpRequest): Buffer
  /** The same dump on a libuv pool thread. */
  dumpSocketsAsync(...request: DumpRequest): Promise<Buffer>
  scanSocketFds(...request: ScanRequest): FdScanResult
  /** The same scan off the main thread (every process listed there too). */
  scanSocketFdsAsync(...request: ScanRequest): Promise<FdScanResult>
  /** `list --json` from records and pairs (native/render_json.c); keys ascending. */
  renderSocketsJson(
    records: Buffer,
    pairs: Uint32Array,
    holderPids: Uint32Array,
    holderJson: string[],
    uids: Uint32Array,
    userJson: string[],
  ): { json: Buffer; hidden: number }
  recordSize: number
  /** glibc's malloc_trim(0): hands free heap pages back to the kernel; false elsewhere. Absent in older builds. */
  trimMemory?(): boolean
  /** The dumps and link dump take an nsPath (native/netns.c); absent in older builds, which ignore it. */
  enterNamespaces?: boolean
  /**
   * UDP tunnel devices from one RTM_GETLINK dump (native/link_dump.c), WireGuard listen ports and
   * `ip fou` ports (kind `fou`/`gue`, name "", id: the protocol carried) from generic netlink
   * (native/genl_ports.c); absent in older builds.
   */
  listUdpTunnels?(
    nsPath?: string,
  ): { name: string; kind: string; port: number | null; id: number | null }[]
}

let loaded: { addon: NativeAddon | null; reason: string; deliberate?: boolean } | undefined

/**
 * Why this process went without the addon it looked for, or null: it has not looked, the addon
 * loaded, or it was turned off on purpose (PORTWARDEN_NO_NATIVE=1, or a platform without it).
 */
export function missingAddonReason(): string | null {
  return loaded && loaded.addon === null && !loaded.deliberate ? loaded.reason : null
}

/**
 * The addon, or null (with the reason) when it is not built, cannot load, or
 * `PORTWARDEN_NO_NATIVE=1` turns it off. Loaded once per process.
 */
export function nativeAddon(): { addon: NativeAddon | null; reason: string } {
  if (loaded) return loaded
  if (process.env.PORTWARDEN_NO_NATIVE === '1') {
    loaded = { addon: null, reason: 'PORTWARDEN_NO_NATIVE=1', deliberate: true }
  } else if (process.platform !== 'linux' || endianness() !== 'LE') {
    // The records are read as little-endian; big-endian Linux keeps the /proc backend.
    loaded = { addon: null, reason: 'not little-endian Linux', deliberate: true }
  } else {
    loaded = loadAddon()
  }
  return loaded
}

/** The addon file node-gyp-build picks, dlopened: native/build/Release (built from source at
 * install, or in a checkout) before the shipped native/prebuilds/<platform>-<arch>/ one. */
function loadAddon(): { addon: NativeAddon | null; reason: string } {
  let file: string
  try {
    file = nodeGypBuild.resolve(`${PACKAGE_ROOT}native`)
  } catch {
    return { addon: null, reason: 'the native addon is not built' }
  }
  try {
    // dlopen itself: require() would look for package.json files on the way (start-up time).
    const module = { exports: {} }
    process.dlopen(module, file)
    return { addon: module.exports as NativeAddon, reason: '' }
  } catch (error) {
    return { addon: null, reason: String(error) }
  }
}

/**
 * Hands the C allocator's free pages back to the kernel (glibc's malloc_trim, through the
 * addon): true when some were. False without the addon, off glibc, or with an older build.
 */
export function releaseFreeMemory(): boolean {
  return nativeAddon().addon?.trimMemory?.() ?? false
}

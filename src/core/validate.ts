/**
 * The library's argument checks: every function the package exports (src/core/index.ts) runs its
 * arguments through these first, so a caller's mistake is a `PortwardenError('invalid_request')`
 * saying what is accepted, never a TypeError from deep inside, a hang, or a wrong answer (port 0
 * "free", protocol "sctp" "free"). Front ends validate their own input (argv, HTTP bodies) before
 * calling the core by its modules, so these run once, at the package's edge.
 *
 * Data the library hands out (a PortCheck, a FreePlan, ...) is accepted back as it was handed
 * out: extra keys are ignored, every field a function reads is checked.
 * @module
 */
import { parseHost } from './addresses.js'
import { PortwardenError } from './errors.js'
import { FREE_SIGNALS, MAX_DURATION_MS } from './free/options.js'
import { isValidPid } from './process/identity.js'
import { TrackedTree } from './process/tree.js'
import { validateName, validatePort } from './registry/names.js'
import { showValue } from '../shared/safe-text.js'
import { SOCKET_STATES } from './types.js'
import type { PortCheck } from './check-port.js'
import type { ContainerRole } from './containers/roles.js'
import type { DoctorSection, DoctorStatus } from './doctor.js'
import type { FreeOutcome, PortStatus, TargetOutcome } from './free/execute-free.js'
import type { RefusalCode } from './free/plan-free.js'
import type { PreflightReason } from './preflight.js'
import type { ConflictKind } from './registry/conflicts.js'
import type { HealthStatus } from './registry/types.js'
import type { PortConflict } from './run/port-conflicts.js'
import type { SocketState, WarningCode } from './types.js'

/** Checks one value; `name` says where it is (`port`, `options.timeoutMs`, `plan.ports[0]`). */
export type Check = (value: unknown, name: string) => void

/** `Invalid NAME VALUE: ACCEPTED.` (`Missing NAME: ...` for undefined). */
export function invalid(name: string, value: unknown, accepted: string): PortwardenError {
  const shown = showValue(value)
  const what =
    value === undefined
      ? `Missing ${name}`
      : (typeof value === 'object' && value !== null) ||
          typeof value === 'function' ||
          typeof value === 'symbol'
        ? `Invalid ${name} (${shown})` // `an object`, `an empty array`: a description, not a value
        : `Invalid ${name} ${shown}`
  return new PortwardenError('invalid_request', `${what}: ${accepted}.`, {
    details: { field: name },
  })
}

/** Anything goes (a function whose domain is every value, like `isValidPid`). */
export const anything: Check = () => {}

export function optional(check: Check): Check {
  return (value, name) => {
    if (value !== undefined) check(value, name)
  }
}

export function nullable(check: Check): Check {
  return (value, name) => {
    if (value !== null) check(value, name)
  }
}

/** A check from a test and the sentence saying what passes it. */
export function satisfies(test: (value: unknown) => boolean, accepted: string): Check {
  return (value, name) => {
    if (!test(value)) throw invalid(name, value, accepted)
  }
}

export const string = satisfies((v) => typeof v === 'string', 'a string is expected')
export const nonEmptyString = satisfies(
  (v) => typeof v === 'string' && v !== '',
  'a non-empty string is expected',
)
export const boolean = satisfies((v) => typeof v === 'boolean', 'true or false is expected')
export const func = satisfies((v) => typeof v === 'function', 'a function is expected')
export const abortSignal = satisfies(
  (v) => v instanceof AbortSignal,
  'an AbortSignal is expected (from an AbortController)',
)
export const trackedTree = satisfies(
  (v) => v instanceof TrackedTree,
  'a TrackedTree (the record of a process tree) is expected',
)
export const thenable = satisfies(
  (v) =>
    typeof v === 'object' && v !== null && typeof (v as { then?: unknown }).then === 'function',
  'a promise is expected',
)
/** A file system path: a string without NUL characters (which no path may hold). */
export const path = satisfies(
  (v) => typeof v === 'string' && v !== '' && !v.includes('\0'),
  'a path is a non-empty string without NUL characters',
)

export function oneOf(values: readonly unknown[], accepted?: string): Check {
  const list = values.map((v) => JSON.stringify(v))
  const words =
    accepted ??
    `accepted: ${list.length <= 2 ? list.join(' or ') : `${list.slice(0, -1).join(', ')} or ${list.at(-1)}`}`
  return satisfies((v) => values.includes(v), words)
}

export function wholeNumber(min: number, max: number, accepted: string): Check {
  return satisfies(
    (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max,
    accepted,
  )
}

export const port: Check = (value, at) => validatePort(value, at)
/** A socket's port: 0 stands for "any" (an unconnected socket's remote end). */
export const socketPort = wholeNumber(0, 65535, 'a socket port is a whole number from 0 to 65535')
export const pid = satisfies(isValidPid, 'a process id is a whole number from 1 up')
export const uid = wholeNumber(0, 2 ** 32 - 1, 'a uid is a whole number from 0 to 4294967295')
export const count = wholeNumber(0, Number.MAX_SAFE_INTEGER, 'a count is a whole number from 0 up')
export const protocol = oneOf(['tcp', 'udp'], 'the protocol is "tcp" or "udp"')
export const family = oneOf(['ipv4', 'ipv6'], 'the family is "ipv4" or "ipv6"')
export const backend = oneOf(
  ['auto', 'netlink', 'proc', 'lsof'],
  'the backend is "auto", "netlink", "proc" or "lsof"',
)
export const signal = oneOf(
  FREE_SIGNALS,
  `the signal is one of ${FREE_SIGNALS.join(', ')} (the SIG prefix included)`,
)
/** A timeout or wait in milliseconds, as `parseDuration` bounds them. */
export const duration = satisfies(
  (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_DURATION_MS,
  `a duration is a number of milliseconds from 0 to ${MAX_DURATION_MS} (1 h)`,
)
/** Milliseconds since the start of something: any finite number from 0 up. */
export const elapsed = satisfies(
  (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
  'elapsed time is a number of milliseconds from 0 up',
)
/** Addresses already found valid: a listing of 100k sockets has a few distinct ones. */
const validAddresses = new Set<string>()
/** An IP address as the socket tables print it (`127.0.0.1`, `::1`, `::ffff:10.0.0.1`). */
export const ipAddress = satisfies((v) => {
  if (typeof v !== 'string') return false
  if (validAddresses.has(v)) return true
  if (v === 'localhost' || parseHost(v) === null) return false
  if (validAddresses.size >= 4096) validAddresses.clear()
  validAddresses.add(v)
  return true
}, 'an IPv4 or IPv6 address is expected, such as 127.0.0.1 or ::1')
/** Where to bind or connect: an IP address or `localhost` (no name lookups). */
export const host = satisfies(
  (v) => typeof v === 'string' && parseHost(v) !== null,
  'a host is an IPv4 or IPv6 address such as 127.0.0.1 or ::1, or localhost',
)
const HOST_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/
/** Where a probe connects: an IP address or a host name (`db`, `db.internal`). */
export const hostOrName = satisfies(
  (v) => typeof v === 'string' && (parseHost(v) !== null || HOST_NAME.test(v)),
  'a host is an IP address such as 127.0.0.1 or ::1, or a host name such as db.internal',
)
/** A project or service name, by the registry's rules. */
export function name(kind: 'project' | 'service'): Check {
  return (value, at) => {
    if (typeof value !== 'string') throw invalid(at, value, `a ${kind} name is a string`)
    validateName(kind, value)
  }
}
/** An environment: string values (undefined for an unset variable), like `process.env`. */
export const environment = satisfies(
  (v) =>
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.values(v).every((x) => typeof x === 'string' || x === undefined),
  'an environment is an object of strings, like process.env',
)

/** An array, every element checked. */
export function arrayOf(check: Check): Check {
  return (value, at) => {
    if (!Array.isArray(value)) throw invalid(at, value, 'an array is expected')
    for (let i = 0; i < value.length; i++) check(value[i], `${at}[${i}]`)
  }
}

/**
 * An object with these fields (an `optional(...)` one may be absent); other keys are ignored.
 * `noun` names it in the sentence: `a socket entry`.
 */
export function record(noun: string, fields: Record<string, Check>): Check {
  const keys = Object.keys(fields)
  return (value, at) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value))
      throw invalid(at, value, `expected ${noun}, an object with ${keys.join(', ')}`)
    const object = value as Record<string, unknown>
    for (const key of keys) (fields[key] as Check)(object[key], `${at}.${key}`)
  }
}

/** One of several shapes, told apart by `field` (e.g. `kind`). */
export function tagged(noun: string, field: string, shapes: Record<string, Check>): Check {
  const tags = Object.keys(shapes)
  return (value, at) => {
    const tag = typeof value === 'object' && value !== null ? Reflect.get(value, field) : undefined
    const shape = typeof tag === 'string' && Object.hasOwn(shapes, tag) ? shapes[tag] : undefined
    if (!shape)
      throw invalid(at, value, `expected ${noun}, an object whose ${field} is ${tags.join(', ')}`)
    shape(value, at)
  }
}

/** `withKey` for an object that has `key`, else `without` (which also says what is missing). */
export function byKey(key: string, withKey: Check, without: Check): Check {
  return (value, at) =>
    (typeof value === 'object' && value !== null && key in value ? withKey : without)(value, at)
}

/**
 * Lists every member of a string union, checked by the compiler both ways: a member missing
 * from the list, or a value outside the union, does not compile.
 */
function every<T extends string>() {
  return <const V extends readonly T[]>(
    values: V & ([Exclude<T, V[number]>] extends [never] ? unknown : never),
  ): V => values
}

// ------------------------------------------------------------------ shapes the library returns

export const WARNING_CODES = every<WarningCode>()([
  'partial_visibility',
  'time_wait',
  'privileged_port',
  'ephemeral_range',
  'outside_range',
  'worktree_gone',
  'namespace_unreadable',
])
const STATES = every<SocketState>()([...SOCKET_STATES, 'UNKNOWN'])

export const warning = record('a warning', {
  code: oneOf(WARNING_CODES),
  message: string,
})
const warnings = arrayOf(warning)

export const portSpec: Check = (value, at) => {
  record('a port spec', { from: port, to: port, protocol })(value, at)
  const spec = value as { from: number; to: number }
  if (spec.to < spec.from)
    throw invalid(`${at}.to`, spec.to, `a range ends at or above its start (${spec.from})`)
}
export const portSpecs = arrayOf(portSpec)

export const portRange: Check = (value, at) => {
  record('a port range', { from: port, to: port })(value, at)
  const range = value as { from: number; to: number }
  if (range.to < range.from)
    throw invalid(`${at}.to`, range.to, `a range ends at or above its start (${range.from})`)
}

export const portKey = record('a port', { port, protocol })

/** A holder; `holderPid` checks its pid. */
function holderShape(holderPid: Check): Check {
  return record('a holder', {
    pid: holderPid,
    name: string,
    command: string,
    user: string,
    uid,
    startedAt: nullable(string),
    startTicks: nullable(count),
    container: nullable(string),
    dockerContainer: optional(
      record('a named container', { name: string, id: string, address: nullable(string) }),
    ),
  })
}

function socketShape(holderPid: Check): Check {
  return record('a socket entry', {
    protocol,
    family,
    state: oneOf(STATES),
    localAddress: ipAddress,
    localPort: socketPort,
    remoteAddress: ipAddress,
    remotePort: socketPort,
    inode: count,
    uid,
    user: string,
    processes: arrayOf(holderShape(holderPid)),
    netns: optional(
      record('a network namespace', {
        inode: count,
        name: nullable(string),
        containerId: nullable(string),
        host: boolean,
      }),
    ),
  })
}

export const holder = holderShape(pid)
export const socketEntry = socketShape(pid)
/**
 * What `free` plans from, and what its plans and reports carry: a holder table may be crafted
 * or broken, so a pid there may be anything. The safety rules refuse such a pid (`invalid_pid`)
 * before any signal; refusing the whole table instead would hide that answer.
 */
const tablePid = anything
const tableSockets = arrayOf(socketShape(tablePid))
export const socketEntries = arrayOf(socketEntry)
/** A listing made already (`listSockets`' answer, or its sockets and warnings). */
export const socketScan = record('a socket scan', {
  sockets: socketEntries,
  warnings: optional(warnings),
})

export const portPublisher = record('a port publisher', {
  port,
  protocol,
  container: nullable(record('a container', { name: string, id: string })),
  target: nullable(string),
  rule: nullable(string),
  ruleTable: nullable(oneOf(['iptables', 'ip6tables'])),
})
const publishers = arrayOf(portPublisher)

export const probeResult = record('a bind test result', {
  host: string,
  ipv6Only: optional(boolean),
  outcome: string,
})

const otherProtocolHolders = record("the other protocol's holders", {
  protocol,
  sockets: socketEntries,
})

export const portCheck = record('a port check', {
  port,
  protocol,
  free: boolean,
  holders: socketEntries,
  reason: nullable(
    oneOf(every<NonNullable<PortCheck['reason']>>()(['in_use', 'bind_failed', 'published'])),
  ),
  publishers,
  warnings,
  probes: arrayOf(probeResult),
  otherProtocol: optional(nullable(otherProtocolHolders)),
})

export const portHolders = record('a port holders entry', {
  port,
  protocol,
  sockets: socketEntries,
  connections: count,
  heldOutOfSight: boolean,
  publishers,
  otherProtocol: optional(nullable(otherProtocolHolders)),
})
/** `portHolders` as `free` plans from it: the publishers may be left out, a pid may be anything. */
export const holderTableEntry = record('a port holders entry', {
  port,
  protocol,
  sockets: tableSockets,
  connections: count,
  heldOutOfSight: boolean,
  publishers: optional(publishers),
})

const http = record('an HTTP health check', {
  path: string,
  expect: optional(wholeNumber(100, 599, 'an HTTP status is a whole number from 100 to 599')),
})
const plain = record('a health check', {})
export const healthCheck = tagged('a health check', 'kind', {
  tcp: plain,
  http,
  https: http,
  postgres: plain,
  redis: plain,
})

export const allocation = record('an allocation', {
  id: count,
  host: string,
  project: string,
  service: string,
  protocol,
  port,
  createdAt: string,
  healthStatus: oneOf(every<HealthStatus>()(['unknown', 'healthy', 'unhealthy', 'not_running'])),
  lastCheckedAt: nullable(string),
  healthDetail: nullable(string),
  healthCheck: nullable(healthCheck),
  pid: nullable(pid),
  worktree: nullable(string),
})

export const allocationClaim = record('an allocation claim', {
  project: string,
  service: string,
  protocol,
  port,
  source: string,
  pid: nullable(pid),
  worktree: nullable(string),
})

export const conflict = record('a conflict', {
  kind: oneOf(
    every<ConflictKind>()(['registry_conflict', 'system_conflict', 'allocation_mismatch']),
  ),
  protocol,
  port,
  claims: arrayOf(allocationClaim),
  holders: socketEntries,
  message: string,
  resolution: string,
})

/** What `free` records of a process: `readIdentity`'s answer; `identityPid` checks its pid. */
function identityShape(identityPid: Check): Check {
  return record('a process identity', {
    pid: identityPid,
    startTicks: count,
    uid,
    euid: uid,
    comm: string,
    exe: nullable(string),
    tgid: identityPid,
  })
}
export const processIdentity = identityShape(pid)
/** The identity `signalVerified` is asked to signal: an unsafe pid is refused, not an error. */
export const signalTarget = identityShape(tablePid)

/** What `run` records of a process: pid and start time. */
export const processStart = record('a process identity', { pid, startTicks: count })

export const refusal = record('a refusal', {
  code: oneOf(
    every<RefusalCode>()([
      'invalid_pid',
      'init',
      'self',
      'ancestor',
      'thread',
      'systemd_socket',
      'container_proxy',
      'container_runtime',
      'published',
      'not_visible',
      'kernel_held',
      'out_of_sight',
      'gone',
      'changed',
    ]),
  ),
  message: string,
  suggestion: nullable(string),
  command: nullable(string),
  permission: boolean,
})

/** A holder's stale evidence and verdict (`src/core/stale/`), as a free plan may carry it. */
export const holderJudgement = record('a holder judgement', {
  pid: tablePid,
  verdict: oneOf(['stale', 'maybe stale', 'in use']),
  reasons: arrayOf(
    record('a reason', { sign: string, weight: oneOf(['strong', 'weak']), text: string }),
  ),
  evidence: record('the evidence', {
    orphaned: nullable(
      record('an orphan sign', {
        parentPid: count,
        parentName: string,
        launcher: nullable(record('a launcher', { pid: count, name: string })),
      }),
    ),
    cwd: nullable(string),
    cwdDeleted: boolean,
    exe: nullable(oneOf(['deleted', 'replaced'])),
    worktree: nullable(
      record('a worktree sign', {
        path: string,
        name: string,
        exists: boolean,
        listed: nullable(boolean),
      }),
    ),
    registry: nullable(
      record('a registry sign', {
        project: string,
        service: string,
        kind: oneOf(['other_project', 'other_pid']),
        pid: nullable(count),
      }),
    ),
    connections: record('the connections', {
      established: count,
      idleMs: nullable(count),
      idleMeasured: boolean,
    }),
    httpStatus: nullable(count),
    duplicate: nullable(record('a duplicate', { pid: count, port: count })),
    ageMs: nullable(count),
  }),
})

export const freeTarget = record('a free target', {
  holder: holderShape(tablePid),
  ports: arrayOf(portKey),
  identity: nullable(signalTarget),
  refusal: nullable(refusal),
  container: nullable(
    record('a container', {
      role: oneOf(every<ContainerRole>()(['proxy', 'runtime'])),
      proxy: string,
      address: nullable(string),
      name: nullable(string),
      id: nullable(string),
      lookupError: nullable(string),
    }),
  ),
  caveats: arrayOf(string),
  judgement: optional(nullable(holderJudgement)),
})

export const freePlan = record('a free plan', {
  specs: portSpecs,
  signal,
  waitMs: duration,
  killAfterMs: nullable(duration),
  ports: arrayOf(
    record('a port plan', {
      port,
      protocol,
      held: boolean,
      sockets: tableSockets,
      connections: count,
      heldOutOfSight: boolean,
      pids: arrayOf(tablePid),
      blockers: arrayOf(refusal),
      publishers,
    }),
  ),
  targets: arrayOf(freeTarget),
  warnings,
  backend,
  procRoot: path,
})

export const targetReport = record('a target report', {
  target: freeTarget,
  outcome: oneOf(
    every<TargetOutcome>()([
      'exited',
      'released',
      'survived',
      'refused',
      'declined',
      'gone',
      'changed',
      'permission_denied',
      'failed',
    ]),
  ),
  signals: arrayOf(record('a signal record', { signal, at: string, elapsedMs: elapsed })),
  message: string,
})

export const freeReport = record('a free report', {
  plan: freePlan,
  outcome: oneOf(
    every<FreeOutcome>()(['freed', 'not_freed', 'nothing_to_free', 'permission_denied']),
  ),
  ports: arrayOf(
    record('a port report', {
      port,
      protocol,
      status: oneOf(every<PortStatus>()(['freed', 'still_held', 'nothing_to_free'])),
      holders: socketEntries,
      heldOutOfSight: boolean,
      message: string,
      refusals: arrayOf(refusal),
    }),
  ),
  targets: arrayOf(targetReport),
  elapsedMs: elapsed,
})

export const dockerContainer = record('a Docker container', {
  id: string,
  name: string,
  ports: arrayOf(
    record('a published port', {
      ip: nullable(string),
      privatePort: socketPort,
      publicPort: nullable(socketPort),
      protocol: string,
    }),
  ),
  addresses: arrayOf(string),
})

export const runPort = record('a run port', { name: nullable(string), protocol, port })
export const runPorts = arrayOf(runPort)

export const portConflict = record('a port conflict', {
  port,
  protocol,
  reason: oneOf(every<PortConflict['reason']>()(['in_use', 'bind_failed', 'allocated'])),
  owners: arrayOf(string),
  holders: socketEntries,
  allocation: nullable(allocation),
})

export const manifestPort = tagged('a manifest port', 'kind', {
  spec: record('a manifest port', { spec: portSpec, text: string }),
  auto: record('a manifest port', { protocol, text: string }),
})

export const manifestService = record('a manifest service', {
  name: string,
  ports: arrayOf(manifestPort),
  command: nullable(string),
  health: nullable(healthCheck),
  dependsOn: arrayOf(string),
})

export const manifest = record('a manifest', {
  path,
  directory: path,
  project: string,
  services: arrayOf(manifestService),
})

export const preflightPort = record('a preflight port', {
  service: nullable(string),
  name: nullable(string),
  declared: manifestPort,
  protocol,
  port: nullable(port),
  range: nullable(portRange),
  ok: boolean,
  reason: nullable(
    oneOf(
      every<PreflightReason>()([
        'in_use',
        'bind_failed',
        'published',
        'port_allocated',
        'range_exhausted',
      ]),
    ),
  ),
  message: string,
  holders: socketEntries,
  publishers,
  heldByProject: boolean,
  allocation: nullable(allocation),
  fix: nullable(string),
  suggestedPort: nullable(port),
  container: nullable(string),
  check: nullable(portCheck),
  warnings,
})

export const preflightResult = record('a preflight result', {
  manifest: nullable(manifest),
  project: string,
  registry: nullable(string),
  ok: boolean,
  ports: arrayOf(preflightPort),
  warnings,
})

const doctorStatus = oneOf(every<DoctorStatus>()(['pass', 'warn', 'fail']))
export const doctorReport = record('a doctor report', {
  manifest: nullable(manifest),
  project: string,
  registry: string,
  checks: arrayOf(
    record('a doctor check', {
      section: oneOf(every<DoctorSection>()(['manifest', 'ports', 'registry', 'health'])),
      status: doctorStatus,
      subject: string,
      message: string,
      fix: nullable(string),
      port: optional(preflightPort),
    }),
  ),
  preflight: nullable(preflightResult),
  summary: record('a summary', { pass: count, warn: count, fail: count }),
  environmentFailed: boolean,
  warnings,
})

/**
 * A registry as `openRegistry` opens it, or any object with its `location` and the methods the
 * function calls: `list`, and those in `uses`.
 */
export function store(...uses: ('write' | 'takenPorts' | 'remove' | 'recordHealth')[]): Check {
  const methods = Object.fromEntries(['list', ...uses].map((method) => [method, func]))
  return record('a registry store', { location: string, ...methods })
}

// ------------------------------------------------------------------------------ options

/** No options, or an object of them. */
export function options(fields: Record<string, Check>): Check {
  return optional(record('options', fields))
}

const procRoot = optional(path)
const publisherOptions = {
  dockerSocket: optional(path),
  dockerTimeoutMs: optional(duration),
  natRules: optional(boolean),
}

export const listOptions = options({
  all: optional(boolean),
  protocols: optional(arrayOf(protocol)),
  families: optional(arrayOf(family)),
  ports: optional(portSpecs),
  pid: optional(pid),
  processName: optional(string),
  boundInactive: optional(boolean),
  allNamespaces: optional(boolean),
  withProcesses: optional(boolean),
  backend: optional(backend),
  procRoot,
  containers: optional(boolean),
  dockerSocket: optional(path),
  dockerTimeoutMs: optional(duration),
})

export const checkOptions = options({
  host: optional(host),
  backend: optional(backend),
  procRoot,
  publishers: optional(boolean),
  otherProtocol: optional(boolean),
  otherNamespaces: optional(oneOf([true, false, 'every-port'])),
  ...publisherOptions,
})

export const whoOptions = options({
  backend: optional(backend),
  procRoot,
  publishers: optional(boolean),
  otherProtocol: optional(boolean),
  otherNamespaces: optional(boolean),
  allNamespaces: optional(boolean),
  ...publisherOptions,
})

export const freeOptions = options({
  signal: optional(signal),
  waitMs: optional(duration),
  killAfterMs: optional(nullable(duration)),
  backend: optional(backend),
  procRoot,
  dockerSocket: optional(path),
  dockerTimeoutMs: optional(duration),
  systemdUnitDirs: optional(arrayOf(path)),
})

export const watchOptions: Check = (value, at) => {
  options({
    ports: optional(portSpecs),
    protocols: optional(arrayOf(protocol)),
    families: optional(arrayOf(family)),
    intervalMs: optional(
      satisfies(
        (v) => typeof v === 'number' && v >= 10 && v <= MAX_DURATION_MS,
        `the watch interval is a number of milliseconds from 10 to ${MAX_DURATION_MS}`,
      ),
    ),
    backend: optional(backend),
    procRoot,
    fullRescanMs: optional(duration),
  })(value, at)
  const { intervalMs = 1000, fullRescanMs } = (value ?? {}) as Record<string, number | undefined>
  if (fullRescanMs !== undefined && fullRescanMs < intervalMs)
    throw invalid(
      `${at}.fullRescanMs`,
      fullRescanMs,
      `the full rescan interval is at least the watch interval (${intervalMs} ms)`,
    )
}

/** A parameter's name, as messages name it, and its check. */
export type Parameter = readonly [string, Check]

/** Checks `args` against `checks`, one per parameter (extra arguments are ignored). */
export function checkArguments(args: readonly unknown[], checks: readonly Parameter[]): void {
  checks.forEach(([parameter, check], index) => check(args[index], parameter))
}

type AnyFunction = (...args: never[]) => unknown

/** `fn` with its arguments checked first: a bad one throws `invalid_request`. */
export function guarded<F extends AnyFunction>(fn: F, checks: readonly Parameter[]): F {
  const wrapper = function (this: unknown, ...args: unknown[]) {
    checkArguments(args, checks)
    return (fn as unknown as (...args: unknown[]) => unknown).apply(this, args)
  }
  Object.defineProperty(wrapper, 'name', { value: fn.name })
  return wrapper as unknown as F
}

/** `guarded` for a function returning a promise: a bad argument rejects it, never throws. */
export function guardedAsync<F extends (...args: never[]) => Promise<unknown>>(
  fn: F,
  checks: readonly Parameter[],
): F {
  const wrapper = function (this: unknown, ...args: unknown[]) {
    try {
      checkArguments(args, checks)
    } catch (error) {
      return Promise.reject(error)
    }
    return (fn as unknown as (...args: unknown[]) => Promise<unknown>).apply(this, args)
  }
  Object.defineProperty(wrapper, 'name', { value: fn.name })
  return wrapper as unknown as F
}

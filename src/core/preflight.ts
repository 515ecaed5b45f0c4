/**
 * `preflight`: can every port a manifest declares (or a runbook lists: `preflight --port`) be
 * taken right now? One verdict per port, with who is in the way and a concrete fix (a free port
 * nearby, the `portwarden free` command, `docker stop` for a container's published port, or
 * releasing another project's allocation). Read-only: nothing is allocated, nothing is signalled.
 * @module
 */
import type { PortCheck } from './check-port.js'
import { checkPorts } from './check-port.js'
import { PortwardenError, isPortwardenError } from './errors.js'
import { ownAllocation, pickFromRange, portName, projectRoot } from './manifest/resolve-ports.js'
import { resolve } from 'node:path'
import type { Manifest, ManifestPort, ManifestService } from './manifest/types.js'
import { dependencyOrder } from './manifest/dependencies.js'
import { checkSentence, displayName, rootWouldSeeHolder, timeWaitCaveat } from './messages.js'
import type { PortSpec } from './port-spec.js'
import type { PortPublisher } from './containers/published-ports.js'
import { publisherFix } from './containers/published-ports.js'
import { containerRole, standsForContainer } from './containers/roles.js'
import { DEFAULT_ALLOCATION_RANGE } from './registry/allocator.js'
import { shellWord } from './registry/conflicts.js'
import { findFreePorts } from './registry/find-free.js'
import { defaultProject, findWorktreeRoot } from './registry/names.js'
import { judgeOwnership } from './registry/ownership.js'
import type { Allocation, RegistryStore } from './registry/types.js'
import type { BackendName } from './sockets/query.js'
import type { Holder, Protocol, SocketEntry, Warning } from './types.js'
import { toJsonAllocation, toJsonPublisher, toJsonSocket } from './wire.js'

/**
 * Why a declared port cannot be taken: `in_use` (a socket table names the holder),
 * `bind_failed` (only a bind test saw it), `port_allocated` (the registry gives it to another
 * project), `range_exhausted` (no port of a range is free).
 */
export type PreflightReason =
  'in_use' | 'bind_failed' | 'published' | 'port_allocated' | 'range_exhausted'

export interface PreflightPort {
  /** The service declaring it; null for a port given on its own (`preflight --port`). */
  service: string | null
  /** The registry name of this entry (`web`, `web-2`, ...; see `portName`); null without a service. */
  name: string | null
  declared: ManifestPort
  protocol: Protocol
  /**
   * The port judged: the declared port; for a range, the one `run` would take (null when none
   * is free); for `"auto"`, the allocated port (null when none is allocated yet).
   */
  port: number | null
  /** The declared range, or null for a single port or `"auto"`. */
  range: { from: number; to: number } | null
  ok: boolean
  reason: PreflightReason | null
  /** One sentence about the port, for --json and logs. */
  message: string
  /** The sockets in the way (for a full range, those of its ports). */
  holders: SocketEntry[]
  /** For `published`: the DNAT rules / containers that take the port's traffic. */
  publishers: PortPublisher[]
  /** Every holder runs from this project's directory or is its allocation's process (already running?). */
  heldByProject: boolean
  /** The registry row for this port: this project's own, or another project's (`port_allocated`). */
  allocation: Allocation | null
  /** What to do about a failure: commands and a free port, in one line. */
  fix: string | null
  /** A free port nearby that no other service declares, when the fix suggests one. */
  suggestedPort: number | null
  /** The container publishing the port, when a container proxy holds it. */
  container: string | null
  /** The check behind the verdict (null for an `"auto"` port not allocated yet). */
  check: PortCheck | null
  warnings: Warning[]
}

export interface PreflightResult {
  /** The manifest judged; null for ports given on their own (`preflightSpecs`). */
  manifest: Manifest | null
  project: string
  /** The registry consulted, or null when there was none. */
  registry: string | null
  ok: boolean
  ports: PreflightPort[]
  warnings: Warning[]
}

export interface ManifestPreflightOptions {
  /** The registry: allocations to other projects fail, `"auto"` ports are looked up. Null: none. */
  store?: RegistryStore | null
  /** Only these services and what they depend on (default: all). */
  services?: readonly string[]
  backend?: BackendName | 'auto'
  procRoot?: string
  /** Ask the Docker Engine API for a container's name (default true). */
  docker?: boolean
}

export interface PortsPreflightOptions extends Omit<ManifestPreflightOptions, 'services'> {
  /** Whose allocations in the registry are its own (default: the worktree's name, see `defaultProject`). */
  project?: string
  /** Where "this project" is: the git worktree holding it, if any (default: the current directory). */
  cwd?: string
}

/** Ranges larger than this are not scanned port by port to name holders when all are taken. */
const MAX_RANGE_SCAN = 256

interface Entry extends PreflightPort {
  spec: PortSpec | null
}

/** What the ports are judged for: the project, where it lives, and what it declares. */
interface Scope {
  manifest: Manifest | null
  project: string
  /** The directory whose processes count as the project's (see `projectRoot`); null: none. */
  root: string | null
  /** Every (protocol, port) declared, so that no fix suggests one of them. */
  declared: Set<string>
}

/** Judges every declared port of the manifest (or of `options.services`). */
export async function preflight(
  manifest: Manifest,
  options: ManifestPreflightOptions = {},
): Promise<PreflightResult> {
  const store = options.store ?? null
  const services = selectServices(manifest, options.services)
  const scope: Scope = {
    manifest,
    project: manifest.project,
    root: projectRoot(manifest),
    declared: declaredPorts(
      manifest.services.flatMap((s) => s.ports.flatMap((p) => (p.kind === 'spec' ? [p.spec] : []))),
    ),
  }
  const entries: Entry[] = []
  for (const service of services) {
    for (const [index, declared] of service.ports.entries()) {
      const name = portName(service.name, index)
      entries.push(await prepare(scope, service.name, name, declared, store, options))
    }
  }
  return judgeEntries(scope, entries, store, options)
}

/**
 * `preflight --port SPEC...`: the same verdicts and fixes for ports a runbook lists, without a
 * manifest. A range stands for one port from it, as in a manifest (`check` judges every port).
 */
export async function preflightSpecs(
  specs: readonly { spec: PortSpec; text: string }[],
  options: PortsPreflightOptions = {},
): Promise<PreflightResult> {
  const store = options.store ?? null
  const cwd = resolve(options.cwd ?? process.cwd())
  const scope: Scope = {
    manifest: null,
    project: options.project ?? defaultProject(cwd),
    // Only a git worktree says where a project is: any directory would claim too much.
    root: findWorktreeRoot(cwd),
    declared: declaredPorts(specs.map((s) => s.spec)),
  }
  const entries: Entry[] = []
  for (const { spec, text } of specs) {
    entries.push(await prepare(scope, null, null, { kind: 'spec', spec, text }, store, options))
  }
  return judgeEntries(scope, entries, store, options)
}

/** The verdict and fix of every prepared entry. */
async function judgeEntries(
  scope: Scope,
  entries: Entry[],
  store: RegistryStore | null,
  options: ManifestPreflightOptions,
): Promise<PreflightResult> {
  const toCheck = entries.filter((e) => e.port !== null)
  const checks = toCheck.length
    ? await checkPorts(
        toCheck.map((e) => ({
          from: e.port as number,
          to: e.port as number,
          protocol: e.protocol,
        })),
        { backend: options.backend, procRoot: options.procRoot },
      )
    : []
  const warnings: Warning[] = []
  toCheck.forEach((entry, i) => {
    const check = checks[i] as PortCheck
    entry.check = check
    entry.warnings.push(...check.warnings)
  })
  for (const entry of entries) {
    if (entry.reason === 'range_exhausted') await describeFullRange(entry, options)
    else judge(entry, scope.project)
  }
  for (const entry of entries) {
    entry.heldByProject = heldByProject(scope, entry, options.procRoot)
    warnings.push(...entry.warnings)
  }

  const suggested = new Set<string>()
  for (const entry of entries) {
    if (!entry.ok) await suggestFix(scope, entry, suggested, store, options)
  }
  return {
    manifest: scope.manifest,
    project: scope.project,
    registry: store?.location ?? null,
    ok: entries.every((e) => e.ok),
    ports: entries.map(({ spec: _spec, ...port }) => port),
    warnings,
  }
}

/** The services named, each after its dependencies (`run` starts those first), else all. */
function selectServices(
  manifest: Manifest,
  names: readonly string[] | undefined,
): ManifestService[] {
  if (names === undefined) return manifest.services
  for (const name of names) {
    if (!manifest.services.some((s) => s.name === name)) {
      throw new PortwardenError(
        'invalid_request',
        `${manifest.path} has no service ${JSON.stringify(name)}.`,
        {
          hint: `Services declared there: ${manifest.services.map((s) => s.name).join(', ')}.`,
          details: { file: manifest.path, service: name },
        },
      )
    }
  }
  return dependencyOrder(manifest, names)
}

/** What each entry stands for before any socket is looked at: its port and registry row. */
async function prepare(
  scope: Scope,
  service: string | null,
  name: string | null,
  declared: ManifestPort,
  store: RegistryStore | null,
  options: ManifestPreflightOptions,
): Promise<Entry> {
  const base: Entry = {
    service,
    name,
    declared,
    protocol: declared.kind === 'auto' ? declared.protocol : declared.spec.protocol,
    port: null,
    range: null,
    ok: true,
    reason: null,
    message: '',
    holders: [],
    publishers: [],
    heldByProject: false,
    allocation: null,
    fix: null,
    suggestedPort: null,
    container: null,
    check: null,
    warnings: [],
    spec: declared.kind === 'spec' ? declared.spec : null,
  }
  if (declared.kind === 'auto') {
    // Only a manifest declares "auto", so there is a service (and its name) here.
    const own = await ownAllocation(store, scope.project, name as string, declared.protocol)
    if (own) return { ...base, port: own.port, allocation: own }
    const range = `${DEFAULT_ALLOCATION_RANGE.from}-${DEFAULT_ALLOCATION_RANGE.to}`
    return {
      ...base,
      message: store
        ? `not allocated yet: \`portwarden run ${service}\` will allocate a free port in ${range}`
        : `not allocated yet (no registry): \`portwarden run ${service}\` will allocate a free port in ${range}`,
    }
  }
  const spec = declared.spec
  if (spec.from === spec.to) {
    const [owner] = store ? await store.list({ protocol: spec.protocol, port: spec.from }) : []
    return { ...base, port: spec.from, allocation: owner ?? null }
  }
  const picked = await pickFromRange(scope.project, name, spec, store, options)
  const entry: Entry = {
    ...base,
    range: { from: spec.from, to: spec.to },
    port: picked.port,
    allocation: picked.allocation,
  }
  if (picked.port === null) return { ...entry, ok: false, reason: 'range_exhausted' }
  return entry
}

/** The verdict for a port that has a number: the check, then the registry. */
function judge(entry: Entry, project: string): void {
  const label = `${entry.protocol.toUpperCase()} port ${entry.port}`
  const check = entry.check
  if (!check) return
  const allocation = entry.allocation
  const foreign = allocation !== null && allocation.project !== project
  if (!check.free) {
    entry.ok = false
    entry.reason =
      check.reason === 'bind_failed' || check.reason === 'published' ? check.reason : 'in_use'
    entry.holders = check.holders
    entry.publishers = check.publishers
    entry.message = checkSentence(check) ?? `${label} is in use`
    const proxy = check.holders.flatMap((s) => s.processes).find(isProxy)
    if (proxy) entry.container = proxy.dockerContainer?.name ?? proxy.container ?? proxy.name
    const publisher = check.publishers.find((p) => p.container !== null)
    if (publisher?.container) entry.container = publisher.container.name
    if (foreign) entry.message += `; the registry allocates it to ${ownerText(allocation)}`
    return
  }
  if (foreign) {
    entry.ok = false
    entry.reason = 'port_allocated'
    entry.message = `${label} is free, but the registry allocates it to ${ownerText(allocation)}`
    return
  }
  entry.message =
    allocation !== null
      ? `${label} is available (allocated to ${ownerText(allocation)})`
      : entry.range
        ? `${label} is available (the first free port in ${entry.range.from}-${entry.range.to})`
        : `${label} is available`
}

/** Every port of a range is taken: name who holds them (a sample for a large range). */
async function describeFullRange(entry: Entry, options: ManifestPreflightOptions): Promise<void> {
  const range = entry.range as { from: number; to: number }
  const size = range.to - range.from + 1
  const scan = {
    from: range.from,
    to: size > MAX_RANGE_SCAN ? range.from + MAX_RANGE_SCAN - 1 : range.to,
    protocol: entry.protocol,
  }
  const checks = await checkPorts([scan], { backend: options.backend, procRoot: options.procRoot })
  const taken = checks.filter((c) => !c.free)
  entry.holders = taken.flatMap((c) => c.holders)
  entry.check = taken[0] ?? null
  entry.port = null
  const proxy = entry.holders.flatMap((s) => s.processes).find(isProxy)
  if (proxy) entry.container = proxy.dockerContainer?.name ?? proxy.container ?? proxy.name
  const who = entry.holders.length > 0 ? `; held by ${describeHolderNames(entry.holders)}` : ''
  entry.message = `no ${entry.protocol.toUpperCase()} port in ${range.from}-${range.to} is free: every one is in use or allocated in the registry${who}`
}

function heldByProject(scope: Scope, entry: PreflightPort, procRoot?: string): boolean {
  const processes = entry.holders.flatMap((s) => s.processes)
  if (processes.length === 0 || entry.reason !== 'in_use') return false
  const record = {
    pid: entry.allocation?.project === scope.project ? entry.allocation.pid : null,
    worktree: scope.root,
  }
  return processes.every((holder) => judgeOwnership(record, holder, procRoot) === 'owned')
}

/** Every (protocol, port) of these specs, so that no fix suggests a port declared elsewhere. */
function declaredPorts(specs: readonly PortSpec[]): Set<string> {
  const taken = new Set<string>()
  for (const spec of specs) {
    if (spec.to - spec.from > 4096) continue
    for (let p = spec.from; p <= spec.to; p++) taken.add(`${spec.protocol}:${p}`)
  }
  return taken
}

async function suggestFix(
  scope: Scope,
  entry: Entry,
  suggested: Set<string>,
  store: RegistryStore | null,
  options: ManifestPreflightOptions,
): Promise<void> {
  const declared = scope.declared
  const protocol = entry.protocol
  const first = entry.port ?? entry.range?.from ?? 0
  const spec = `${first}/${protocol}`
  const auto = entry.declared.kind === 'auto'
  // A port from outside the declared range: the next one above it, else below.
  let alternative: number | null = null
  if (!auto) {
    const near = entry.range ? entry.range.to : first
    const below = entry.range ? entry.range.from : first
    alternative = await nearbyFreePort(near, below, protocol, declared, suggested, store, options)
    if (alternative !== null) suggested.add(`${protocol}:${alternative}`)
  }
  entry.suggestedPort = alternative
  const move =
    alternative === null
      ? null
      : scope.manifest === null
        ? entry.range
          ? `use a range that includes ${alternative} (free now)`
          : `use ${alternative} instead (free now)`
        : entry.range
          ? `widen ${entry.service}'s range to include ${alternative} (free now)`
          : `change ${entry.service}'s port ${entry.declared.text} to ${alternative} (free now) in ${manifestName(scope.manifest)}`
  const reallocate = auto
    ? `portwarden release ${shellWord(entry.name as string)} --project ${shellWord(scope.project)} (the next run allocates another port)`
    : null
  const alternatives = [move, reallocate].filter((x): x is string => x !== null)
  const or = alternatives.length ? `, or ${alternatives.join(', or ')}` : ''

  if (entry.reason === 'port_allocated' && entry.allocation) {
    const a = entry.allocation
    entry.fix = `${alternatives.length ? `${alternatives.join(', or ')}, or ` : ''}if project ${displayName(a.project)} no longer needs it: portwarden release ${shellWord(a.service)} --project ${shellWord(a.project)}`
    return
  }
  const rule = entry.publishers[0]
  if (entry.container === null && rule) {
    entry.fix = `${publisherFix(rule)} (a NAT rule sends this port elsewhere)${or}`
    return
  }
  if (entry.container !== null) {
    const named = await containerName(entry, options)
    const stop = named
      ? `docker stop ${shellWord(named)}`
      : `docker stop $(docker ps -q --filter publish=${spec})`
    entry.fix = `${stop} (a container publishes this port)${or}`
    return
  }
  if (entry.reason === 'bind_failed') {
    const look = process.getuid?.() === 0 ? `portwarden who ${spec}` : `sudo portwarden who ${spec}`
    entry.fix = `${look} to see the holder${or}`
    return
  }
  if (entry.holders.some((s) => s.processes.length > 0)) {
    entry.fix = entry.heldByProject
      ? `${entry.service ?? 'it'} may be running already (its holder was started from this project): leave it, or stop it with portwarden free ${spec}${or}`
      : `portwarden free ${spec}${or}`
    return
  }
  if (entry.holders.length > 0 && rootWouldSeeHolder(entry.holders.map((s) => s.uid))) {
    entry.fix = `sudo portwarden who ${spec} to see the holder${or}`
    return
  }
  // A holder hidden even from root (another pid namespace): sudo would show nothing more.
  if (entry.holders.length > 0 && alternatives.length > 0) {
    entry.fix = alternatives.join(', or ')
    return
  }
  entry.fix = alternatives.length ? alternatives.join(', or ') : `portwarden who ${spec}`
}

/** The closest free port above `above` (else below `below`) that no service declares. */
async function nearbyFreePort(
  above: number,
  below: number,
  protocol: Protocol,
  declared: Set<string>,
  suggested: Set<string>,
  store: RegistryStore | null,
  options: ManifestPreflightOptions,
): Promise<number | null> {
  const usable = (p: number) =>
    !declared.has(`${protocol}:${p}`) && !suggested.has(`${protocol}:${p}`)
  const windows: { from: number; to: number; pick: 'lowest' | 'highest' }[] = []
  if (above < 65535)
    windows.push({ from: above + 1, to: Math.min(65535, above + 100), pick: 'lowest' })
  if (below > 1) windows.push({ from: Math.max(1, below - 100), to: below - 1, pick: 'highest' })
  for (const window of windows) {
    const size = window.to - window.from + 1
    // Upward, the first usable port will do: ask for just enough to step over declared ones.
    let skipped = 0
    for (let p = window.from; p <= window.to; p++) if (!usable(p)) skipped++
    const count = window.pick === 'lowest' ? Math.min(size, skipped + 1) : size
    let found: number[]
    try {
      found = (
        await findFreePorts({
          protocol,
          range: window,
          count,
          store,
          procRoot: options.procRoot,
        })
      ).ports
    } catch (error) {
      if (!isPortwardenError(error) || error.code !== 'range_exhausted') throw error
      const details = error.details as { found?: number[] } | undefined
      found = details?.found ?? []
    }
    const candidates = found.filter(usable)
    const pick = window.pick === 'lowest' ? candidates[0] : candidates[candidates.length - 1]
    if (pick !== undefined) return pick
  }
  return null
}

async function containerName(
  entry: Entry,
  options: ManifestPreflightOptions,
): Promise<string | null> {
  const target = entry.container
  if (target && /^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(target) && containerRole(target) === null)
    return target
  if (options.docker === false || entry.port === null) return null
  const { askDockerEngine, findPublishingContainer } = await import('./containers/docker-engine.js')
  const lookup = await askDockerEngine()
  if (!lookup.ok) return null
  return (
    findPublishingContainer(lookup.containers, entry.port, entry.protocol, target)?.name ?? null
  )
}

/** A port proxy, or dockerd holding a published port's placeholder (no userland proxy). */
function isProxy(holder: Holder): boolean {
  return holder.container !== null || standsForContainer(holder.name)
}

function ownerText(allocation: Allocation): string {
  return `${displayName(allocation.service)} of project ${displayName(allocation.project)}`
}

function describeHolderNames(sockets: readonly SocketEntry[]): string {
  const names = [
    ...new Set(
      sockets.flatMap((s) => s.processes.map((p) => `${displayName(p.name)} (pid ${p.pid})`)),
    ),
  ]
  if (names.length === 0) return 'processes that are not visible here'
  return names.length > 3
    ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`
    : names.join(', ')
}

function manifestName(manifest: Manifest): string {
  return manifest.path.split('/').pop() ?? manifest.path
}

/**
 * A declared port's tag: `warn` for one that can be taken but has a TIME-WAIT socket on it
 * (servers without SO_REUSEADDR may fail to bind for up to 60 s); the port is still `ok`.
 */
export function preflightStatus(port: PreflightPort): 'pass' | 'warn' | 'fail' {
  if (!port.ok) return 'fail'
  return port.port !== null && timeWaitCaveat(port.check) ? 'warn' : 'pass'
}

/** The wire shape of one preflight verdict (snake_case, as `--json` and the API print it). */
export function toJsonPreflightPort(port: PreflightPort) {
  return {
    service: port.service,
    name: port.name,
    spec: port.declared.text,
    port: port.port,
    protocol: port.protocol,
    range: port.range ? `${port.range.from}-${port.range.to}` : null,
    auto: port.declared.kind === 'auto',
    ok: port.ok,
    reason: port.reason,
    message: port.message,
    fix: port.fix,
    suggested_port: port.suggestedPort,
    container: port.container,
    held_by_project: port.heldByProject,
    allocation: port.allocation ? toJsonAllocation(port.allocation) : null,
    holders: port.holders.map(toJsonSocket),
    publishers: port.publishers.map(toJsonPublisher),
    warnings: port.warnings.map((w) => w.message),
  }
}

export function toJsonPreflight(result: PreflightResult) {
  return {
    manifest: result.manifest?.path ?? null,
    project: result.project,
    registry: result.registry,
    ok: result.ok,
    ports: result.ports.map(toJsonPreflightPort),
  }
}

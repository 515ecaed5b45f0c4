/**
 * `doctor`: every check at once. The manifest's ports (as `preflight` judges them, except that a
 * port held by the project's own process is a running service, not a conflict), the registry's
 * view of this project's allocations (conflicts with reality, allocations the manifest no longer
 * declares) and health (the registry's health checks, and the manifest's own for services on
 * fixed ports). Every finding is PASS, WARN or FAIL with a fix.
 * @module
 */
import { isPortwardenError } from './errors.js'
import { checkHealth } from './health/check-health.js'
import type { HealthResult } from './health/check-health.js'
import { probeHost, probeService } from './health/check-health.js'
import { portName } from './manifest/resolve-ports.js'
import type { Manifest, ManifestService } from './manifest/types.js'
import { displayName, timeWaitCaveat } from './messages.js'
import { defaultProject } from './registry/names.js'
import type { PreflightPort, PreflightResult } from './preflight.js'
import { preflight, preflightStatus, toJsonPreflightPort } from './preflight.js'
import { claimFromAllocation, detectConflicts, shellWord } from './registry/conflicts.js'
import type { Conflict } from './registry/conflicts.js'
import type { Allocation, HealthCheckSpec, RegistryStore } from './registry/types.js'
import { listSockets } from './sockets/list-sockets.js'
import type { SocketScan } from './sockets/list-sockets.js'
import { exactPorts } from './port-spec.js'
import type { BackendName } from './sockets/query.js'
import type { SocketEntry, Warning } from './types.js'

export type DoctorStatus = 'pass' | 'warn' | 'fail'
export type DoctorSection = 'manifest' | 'ports' | 'registry' | 'health'

export interface DoctorCheck {
  section: DoctorSection
  status: DoctorStatus
  /** What was checked: `8080/tcp (web)`, `registry`, `web`... */
  subject: string
  message: string
  fix: string | null
  /** The preflight verdict behind a `ports` check. */
  port?: PreflightPort
}

export interface DoctorOptions {
  /** The manifest, or null when there is none (then only the registry is checked). */
  manifest: Manifest | null
  /** Where the manifest was looked for, for the WARN line when there is none. */
  searchedFrom?: string
  /** The project whose allocations are checked; default the manifest's, else the current directory's. */
  project?: string
  /** The registry, or null when there is none yet (`registryLocation` says where it would be). */
  store: RegistryStore | null
  registryLocation: string
  /** Opening the registry failed: reported as a FAIL, the other checks still run. */
  registryError?: unknown
  backend?: BackendName | 'auto'
  procRoot?: string
  /** Bound on each health probe step. Default 2000 ms. */
  timeoutMs?: number
}

export interface DoctorReport {
  manifest: Manifest | null
  project: string
  registry: string
  checks: DoctorCheck[]
  preflight: PreflightResult | null
  summary: Record<DoctorStatus, number>
  /** A check could not run because the environment failed (registry unreadable): exit 3. */
  environmentFailed: boolean
  warnings: Warning[]
}

/** What one doctor run has found so far; each step below adds its checks. */
interface DoctorRun {
  options: DoctorOptions
  project: string
  checks: DoctorCheck[]
  warnings: Warning[]
  environmentFailed: boolean
  preflight: PreflightResult | null
  allocations: Allocation[]
  conflicts: Conflict[]
  /** One scan of the allocated ports serves the conflict check and the health check. */
  allocatedSockets: SocketScan | undefined
  /** Allocations the manifest no longer declares: reported once, as stale, not as not running. */
  undeclared: Set<number>
}

export async function doctor(options: DoctorOptions): Promise<DoctorReport> {
  const run: DoctorRun = {
    options,
    project: options.project ?? options.manifest?.project ?? defaultProject(),
    checks: [],
    warnings: [],
    environmentFailed: false,
    preflight: null,
    allocations: [],
    conflicts: [],
    allocatedSockets: undefined,
    undeclared: new Set(),
  }
  checkManifest(run)
  await checkPorts(run)
  await checkRegistry(run)
  await checkServiceHealth(run)
  const summary = { pass: 0, warn: 0, fail: 0 }
  for (const check of run.checks) summary[check.status]++
  return {
    manifest: options.manifest,
    project: run.project,
    registry: options.store?.location ?? options.registryLocation,
    checks: run.checks,
    preflight: run.preflight,
    summary,
    environmentFailed: run.environmentFailed,
    warnings: run.warnings,
  }
}

function checkManifest(run: DoctorRun): void {
  const { manifest } = run.options
  if (manifest) {
    const ports = manifest.services.reduce((n, s) => n + s.ports.length, 0)
    run.checks.push({
      section: 'manifest',
      status: 'pass',
      subject: manifest.path,
      message: `valid: project ${displayName(manifest.project)}, ${plural(manifest.services.length, 'service')} (${manifest.services.map((s) => displayName(s.name)).join(', ')}), ${plural(ports, 'declared port')}`,
      fix: null,
    })
  } else {
    run.checks.push({
      section: 'manifest',
      status: 'warn',
      subject: 'manifest',
      message: `no portwarden.toml in ${run.options.searchedFrom ?? 'this directory'} or above: only the registry was checked (project ${displayName(run.project)})`,
      fix: 'create portwarden.toml with the services and their ports, or name one with --manifest FILE',
    })
  }
}

async function checkPorts(run: DoctorRun): Promise<void> {
  const { manifest, store, backend, procRoot, registryError } = run.options
  if (!manifest) return
  run.preflight = await preflight(manifest, { store, backend, procRoot })
  run.warnings.push(...run.preflight.warnings)
  for (const port of run.preflight.ports) {
    if (registryError !== undefined && port.declared.kind === 'auto' && port.port === null) {
      run.checks.push({
        section: 'ports',
        status: 'warn',
        subject: portSubject(port),
        message: 'not checked: the registry that allocates it cannot be read',
        fix: null,
        port,
      })
    } else run.checks.push(portCheck(port))
  }
}

async function checkRegistry(run: DoctorRun): Promise<void> {
  const { store, registryError, registryLocation } = run.options
  const registryCheck = (status: DoctorStatus, message: string, fix: string | null = null) =>
    run.checks.push({ section: 'registry', status, subject: 'registry', message, fix })
  if (registryError !== undefined) {
    run.environmentFailed = true
    registryCheck(
      'fail',
      isPortwardenError(registryError)
        ? registryError.message
        : `cannot open ${registryLocation}: ${registryError instanceof Error ? registryError.message : String(registryError)}`,
      isPortwardenError(registryError) ? (registryError.hint ?? null) : null,
    )
    return
  }
  if (!store) {
    registryCheck('pass', `no registry at ${registryLocation} yet: nothing is allocated`)
    return
  }
  run.allocations = await store.list({ project: run.project })
  if (run.allocations.length === 0) {
    registryCheck(
      'pass',
      `${store.location}: no allocations for project ${displayName(run.project)}`,
    )
    return
  }
  await checkAllocationConflicts(run)
  checkUndeclaredAllocations(run)
  if (run.conflicts.length === 0 && run.undeclared.size === 0)
    registryCheck(
      'pass',
      `${store.location}: ${plural(run.allocations.length, 'allocation')} of project ${displayName(run.project)}, no conflicts`,
    )
}

async function checkAllocationConflicts(run: DoctorRun): Promise<void> {
  const { procRoot } = run.options
  run.allocatedSockets = await listSockets({ ports: exactPorts(run.allocations), procRoot })
  const report = await detectConflicts(run.allocations.map(claimFromAllocation), {
    procRoot,
    inventory: run.allocatedSockets,
  })
  run.warnings.push(...report.warnings)
  run.conflicts = report.conflicts.filter((c) => c.kind !== 'allocation_mismatch')
  for (const conflict of run.conflicts) {
    run.checks.push({
      section: 'registry',
      // A holder that cannot be judged may be the service itself: a warning, not a failure.
      status: conflict.verified ? 'fail' : 'warn',
      subject: `${conflict.port}/${conflict.protocol}`,
      message: `${conflict.kind === 'system_conflict' ? 'SYSTEM CONFLICT' : 'REGISTRY CONFLICT'}${conflict.verified ? '' : ' (unverified)'}: ${conflict.message}`,
      fix: conflict.resolution,
    })
  }
}

function checkUndeclaredAllocations(run: DoctorRun): void {
  const { manifest } = run.options
  if (!manifest) return
  const names = declaredNames(manifest)
  for (const allocation of run.allocations) {
    if (names.has(`${allocation.protocol}:${allocation.service}`)) continue
    run.undeclared.add(allocation.id)
    run.checks.push({
      section: 'registry',
      status: 'warn',
      subject: `${allocation.port}/${allocation.protocol} (${displayName(allocation.service)})`,
      message: `allocated to ${displayName(allocation.service)} of project ${displayName(run.project)}, but ${manifest.path} declares no such port`,
      fix: `portwarden release ${shellWord(allocation.service)} --project ${shellWord(run.project)}   # if it is no longer used`,
    })
  }
}

/** The registry's health checks for allocations, the manifest's for services on fixed ports. */
async function checkServiceHealth(run: DoctorRun): Promise<void> {
  const { store, manifest, procRoot, timeoutMs } = run.options
  const healthResults: HealthResult[] =
    store && run.allocations.length > 0
      ? (
          await checkHealth(store, {
            project: run.project,
            procRoot,
            inventory: run.allocatedSockets,
            timeoutMs,
          })
        ).results
      : []
  const conflicted = new Set(run.conflicts.map((c) => `${c.protocol}:${c.port}`))
  for (const result of healthResults) {
    const a = result.allocation
    if (conflicted.has(`${a.protocol}:${a.port}`) || run.undeclared.has(a.id)) continue
    run.checks.push(allocationHealth(result, manifest))
  }
  if (manifest && run.preflight) {
    const covered = new Set(run.allocations.map((a) => `${a.protocol}:${a.port}`))
    for (const service of manifest.services) {
      const check = await manifestHealth(service, run.preflight, covered, timeoutMs)
      if (check) run.checks.push(check)
    }
  }
}

/** A preflight verdict as doctor sees it: the project's own running service is fine. */
function portCheck(port: PreflightPort): DoctorCheck {
  const subject = portSubject(port)
  if (port.ok) {
    const caveat = preflightStatus(port) === 'warn' ? timeWaitCaveat(port.check) : null
    return caveat
      ? {
          section: 'ports',
          status: 'warn',
          subject,
          message: `available, but ${caveat.message}`,
          fix: null,
          port,
        }
      : { section: 'ports', status: 'pass', subject, message: port.message, fix: null, port }
  }
  if (port.heldByProject) {
    return {
      section: 'ports',
      status: 'pass',
      subject,
      message: `${port.service} is running: ${port.message.replace(/ is already in use by /, ' is held by ')} (started from this project)`,
      fix: null,
      port,
    }
  }
  return { section: 'ports', status: 'fail', subject, message: port.message, fix: port.fix, port }
}

export function portSubject(port: PreflightPort): string {
  const where =
    port.port !== null
      ? `${port.port}/${port.protocol}`
      : port.range
        ? `${port.range.from}-${port.range.to}/${port.protocol}`
        : `auto/${port.protocol}`
  const notes = [
    port.service === null ? null : displayName(port.service),
    port.declared.kind === 'auto'
      ? 'auto'
      : port.range && port.port !== null
        ? `from ${port.range.from}-${port.range.to}`
        : null,
  ].filter((note) => note !== null)
  return notes.length > 0 ? `${where} (${notes.join(', ')})` : where
}

function allocationHealth(result: HealthResult, manifest: Manifest | null): DoctorCheck {
  const a = result.allocation
  const subject = `${a.port}/${a.protocol} (${displayName(a.service)})`
  const service = manifest ? serviceOfName(manifest, a.service) : a.service
  switch (result.status) {
    case 'healthy':
      return {
        section: 'health',
        status: 'pass',
        subject,
        message: `healthy: ${result.detail}`,
        fix: null,
      }
    case 'unhealthy':
      return {
        section: 'health',
        status: 'fail',
        subject,
        message: `unhealthy: ${result.detail}`,
        fix: `portwarden who ${a.port}/${a.protocol}   # then restart ${shellWord(service)}`,
      }
    case 'not_running':
      return {
        section: 'health',
        status: 'warn',
        subject,
        message: `not running: ${result.detail}`,
        fix: `portwarden run ${shellWord(service)}   # or, if it is gone for good: portwarden release ${shellWord(a.service)} --project ${shellWord(a.project)}`,
      }
    default:
      return {
        section: 'health',
        status: 'warn',
        subject,
        message: `health unknown: ${result.detail}`,
        fix: null,
      }
  }
}

/**
 * A service with a health check whose first port is a fixed port or a range (the registry
 * does not know it): probe it when the project's own process holds it.
 */
async function manifestHealth(
  service: ManifestService,
  pre: PreflightResult,
  covered: Set<string>,
  timeoutMs?: number,
): Promise<DoctorCheck | null> {
  if (!service.health) return null
  const port = pre.ports.find((p) => p.service === service.name && p.name === service.name)
  if (!port || port.declared.kind === 'auto' || port.port === null) return null
  if (covered.has(`${port.protocol}:${port.port}`)) return null
  const subject = `${port.port}/${port.protocol} (${displayName(service.name)})`
  if (port.ok) {
    return {
      section: 'health',
      status: 'warn',
      subject,
      message: `${displayName(service.name)} is not running (nothing holds ${port.port}/${port.protocol}), so its ${describeCheck(service.health)} was not run`,
      fix: `portwarden run ${shellWord(service.name)}`,
    }
  }
  if (!port.heldByProject) return null // the ports section already reports the conflict
  const socket = port.holders.find((s) => s.state === 'LISTEN' || s.state === 'UNCONN') as
    SocketEntry | undefined
  if (!socket) return null
  const outcome = await probeService(service.health, probeHost(socket), port.port, { timeoutMs })
  return outcome.ok
    ? {
        section: 'health',
        status: 'pass',
        subject,
        message: `healthy: ${describeCheck(service.health)}: ${outcome.detail}`,
        fix: null,
      }
    : {
        section: 'health',
        status: 'fail',
        subject,
        message: `unhealthy: ${describeCheck(service.health)}: ${outcome.detail}`,
        fix: `restart ${displayName(service.name)} (portwarden free ${port.port}/${port.protocol} && portwarden run ${shellWord(service.name)})`,
      }
}

function describeCheck(check: HealthCheckSpec): string {
  switch (check.kind) {
    case 'http':
    case 'https':
      return `${check.kind.toUpperCase()} check of ${check.path}${check.expect ? ` (expecting ${check.expect})` : ''}`
    case 'postgres':
      return 'PostgreSQL check'
    case 'redis':
      return 'Redis check'
    case 'tcp':
      return 'TCP connect check'
  }
}

/** `protocol:name` of every port entry the manifest declares (`web`, `web-2`, ...). */
function declaredNames(manifest: Manifest): Set<string> {
  const names = new Set<string>()
  for (const service of manifest.services) {
    service.ports.forEach((port, index) => {
      const protocol = port.kind === 'auto' ? port.protocol : port.spec.protocol
      names.add(`${protocol}:${portName(service.name, index)}`)
    })
  }
  return names
}

/** The service a registry name belongs to (`web-2` → `web`), else the name itself. */
function serviceOfName(manifest: Manifest, name: string): string {
  for (const service of manifest.services) {
    for (let index = 0; index < service.ports.length; index++) {
      if (portName(service.name, index) === name) return service.name
    }
  }
  return name
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`
}

export function toJsonDoctor(report: DoctorReport) {
  return {
    manifest: report.manifest?.path ?? null,
    project: report.project,
    registry: report.registry,
    ok: report.summary.fail === 0,
    summary: report.summary,
    checks: report.checks.map((check) => ({
      section: check.section,
      status: check.status,
      subject: check.subject,
      message: check.message,
      fix: check.fix,
    })),
    ports: report.preflight ? report.preflight.ports.map(toJsonPreflightPort) : [],
  }
}

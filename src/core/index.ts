/**
 * portwarden's library: the socket inventory, port checks and holder lookups that the CLI and
 * the HTTP server are built on. Nothing here prints, exits or reads argv.
 *
 * Every function checks its arguments first (src/core/validate.ts): a bad one is a
 * `PortwardenError` with code `invalid_request` saying what is accepted (a rejected promise for
 * the async ones), never a TypeError or a wrong answer.
 * @module
 */
import * as addresses from './addresses.js'
import * as checking from './check-port.js'
import * as docker from './containers/docker-engine.js'
import * as doctoring from './doctor.js'
import * as executing from './free/execute-free.js'
import * as freeOptions from './free/options.js'
import * as planning from './free/plan-free.js'
import * as identities from './process/identity.js'
import * as signalling from './process/signal.js'
import * as systemd from './free/systemd.js'
import * as freeWire from './free/wire.js'
import * as health from './health/check-health.js'
import * as probes from './health/probes.js'
import * as dependencies from './manifest/dependencies.js'
import * as manifestEnv from './env/manifest-env.js'
import * as manifests from './manifest/load-manifest.js'
import * as messages from './messages.js'
import * as portSpecs from './port-spec.js'
import * as preflighting from './preflight.js'
import * as allocator from './registry/allocator.js'
import * as conflicts from './registry/conflicts.js'
import * as findFree from './registry/find-free.js'
import * as importFile from './registry/import-file.js'
import * as names from './registry/names.js'
import * as registry from './registry/open-registry.js'
import * as releasing from './registry/release.js'
import * as readiness from './run/readiness.js'
import * as runEnv from './run/run-env.js'
import * as runConflicts from './run/port-conflicts.js'
import * as processTrees from './process/tree.js'
import * as dependencyRuns from './run/dependencies.js'
import * as running from './run/run-service.js'
import * as sockets from './sockets/list-sockets.js'
import * as queries from './sockets/query.js'
import * as stateDir from './state-dir.js'
import * as v from './validate.js'
import { checkArguments, guarded, guardedAsync, optional } from './validate.js'
import * as watching from './watch/socket-watcher.js'
import * as who from './who-holds.js'
import type { SocketListener, WatchOptions } from './watch/socket-watcher.js'
import * as wire from './wire.js'

export type {
  Family,
  Holder,
  Protocol,
  SocketEntry,
  SocketState,
  Warning,
  WarningCode,
} from './types.js'
export { PortwardenError, isPortwardenError } from './errors.js'
export type { PortwardenErrorCode } from './errors.js'

const specs = ['specs', v.portSpecs] as const
const procRoot = ['procRoot', optional(v.path)] as const
const env = ['env', optional(v.environment)] as const

export { PORT_SPEC_FORMS } from './port-spec.js'
export const expandPortSpecs = guarded(portSpecs.expandPortSpecs, [specs])
export const formatPortSpec = guarded(portSpecs.formatPortSpec, [['spec', v.portSpec]])
export const parsePortSpec = guarded(portSpecs.parsePortSpec, [
  ['text', v.string],
  ['defaultProtocol', optional(v.protocol)],
])
export type { PortSpec } from './port-spec.js'

export const chooseBackend = guardedAsync(sockets.chooseBackend, [
  ['backend', optional(v.backend)],
  procRoot,
])
export const listSockets = guardedAsync(sockets.listSockets, [['options', v.listOptions]])
export type { BackendName, ListSocketsOptions, SocketInventory } from './sockets/list-sockets.js'
export const isListening = guarded(queries.isListening, [
  ['protocol', v.protocol],
  ['state', v.string],
])

export { MAX_CHECKED_PORTS } from './check-port.js'
export const checkPort = guardedAsync(checking.checkPort, [
  ['port', v.port],
  ['protocol', optional(v.protocol)],
  ['options', v.checkOptions],
])
export const checkPorts = guardedAsync(checking.checkPorts, [specs, ['options', v.checkOptions]])
export type { CheckOptions, PortCheck } from './check-port.js'

export const whoHolds = guardedAsync(who.whoHolds, [specs, ['options', v.whoOptions]])
export type { PortHolders, WhoOptions, WhoResult } from './who-holds.js'
export type { OtherProtocolHolders } from './other-protocol.js'

export const checkSentence = guarded(messages.checkSentence, [['check', v.portCheck]])
export const checkSummary = guarded(messages.checkSummary, [['check', v.portCheck]])
export const describeHolders = guarded(messages.describeHolders, [['sockets', v.socketEntries]])
export const describeProcesses = guarded(messages.describeProcesses, [
  ['holders', v.arrayOf(v.holder)],
])
export const displayName = guarded(messages.displayName, [['text', v.string]])
export const hiddenHolderReason = guarded(messages.hiddenHolderReason, [
  ['uids', optional(v.arrayOf(v.uid))],
])
export const outOfSightSentence = guarded(messages.outOfSightSentence, [
  ['protocol', v.protocol],
  ['port', v.port],
  ['verb', optional(v.string)],
])
export const portInUseSentence = guarded(messages.portInUseSentence, [
  ['protocol', v.protocol],
  ['port', v.port],
  ['sockets', v.socketEntries],
  ['verb', optional(v.string)],
])

export const toJsonAllocation = guarded(wire.toJsonAllocation, [['allocation', v.allocation]])
export const toJsonCheck = guarded(wire.toJsonCheck, [
  ['check', v.portCheck],
  ['allocation', optional(v.nullable(v.allocation))],
])
export const toJsonConflict = guarded(wire.toJsonConflict, [['conflict', v.conflict]])
export const toJsonHolder = guarded(wire.toJsonHolder, [['holder', v.holder]])
export const toJsonPortHolders = guarded(wire.toJsonPortHolders, [['entry', v.portHolders]])
export const toJsonSocket = guarded(wire.toJsonSocket, [['socket', v.socketEntry]])
export const renderSocketsJson = guarded(wire.renderSocketsJson, [['sockets', v.socketEntries]])

export const formatEndpoint = guarded(addresses.formatEndpoint, [
  ['address', v.string],
  ['port', v.socketPort],
])
export const parseHost = guarded(addresses.parseHost, [['text', v.string]])
export const defaultStateDirectory = guarded(stateDir.defaultStateDirectory, [env])
export type { ProbeResult, ProbeTarget } from './bind-probe.js'

export const defaultRegistryPath = guarded(registry.defaultRegistryPath, [env])
export const openRegistry = guardedAsync(registry.openRegistry, [
  [
    'options',
    v.options({
      location: optional(v.nonEmptyString),
      timeoutMs: optional(v.duration),
      create: optional(v.boolean),
    }),
  ],
])
export const registryTimeoutFromEnv = guarded(registry.registryTimeoutFromEnv, [env])
export const resolveRegistryLocation = guarded(registry.resolveRegistryLocation, [
  ['location', optional(v.string)],
  env,
])
export type { OpenRegistryOptions } from './registry/open-registry.js'
export type {
  Allocation,
  AllocationFilter,
  HealthCheckSpec,
  HealthStatus,
  RegistryStore,
} from './registry/types.js'

export { DEFAULT_ALLOCATION_RANGE } from './registry/allocator.js'
export const allocate = guardedAsync(allocator.allocate, [
  ['store', v.store('takenPorts', 'write')],
  [
    'request',
    v.record('an allocation request', {
      project: v.name('project'),
      service: v.name('service'),
      protocol: optional(v.protocol),
      port: optional(v.port),
      range: optional(v.portRange),
      healthCheck: optional(v.healthCheck),
      pid: optional(v.pid),
      worktree: optional(v.path),
    }),
  ],
  ['options', v.options({ procRoot: optional(v.path) })],
])
export const preferredPort = guarded(allocator.preferredPort, [
  ['project', v.name('project')],
  ['service', v.name('service')],
  ['protocol', v.protocol],
  ['range', optional(v.portRange)],
])
export type { AllocateRequest, AllocateResult, PortRange } from './registry/allocator.js'

export const release = guardedAsync(releasing.release, [
  ['store', v.store('remove')],
  [
    'request',
    v.byKey(
      'port',
      v.record('a release request', { port: v.port, protocol: v.protocol }),
      v.record('a release request', {
        project: v.name('project'),
        service: v.name('service'),
        protocol: optional(v.protocol),
      }),
    ),
  ],
])

export { MAX_FIND_COUNT } from './registry/find-free.js'
export const findFreePorts = guardedAsync(findFree.findFreePorts, [
  [
    'options',
    v.options({
      protocol: optional(v.protocol),
      range: optional(v.portRange),
      count: optional(
        v.wholeNumber(
          1,
          findFree.MAX_FIND_COUNT,
          `ask for 1 to ${findFree.MAX_FIND_COUNT} ports (a whole number)`,
        ),
      ),
      host: optional(v.host),
      store: optional(v.nullable(v.store())),
      procRoot: optional(v.path),
    }),
  ],
])

export const claimFromAllocation = guarded(conflicts.claimFromAllocation, [
  ['allocation', v.allocation],
])
export const detectConflicts = guardedAsync(conflicts.detectConflicts, [
  ['claims', v.arrayOf(v.allocationClaim)],
  ['options', v.options({ procRoot: optional(v.path), inventory: optional(v.socketScan) })],
])
export type {
  AllocationClaim,
  Conflict,
  ConflictKind,
  ConflictReport,
} from './registry/conflicts.js'

export const readImportFile = guarded(importFile.readImportFile, [['path', v.path]])
export const defaultProject = guarded(names.defaultProject, [['directory', optional(v.path)]])
export const findWorktreeRoot = guarded(names.findWorktreeRoot, [['directory', v.path]])
export const validateName = guarded(names.validateName, [
  ['kind', v.oneOf(['project', 'service'])],
  ['name', v.string],
])

export const checkHealth = guardedAsync(health.checkHealth, [
  ['store', v.store('recordHealth')],
  [
    'options',
    v.options({
      project: optional(v.string),
      inventory: optional(v.socketScan),
      concurrency: optional(v.wholeNumber(1, 1024, 'concurrency is a whole number from 1 to 1024')),
      timeoutMs: optional(v.duration),
      procRoot: optional(v.path),
    }),
  ],
])
export type { CheckHealthOptions, HealthResult } from './health/check-health.js'

const probeOptions = ['options', v.options({ timeoutMs: optional(v.duration) })] as const
const probeTarget = [['host', v.hostOrName], ['port', v.port], probeOptions] as const
export const probeHttp = guardedAsync(probes.probeHttp, [
  [
    'options',
    v.record('HTTP probe options', {
      host: v.hostOrName,
      port: v.port,
      path: optional(v.string),
      expect: optional(v.wholeNumber(100, 599, 'an HTTP status is a whole number from 100 to 599')),
      https: optional(v.boolean),
      timeoutMs: optional(v.duration),
    }),
  ],
])
export const probePostgres = guardedAsync(probes.probePostgres, probeTarget)
export const probeRedis = guardedAsync(probes.probeRedis, probeTarget)
export const probeTcpConnect = guardedAsync(probes.probeTcpConnect, probeTarget)
export const probeDefault = guardedAsync(probes.probeDefault, probeTarget)
export type { ServiceProbeResult } from './health/probes.js'

export { DEFAULT_WAIT_MS } from './free/plan-free.js'
export const planFree = guardedAsync(planning.planFree, [specs, ['options', v.freeOptions]])
export const planFreeFrom = guardedAsync(planning.planFreeFrom, [
  specs,
  ['entries', v.arrayOf(v.holderTableEntry)],
  ['options', v.freeOptions],
  ['warnings', optional(v.arrayOf(v.warning))],
])
export const describeSpecs = guarded(planning.describeSpecs, [specs])
export type {
  ContainerInfo,
  FreeOptions,
  FreePlan,
  FreeTarget,
  PortKey,
  PortPlan,
  Refusal,
  RefusalCode,
} from './free/plan-free.js'

export const executeFree = guardedAsync(executing.executeFree, [
  ['plan', v.freePlan],
  [
    'options',
    v.options({
      approve: optional(v.func),
      onEvent: optional(v.func),
      kill: optional(v.func),
      pollIntervalMs: optional(v.duration),
    }),
  ],
])
export const planOutcome = guarded(executing.planOutcome, [['plan', v.freePlan]])
export type {
  ExecuteOptions,
  FreeEvent,
  FreeOutcome,
  FreeReport,
  PortReport,
  PortStatus,
  SignalRecord,
  TargetOutcome,
  TargetReport,
} from './free/execute-free.js'

export { FREE_SIGNALS, MAX_DURATION_MS } from './free/options.js'
export const formatDuration = guarded(freeOptions.formatDuration, [['ms', v.duration]])
export const parseDuration = guarded(freeOptions.parseDuration, [
  ['text', v.string],
  ['flag', v.string],
])
export const parseSignalName = guarded(freeOptions.parseSignalName, [['text', v.string]])
export type { FreeSignal } from './free/options.js'

export const identityDifferences = guarded(identities.identityDifferences, [
  ['expected', v.processIdentity],
  ['current', v.processIdentity],
])
/** Any value may be asked about: false for everything but a positive safe integer. */
export const isValidPid = identities.isValidPid
export const processExited = guarded(identities.processExited, [
  ['identity', v.processIdentity],
  procRoot,
])
export const readIdentity = guarded(identities.readIdentity, [['pid', v.pid], procRoot])
export const unsafeTarget = guarded(signalling.unsafeTarget, [
  ['pid', v.anything], // any value: an invalid pid is one of the answers
  [
    'options',
    v.options({
      self: optional(v.pid),
      parent: optional(v.count), // a process whose parent is outside its pid namespace has 0
      procRoot: optional(v.path),
    }),
  ],
])
export const verifyIdentity = guarded(identities.verifyIdentity, [
  ['expected', v.processIdentity],
  procRoot,
])
export type { IdentityCheck, ProcessIdentity, ProcessMark } from './process/identity.js'
export type { UnsafeReason } from './process/signal.js'

export const signalVerified = guarded(signalling.signalVerified, [
  ['expected', v.signalTarget],
  ['signal', v.signal],
  ['options', v.options({ procRoot: optional(v.path), kill: optional(v.func) })],
])
export type { KillFunction, SignalAttempt } from './process/signal.js'

export { DOCKER_TIMEOUT_MS } from './containers/docker-engine.js'
export const defaultDockerSocket = guarded(docker.defaultDockerSocket, [env])
export const findPublishingContainer = guarded(docker.findPublishingContainer, [
  ['containers', v.arrayOf(v.dockerContainer)],
  ['port', v.port],
  ['protocol', v.protocol],
  ['target', v.nullable(v.string)],
])
export const listDockerContainers = guardedAsync(docker.listDockerContainers, [
  ['socket', optional(v.path)],
  ['timeoutMs', optional(v.duration)],
])
export type { DockerContainer, DockerLookup } from './containers/docker-engine.js'

export { SYSTEMD_UNIT_DIRS } from './free/systemd.js'
export const findSocketUnits = guarded(systemd.findSocketUnits, [
  ['port', v.port],
  ['protocol', v.protocol],
  ['dirs', optional(v.arrayOf(v.path))],
])

export const toJsonFreePlan = guarded(freeWire.toJsonFreePlan, [['plan', v.freePlan]])
export const toJsonFreeReport = guarded(freeWire.toJsonFreeReport, [['report', v.freeReport]])
export const toJsonFreeTarget = guarded(freeWire.toJsonFreeTarget, [['target', v.freeTarget]])
export const toJsonRefusal = guarded(freeWire.toJsonRefusal, [['refusal', v.refusal]])
export const toJsonTargetReport = guarded(freeWire.toJsonTargetReport, [['report', v.targetReport]])

const runRequestFields = {
  service: v.name('service'),
  project: v.name('project'),
  ports: v.runPorts,
  command: v.byKey(
    'shell',
    v.record('a command', { shell: v.nonEmptyString }),
    v.record('a command', {
      argv: v.satisfies(
        (a) => Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === 'string'),
        'an argument vector is a non-empty array of strings',
      ),
    }),
  ),
  cwd: optional(v.path),
  env: optional(v.environment),
  timeoutMs: optional(v.duration),
  health: optional(v.nullable(v.healthCheck)),
  store: optional(v.nullable(v.store())),
  procRoot: optional(v.path),
  backend: optional(v.backend),
}
const runRequest = v.record('a run request', runRequestFields)
const runHooks = v.options({
  onMessage: optional(v.func),
  onSpawn: optional(v.func),
  onSettled: optional(v.func),
})
export const runService = guardedAsync(running.runService, [
  ['request', runRequest],
  ['hooks', runHooks],
])
export const startService = guardedAsync(running.startService, [
  ['request', runRequest],
  ['hooks', runHooks],
])
export const runWithDependencies = guardedAsync(dependencyRuns.runWithDependencies, [
  [
    'dependencies',
    v.arrayOf(
      v.record('a dependency', {
        ...runRequestFields,
        command: v.nullable(runRequestFields.command),
        worktree: v.path,
      }),
    ),
  ],
  ['request', runRequest],
  ['hooks', runHooks],
])
export type {
  DependencyOutcome,
  DependencyRequest,
  RunWithDependenciesHooks,
  RunWithDependenciesOutcome,
} from './run/dependencies.js'
export type {
  RunCommand,
  RunHooks,
  RunMessage,
  RunMessageKind,
  RunOutcome,
  RunReadiness,
  RunRequest,
  ServiceChild,
  StartedService,
} from './run/run-service.js'

const portConflicts = ['conflicts', v.arrayOf(v.portConflict)] as const
export const conflictError = guarded(runConflicts.conflictError, [
  portConflicts,
  ['before', optional(v.string)],
])
export const conflictSentence = guarded(runConflicts.conflictSentence, [portConflicts])
export const describeOwners = guarded(runConflicts.describeOwners, [
  ['sockets', v.socketEntries],
  ['allocation', v.nullable(v.allocation)],
  procRoot,
])
export const preflightPorts = guardedAsync(runConflicts.preflightPorts, [
  ['ports', v.runPorts],
  [
    'options',
    v.record('preflight options', {
      project: v.name('project'),
      service: v.name('service'),
      store: optional(v.nullable(v.store())),
      procRoot: optional(v.path),
      backend: optional(v.backend),
    }),
  ],
])
export type { PortConflict, PortConflictOptions } from './run/port-conflicts.js'

export const waitUntilListening = guardedAsync(readiness.waitUntilListening, [
  ['ports', v.runPorts],
  [
    'child',
    v.record('a watched child', {
      pid: v.pid,
      exited: v.thenable,
      hasExited: v.func,
      failed: v.func,
    }),
  ],
  [
    'options',
    v.record('readiness options', {
      service: v.string,
      timeoutMs: v.duration,
      procRoot: optional(v.path),
      tree: optional(v.trackedTree),
      nameOwners: v.func,
      onNote: optional(v.func),
      onProgress: optional(v.func),
    }),
  ],
])
export type { PortListener, Readiness, WaitProgress } from './run/readiness.js'

const runPortKey = v.record('a run port', { protocol: v.protocol, port: v.port })
export const formatRunPort = guarded(runEnv.formatRunPort, [['port', runPortKey]])
export const formatRunPorts = guarded(runEnv.formatRunPorts, [['ports', v.arrayOf(runPortKey)]])
export const portEnvironment = guarded(runEnv.portEnvironment, [
  ['service', v.nullable(v.string)],
  ['ports', v.runPorts],
])
export const portVariable = guarded(runEnv.portVariable, [['name', v.string]])
export type { RunPort } from './run/run-env.js'

export const inForegroundOfTerminal = guarded(processTrees.inForegroundOfTerminal, [
  ['pid', optional(v.pid)],
  procRoot,
])
export const isSameProcess = guarded(identities.isSameProcess, [
  ['identity', v.processStart],
  procRoot,
])
export const processTree = guarded(processTrees.processTree, [['root', v.pid], procRoot])

export { DEFAULT_WATCH_INTERVAL_MS } from './watch/socket-watcher.js'
export const socketIdentity = guarded(watching.socketIdentity, [
  [
    'socket',
    v.record('a socket', {
      protocol: v.protocol,
      localAddress: v.string,
      localPort: v.socketPort,
      inode: v.count,
    }),
  ],
])
export const watchSockets = guardedAsync(watching.watchSockets, [
  ['options', v.watchOptions],
  ['onEvent', v.func],
  ['signal', v.abortSignal],
  ['onReady', optional(v.func)],
])

/** The shared poller of listening sockets, its options and listeners checked. */
export class SocketWatcher extends watching.SocketWatcher {
  constructor(options: WatchOptions = {}) {
    checkArguments([options], [['options', v.watchOptions]])
    super(options)
  }

  override subscribe(listener: SocketListener, onError?: (error: unknown) => void): () => void {
    checkArguments(
      [listener, onError],
      [
        ['listener', v.func],
        ['onError', optional(v.func)],
      ],
    )
    return super.subscribe(listener, onError)
  }
}
export type { SocketEvent, SocketListener, WatchOptions } from './watch/socket-watcher.js'

export { MANIFEST_FILE } from './manifest/load-manifest.js'
export const findManifest = guarded(manifests.findManifest, [['startDirectory', optional(v.path)]])
export const loadManifest = guarded(manifests.loadManifest, [
  ['options', v.options({ path: optional(v.path), cwd: optional(v.path) })],
])
export const parseManifest = guarded(manifests.parseManifest, [
  ['text', v.string],
  ['path', v.path],
  ['options', v.options({ cwd: optional(v.path) })],
])
export const portName = guarded(manifests.portName, [
  ['service', v.string],
  ['index', v.count],
])
export const resolveServicePorts = guardedAsync(manifests.resolveServicePorts, [
  ['manifest', v.manifest],
  ['service', v.manifestService],
  ['store', v.nullable(v.store('takenPorts', 'write'))],
  ['options', v.options({ procRoot: optional(v.path) })],
])
export type { LoadManifestOptions, ResolvedPort } from './manifest/load-manifest.js'
export const dependencyOrder = guarded(dependencies.dependencyOrder, [
  ['manifest', v.manifest],
  ['names', v.arrayOf(v.string)],
])

export const composeVariable = guarded(manifestEnv.composeVariable, [['name', v.string]])
export const manifestEnvironment = guardedAsync(manifestEnv.manifestEnvironment, [
  ['manifest', v.manifest],
  ['store', v.store('write', 'takenPorts')],
  ['options', v.options({ project: optional(v.name('project')), procRoot: optional(v.path) })],
])
export type { EnvPort, ManifestEnvironment } from './env/manifest-env.js'
export type { Manifest, ManifestPort, ManifestService } from './manifest/types.js'

export const preflight = guardedAsync(preflighting.preflight, [
  ['manifest', v.manifest],
  [
    'options',
    v.options({
      store: optional(v.nullable(v.store())),
      services: optional(v.arrayOf(v.string)),
      backend: optional(v.backend),
      procRoot: optional(v.path),
      docker: optional(v.boolean),
    }),
  ],
])
export const toJsonPreflight = guarded(preflighting.toJsonPreflight, [
  ['result', v.preflightResult],
])
export const toJsonPreflightPort = guarded(preflighting.toJsonPreflightPort, [
  ['port', v.preflightPort],
])
export const preflightSpecs = guardedAsync(preflighting.preflightSpecs, [
  ['specs', v.arrayOf(v.record('a port given on its own', { spec: v.portSpec, text: v.string }))],
  [
    'options',
    v.options({
      store: optional(v.nullable(v.store())),
      backend: optional(v.backend),
      procRoot: optional(v.path),
      docker: optional(v.boolean),
      project: optional(v.name('project')),
      cwd: optional(v.path),
    }),
  ],
])
export type {
  ManifestPreflightOptions,
  PortsPreflightOptions,
  PreflightPort,
  PreflightReason,
  PreflightResult,
} from './preflight.js'

export const doctor = guardedAsync(doctoring.doctor, [
  [
    'options',
    v.record('doctor options', {
      manifest: v.nullable(v.manifest),
      searchedFrom: optional(v.string),
      project: optional(v.string),
      store: v.nullable(v.store('recordHealth')),
      registryLocation: v.string,
      registryError: v.anything,
      backend: optional(v.backend),
      procRoot: optional(v.path),
      timeoutMs: optional(v.duration),
    }),
  ],
])
export const portSubject = guarded(doctoring.portSubject, [['port', v.preflightPort]])
export const toJsonDoctor = guarded(doctoring.toJsonDoctor, [['report', v.doctorReport]])
export type {
  DoctorCheck,
  DoctorOptions,
  DoctorReport,
  DoctorSection,
  DoctorStatus,
} from './doctor.js'

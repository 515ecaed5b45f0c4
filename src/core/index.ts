/**
 * portwarden's library: the socket inventory, port checks and holder lookups that the CLI and
 * the HTTP server are built on. Nothing here prints, exits or reads argv.
 * @module
 */
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
export { PORT_SPEC_FORMS, expandPortSpecs, formatPortSpec, parsePortSpec } from './port-spec.js'
export type { PortSpec } from './port-spec.js'
export { chooseBackend, listSockets } from './sockets/list-sockets.js'
export type { BackendName, ListSocketsOptions, SocketInventory } from './sockets/list-sockets.js'
export { isListening } from './sockets/query.js'
export { MAX_CHECKED_PORTS, checkPort, checkPorts } from './check-port.js'
export type { CheckOptions, PortCheck } from './check-port.js'
export { whoHolds } from './who-holds.js'
export type { PortHolders, WhoOptions, WhoResult } from './who-holds.js'
export type { OtherProtocolHolders } from './other-protocol.js'
export {
  checkSentence,
  checkSummary,
  describeHolders,
  describeProcesses,
  displayName,
  hiddenHolderReason,
  outOfSightSentence,
  portInUseSentence,
} from './messages.js'
export {
  toJsonAllocation,
  toJsonCheck,
  toJsonConflict,
  toJsonHolder,
  toJsonPortHolders,
  toJsonSocket,
  renderSocketsJson,
} from './wire.js'
export { formatEndpoint, parseHost } from './addresses.js'
export { defaultStateDirectory } from './state-dir.js'
export type { ProbeResult, ProbeTarget } from './bind-probe.js'
export {
  defaultRegistryPath,
  openRegistry,
  registryTimeoutFromEnv,
  resolveRegistryLocation,
} from './registry/open-registry.js'
export type { OpenRegistryOptions } from './registry/open-registry.js'
export type {
  Allocation,
  AllocationFilter,
  HealthCheckSpec,
  HealthStatus,
  RegistryStore,
} from './registry/types.js'
export { DEFAULT_ALLOCATION_RANGE, allocate, preferredPort } from './registry/allocator.js'
export type { AllocateRequest, AllocateResult, PortRange } from './registry/allocator.js'
export { release } from './registry/release.js'
export { findFreePorts, MAX_FIND_COUNT } from './registry/find-free.js'
export { claimFromAllocation, detectConflicts } from './registry/conflicts.js'
export type {
  AllocationClaim,
  Conflict,
  ConflictKind,
  ConflictReport,
} from './registry/conflicts.js'
export { readImportFile } from './registry/import-file.js'
export { defaultProject, findWorktreeRoot, validateName } from './registry/names.js'
export { checkHealth } from './health/check-health.js'
export type { CheckHealthOptions, HealthResult } from './health/check-health.js'
export {
  probeDefault,
  probeHttp,
  probePostgres,
  probeRedis,
  probeTcpConnect,
} from './health/probes.js'
export type { ServiceProbeResult } from './health/probes.js'
export { planFree, planFreeFrom, DEFAULT_WAIT_MS, describeSpecs } from './free/plan-free.js'
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
export { executeFree, planOutcome } from './free/execute-free.js'
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
export {
  FREE_SIGNALS,
  MAX_DURATION_MS,
  formatDuration,
  parseDuration,
  parseSignalName,
} from './free/options.js'
export type { FreeSignal } from './free/options.js'
export {
  identityDifferences,
  isValidPid,
  processExited,
  readIdentity,
  unsafeTarget,
  verifyIdentity,
} from './free/process-identity.js'
export type { IdentityCheck, ProcessIdentity, UnsafeReason } from './free/process-identity.js'
export { signalVerified } from './free/signal.js'
export type { KillFunction, SignalAttempt } from './free/signal.js'
export {
  DOCKER_TIMEOUT_MS,
  defaultDockerSocket,
  findPublishingContainer,
  listDockerContainers,
} from './containers/docker-engine.js'
export type { DockerContainer, DockerLookup } from './containers/docker-engine.js'
export { SYSTEMD_UNIT_DIRS, findSocketUnits } from './free/systemd.js'
export {
  toJsonFreePlan,
  toJsonFreeReport,
  toJsonFreeTarget,
  toJsonRefusal,
  toJsonTargetReport,
} from './free/wire.js'
export { runService, startService } from './run/run-service.js'
export { runWithDependencies } from './run/dependencies.js'
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
export { conflictError, conflictSentence, describeOwners, preflightPorts } from './run/preflight.js'
export type { PortConflict, PreflightOptions } from './run/preflight.js'
export { waitUntilListening } from './run/readiness.js'
export type { PortListener, Readiness, WaitProgress } from './run/readiness.js'
export { formatRunPort, formatRunPorts, portEnvironment, portVariable } from './run/run-env.js'
export type { RunPort } from './run/run-env.js'
export { inForegroundOfTerminal, isSameProcess, processTree } from './run/process-tree.js'
export {
  DEFAULT_WATCH_INTERVAL_MS,
  SocketWatcher,
  socketIdentity,
  watchSockets,
} from './watch/socket-watcher.js'
export type { SocketEvent, SocketListener, WatchOptions } from './watch/socket-watcher.js'
export {
  MANIFEST_FILE,
  findManifest,
  loadManifest,
  parseManifest,
  portName,
  resolveServicePorts,
} from './manifest/load-manifest.js'
export type { LoadManifestOptions, ResolvedPort } from './manifest/load-manifest.js'
export { dependencyOrder } from './manifest/dependencies.js'
export type { Manifest, ManifestPort, ManifestService } from './manifest/types.js'
export { preflight, preflightSpecs, toJsonPreflight, toJsonPreflightPort } from './preflight.js'
export type {
  ManifestPreflightOptions,
  PortsPreflightOptions,
  PreflightPort,
  PreflightReason,
  PreflightResult,
} from './preflight.js'
export { doctor, portSubject, toJsonDoctor } from './doctor.js'
export type {
  DoctorCheck,
  DoctorOptions,
  DoctorReport,
  DoctorSection,
  DoctorStatus,
} from './doctor.js'

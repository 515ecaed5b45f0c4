/**
 * portwarden's library: the socket inventory, port checks and holder lookups that the CLI and
 * the HTTP server are built on. Nothing here prints, exits or reads argv.
 * @module
 */
export type { Family, Holder, Protocol, SocketEntry, SocketState, Warning, WarningCode } from './types.js'
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
} from './wire.js'
export { formatEndpoint, parseHost } from './addresses.js'
export type { ProbeResult, ProbeTarget } from './bind-probe.js'
export { openRegistry, defaultRegistryPath, resolveRegistryLocation } from './registry/open-registry.js'
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
export type { AllocationClaim, Conflict, ConflictKind, ConflictReport } from './registry/conflicts.js'
export { readImportFile } from './registry/import-file.js'
export { defaultProject, findWorktreeRoot, validateName } from './registry/names.js'
export { checkHealth } from './health/check-health.js'
export type { CheckHealthOptions, HealthResult } from './health/check-health.js'
export { probeHttp, probePostgres, probeRedis, probeTcpConnect } from './health/probes.js'
export type { ServiceProbeResult } from './health/probes.js'

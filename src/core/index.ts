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
  portInUseSentence,
} from './messages.js'
export { toJsonCheck, toJsonHolder, toJsonPortHolders, toJsonSocket } from './wire.js'
export { formatEndpoint, parseHost } from './addresses.js'
export type { ProbeResult, ProbeTarget } from './bind-probe.js'

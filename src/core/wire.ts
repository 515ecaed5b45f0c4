import type { PortCheck } from './check-port.js'
import { checkSentence, portInUseSentence } from './messages.js'
import type { Holder, SocketEntry } from './types.js'
import type { PortHolders } from './who-holds.js'

/** The wire shapes of SPEC.md (snake_case), shared by the CLI's --json and the HTTP API. */
export function toJsonHolder(holder: Holder) {
  return {
    pid: holder.pid,
    name: holder.name,
    command: holder.command,
    user: holder.user,
    started_at: holder.startedAt,
    container: holder.container,
  }
}

export function toJsonSocket(socket: SocketEntry) {
  return {
    protocol: socket.protocol,
    family: socket.family,
    state: socket.state,
    local_address: socket.localAddress,
    local_port: socket.localPort,
    remote_address: socket.remoteAddress,
    remote_port: socket.remotePort,
    inode: socket.inode,
    uid: socket.uid,
    user: socket.user,
    processes: socket.processes.map(toJsonHolder),
  }
}

export function toJsonCheck(check: PortCheck) {
  return {
    port: check.port,
    protocol: check.protocol,
    free: check.free,
    holders: check.holders.map(toJsonSocket),
    allocation: null,
    reason: check.reason,
    message: checkSentence(check),
    warnings: check.warnings.map((w) => w.message),
  }
}

export function toJsonPortHolders(entry: PortHolders) {
  return {
    port: entry.port,
    protocol: entry.protocol,
    in_use: entry.sockets.length > 0,
    message: entry.sockets.length > 0 ? portInUseSentence(entry.protocol, entry.port, entry.sockets) : null,
    holders: entry.sockets.map(toJsonSocket),
    connections: entry.connections,
  }
}

/**
 * The API's JSON shapes, taken from the functions that make them (src/core/wire.ts), so the
 * dashboard and the server cannot drift apart. Type-only imports: nothing of core is bundled.
 */
import type {
  toJsonAllocation,
  toJsonCheck,
  toJsonConflict,
  toJsonHolder,
  toJsonSocket,
} from '../../src/core/wire.js'
import type { toJsonFreePlan, toJsonFreeReport } from '../../src/core/free/wire.js'
import type { toJsonPrunePlan, toJsonPruneReport } from '../../src/core/prune/wire.js'

export type WireHolder = ReturnType<typeof toJsonHolder>
export type WireSocket = ReturnType<typeof toJsonSocket>
export type WireAllocation = ReturnType<typeof toJsonAllocation>
export type WireConflict = ReturnType<typeof toJsonConflict>
export type WireCheck = ReturnType<typeof toJsonCheck>
export type WireFreePlan = ReturnType<typeof toJsonFreePlan>
export type WireFreeReport = ReturnType<typeof toJsonFreeReport>
export type WirePrunePlan = ReturnType<typeof toJsonPrunePlan>
export type WirePruneReport = ReturnType<typeof toJsonPruneReport>

/** An allocation as `GET /api/system/ports` lists it: the registry row and who holds its port. */
export type ManagedAllocation = WireAllocation & { holders?: WireSocket[] }

export interface SystemPorts {
  listening: WireSocket[]
  managed: ManagedAllocation[]
  conflicts: WireConflict[]
  server: { port: number; pid: number }
  /** What the scan could not see (e.g. other users' processes without root). */
  warnings?: string[]
}

export interface SocketEvent {
  event: 'bind' | 'unbind'
  socket: WireSocket
}

/** One socket's identity across events: the watcher's key (src/core/watch/socket-watcher.ts). */
export function socketKey(socket: WireSocket): string {
  return `${socket.protocol}|${socket.local_address}|${socket.local_port}|${socket.inode}`
}

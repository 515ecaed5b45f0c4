/** Evidence and verdict for each process holding the asked sockets (one per pid, not per socket). */
import type { SocketEntry } from '../types.js'
import type { EvidenceContext } from './evidence.js'
import { gatherEvidence } from './evidence.js'
import type { HolderJudgement } from './index.js'
import { judge } from './verdict.js'

export async function judgeHolders(
  shown: readonly SocketEntry[],
  context: EvidenceContext,
): Promise<HolderJudgement[]> {
  const out: HolderJudgement[] = []
  const seen = new Set<number>()
  for (const socket of shown) {
    for (const holder of socket.processes) {
      // Holders without a pid (kernel-owned) have no process to judge: never prunable.
      if (typeof holder.pid !== 'number' || seen.has(holder.pid)) continue
      seen.add(holder.pid)
      const evidence = await gatherEvidence(
        {
          pid: holder.pid,
          port: socket.localPort,
          protocol: socket.protocol,
          startedAt: holder.startedAt,
        },
        context,
      )
      out.push({ pid: holder.pid, evidence, ...judge(evidence) })
    }
  }
  return out
}

/**
 * The judgements on a port's listeners: `everyOnPort` is every socket on the port (connections
 * too, for the activity sign); only the allocations of this port and protocol are consulted.
 */
export function judgePortHolders(
  listeners: readonly SocketEntry[],
  everyOnPort: readonly SocketEntry[],
  key: { port: number; protocol: 'tcp' | 'udp' },
  context: Omit<EvidenceContext, 'sockets'>,
): Promise<HolderJudgement[]> {
  return judgeHolders(listeners, {
    ...context,
    sockets: everyOnPort,
    allocations: (context.allocations ?? []).filter(
      (a) => a.port === key.port && a.protocol === key.protocol,
    ),
  })
}

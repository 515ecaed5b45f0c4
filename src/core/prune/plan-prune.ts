/**
 * `prune`: the project's own leftovers. Finds the processes that hold the project's ports (its
 * registry allocations, its manifest's fixed ports) or listen from inside its directories,
 * judges each on its evidence, and plans to stop only those that are the project's *and* look
 * `stale`, through `free`'s plan (the same safety rules, identities recorded for re-checking).
 * Everything else is reported with the reason it is left alone. Sends nothing.
 */
import type { FreeOptions, FreePlan, HolderTableEntry, PortKey } from '../free/plan-free.js'
import { planFreeFrom } from '../free/plan-free.js'
import type { ProcessMark } from '../process/identity.js'
import { parseProcStatLine } from '../process/parse-proc-pid.js'
import { readProcText } from '../process/read-process.js'
import { childrenOf, descendantsOf, readParentTable } from '../process/tree.js'
import { worktreeGone } from '../registry/gone-worktrees.js'
import type { Allocation } from '../registry/types.js'
import { listSockets } from '../sockets/list-sockets.js'
import { isListening } from '../sockets/query.js'
import type { HolderJudgement } from '../stale/index.js'
import { gatherEvidence, isInside, isReaper, judge, readCwd } from '../stale/index.js'
import type { Holder, KernelHolder, SocketEntry, Warning } from '../types.js'

/** Ask `GET /` of a TCP holder before judging it: a `503` is a sign. Bounded, loopback only. */
export const PRUNE_HTTP_TIMEOUT_MS = 500

export interface PruneScope {
  project: string
  /** Directories whose processes are the project's: its worktree (or manifest directory). */
  roots: string[]
  /** Ports the manifest declares with a fixed number. */
  manifestPorts: PortKey[]
  /** Every registry allocation (any project: the registry sign needs the others' too). */
  allocations: Allocation[]
}

export interface PruneOptions extends FreeOptions {
  /** Also plan to release the project's allocations whose worktree directory is gone. */
  releaseGone?: boolean
  /** 0: do not ask the service over HTTP. Default PRUNE_HTTP_TIMEOUT_MS. */
  httpTimeoutMs?: number
}

/**
 * `stop`: the project's and stale: planned (unless `free`'s rules refuse it, then `refused`);
 * `not_stale`: the project's, but `in use` or only `maybe stale`; `not_ours`: not started from
 * the project's directories nor recorded for it — reported, never signalled.
 */
export type PruneDecision = 'stop' | 'refused' | 'not_stale' | 'not_ours'

export interface PruneCandidate {
  holder: Holder
  /** The ports it holds that made it a candidate (the project's), else all it listens on. */
  ports: PortKey[]
  judgement: HolderJudgement
  /** Why it is the project's (`cwd inside …`, `recorded for api`), or null when it is not. */
  ours: string | null
  decision: PruneDecision
  /** For `refused`: `free`'s refusal; for the others, the reason in words. */
  why: string
  /**
   * The rest of its process tree, stopped with it, children before parents: its descendants,
   * and, when its launcher was orphaned with it (same process group, re-parented to a reaper),
   * that launcher's whole group above it.
   */
  tree: { below: ProcessMark[]; above: ProcessMark[] }
}

export interface PrunePlan {
  scope: PruneScope
  candidates: PruneCandidate[]
  /** Kernel-held project ports: nothing to signal, only their fix. */
  kernel: { port: PortKey; holder: KernelHolder; user: string }[]
  /** `free`'s plan for the `stop` candidates (and only them). */
  free: FreePlan
  /** With `releaseGone`: the project's allocations whose worktree is gone. */
  gone: Allocation[]
  warnings: Warning[]
}

function keyOf(key: PortKey): string {
  return `${key.protocol}:${key.port}`
}

/** The project's ports: allocated to it, or fixed in its manifest. */
function projectPorts(scope: PruneScope): Set<string> {
  const ports = new Set(scope.manifestPorts.map(keyOf))
  for (const row of scope.allocations) if (row.project === scope.project) ports.add(keyOf(row))
  return ports
}

/** Why a holder is the project's: started from inside its directories, or recorded for it. */
function ownership(pid: number, cwd: string | null, scope: PruneScope): string | null {
  const own = scope.allocations.filter((row) => row.project === scope.project)
  const recorded = own.find((row) => row.pid === pid)
  if (recorded) return `the registry records it for ${recorded.project}/${recorded.service}`
  if (cwd === null) return null
  const dirs = [...scope.roots, ...own.flatMap((row) => (row.worktree ? [row.worktree] : []))]
  const inside = dirs.find((dir) => isInside(cwd, dir))
  return inside === undefined ? null : `it runs in ${inside}`
}

/**
 * The holder's process tree to stop with it. Below: every descendant. Above: when the holder's
 * launcher was orphaned too (`npm run dev` re-parented to init, its `node` child holding the
 * port), the launcher chain of the same process group up to the one a reaper adopted.
 */
function processTreeOf(
  pid: number,
  table: Map<number, { ppid: number; startTicks: number }>,
  children: Map<number, number[]>,
  procRoot: string,
): PruneCandidate['tree'] {
  // Breadth-first reversed: every child before its parent.
  const below = descendantsOf(pid, table, children).reverse()
  const seen = new Set<number>([pid, ...below.map((m) => m.pid)])
  const above: ProcessMark[] = []
  const group = parseProcStatLine(readProcText(`${procRoot}/${pid}/stat`, 'utf8') ?? '')?.pgrp
  let current = table.get(pid)?.ppid
  const chain: ProcessMark[] = []
  while (current !== undefined && current > 1 && !seen.has(current)) {
    seen.add(current)
    const stat = parseProcStatLine(readProcText(`${procRoot}/${current}/stat`, 'utf8') ?? '')
    if (!stat || stat.pgrp !== group) break
    chain.push({ pid: current, startTicks: stat.startTicks })
    if (isReaper(stat.ppid, procRoot)) {
      above.push(...chain)
      break
    }
    current = stat.ppid
  }
  return { below, above }
}

/** The plan: every candidate judged and decided, and `free`'s plan for those to stop. */
export async function planPrune(scope: PruneScope, options: PruneOptions = {}): Promise<PrunePlan> {
  const procRoot = options.procRoot ?? '/proc'
  const inventory = await listSockets({
    all: true,
    backend: options.backend,
    ...(options.procRoot === undefined ? {} : { procRoot: options.procRoot }),
  })
  const sockets = inventory.sockets
  const ours = projectPorts(scope)
  const listeners = sockets.filter((s) => isListening(s.protocol, s.state))
  const byPid = new Map<number, { holder: Holder; sockets: SocketEntry[] }>()
  const kernel: PrunePlan['kernel'] = []
  for (const socket of listeners) {
    const key = { port: socket.localPort, protocol: socket.protocol }
    if (socket.processes.length === 0 && socket.kernel && ours.has(keyOf(key))) {
      if (!kernel.some((k) => keyOf(k.port) === keyOf(key)))
        kernel.push({ port: key, holder: socket.kernel, user: socket.user })
    }
    for (const holder of socket.processes) {
      const entry = byPid.get(holder.pid) ?? { holder, sockets: [] }
      entry.sockets.push(socket)
      byPid.set(holder.pid, entry)
    }
  }

  const table = readParentTable(procRoot)
  const children = childrenOf(table)
  const candidates: PruneCandidate[] = []
  for (const { holder, sockets: held } of byPid.values()) {
    const onOurPorts = held.filter((s) =>
      ours.has(keyOf({ port: s.localPort, protocol: s.protocol })),
    )
    const cwd = readCwd(holder.pid, procRoot).cwd
    const owner = ownership(holder.pid, cwd, scope)
    if (onOurPorts.length === 0 && owner === null) continue
    const shown = onOurPorts.length > 0 ? onOurPorts : held
    const ports = uniquePorts(shown)
    const first = ports[0] as PortKey
    const evidence = await gatherEvidence(
      { pid: holder.pid, port: first.port, protocol: first.protocol, startedAt: holder.startedAt },
      {
        sockets,
        allocations: scope.allocations.filter(
          (a) => a.port === first.port && a.protocol === first.protocol,
        ),
        httpTimeoutMs: options.httpTimeoutMs ?? PRUNE_HTTP_TIMEOUT_MS,
        procRoot,
      },
    )
    const judgement = { pid: holder.pid, evidence, ...judge(evidence) }
    const stale = judgement.verdict === 'stale'
    candidates.push({
      holder,
      ports,
      judgement,
      ours: owner,
      decision: owner === null ? 'not_ours' : stale ? 'stop' : 'not_stale',
      why:
        owner === null
          ? 'not started from this project, nor recorded for it: prune never signals it'
          : stale
            ? 'stale'
            : `${judgement.verdict}: prune stops only what looks stale`,
      tree:
        owner !== null && stale
          ? processTreeOf(holder.pid, table, children, procRoot)
          : { below: [], above: [] },
    })
  }

  const stopping = candidates.filter((c) => c.decision === 'stop')
  const free = await planFreeFrom(
    stopping.flatMap((c) =>
      c.ports.map((p) => ({ from: p.port, to: p.port, protocol: p.protocol })),
    ),
    stopEntries(stopping, listeners),
    options,
    inventory.warnings,
  )
  for (const candidate of stopping) {
    const target = free.targets.find((t) => t.holder.pid === candidate.holder.pid)
    if (target) target.judgement = candidate.judgement
    if (target?.refusal) {
      candidate.decision = 'refused'
      candidate.why = target.refusal.message
    }
  }
  const gone = options.releaseGone
    ? scope.allocations.filter((row) => row.project === scope.project && worktreeGone(row))
    : []
  return { scope, candidates, kernel, free, gone, warnings: inventory.warnings }
}

function uniquePorts(sockets: readonly SocketEntry[]): PortKey[] {
  const out: PortKey[] = []
  for (const s of sockets)
    if (!out.some((p) => p.port === s.localPort && p.protocol === s.protocol))
      out.push({ port: s.localPort, protocol: s.protocol })
  return out
}

/**
 * The holder table `free` plans from: each port a stopping candidate holds, with only the
 * candidates' own processes on its sockets (another holder of the same port is not ours to stop).
 */
function stopEntries(
  stopping: readonly PruneCandidate[],
  listeners: readonly SocketEntry[],
): HolderTableEntry[] {
  const pids = new Set(stopping.map((c) => c.holder.pid))
  const entries = new Map<string, HolderTableEntry>()
  for (const candidate of stopping) {
    for (const port of candidate.ports) {
      if (entries.has(keyOf(port))) continue
      const sockets = listeners
        .filter((s) => s.localPort === port.port && s.protocol === port.protocol)
        .map(({ kernel: _kernel, ...s }) => ({
          ...s,
          processes: s.processes.filter((h) => pids.has(h.pid)),
        }))
        .filter((s) => s.processes.length > 0)
      entries.set(keyOf(port), {
        ...port,
        sockets,
        connections: 0,
        heldOutOfSight: false,
        otherProtocol: null,
      })
    }
  }
  return [...entries.values()]
}

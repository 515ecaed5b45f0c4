/**
 * The shapes of the tools' structured content, declared to MCP clients as each tool's
 * outputSchema. They describe the documents src/core/wire.ts and src/core/free/wire.ts make
 * (the CLI's --json), nothing else: a client (the SDK's Client does) checks every reply against
 * them. Nested parts the documents only pass along stay loose (extra fields allowed).
 */
import { z } from 'zod'

const protocol = z.enum(['tcp', 'udp'])
const port = z.number().int().min(0).max(65535)

const holder = z.looseObject({
  pid: z.number().int(),
  name: z.string(),
  command: z.string(),
  user: z.string(),
  started_at: z.string().nullable(),
  container: z.string().nullable(),
})

const netns = z.looseObject({
  inode: z.number(),
  name: z.string().nullable(),
  container_id: z.string().nullable(),
  host: z.boolean(),
})

export const socket = z.looseObject({
  protocol,
  family: z.enum(['ipv4', 'ipv6']),
  state: z.string(),
  local_address: z.string(),
  local_port: port,
  remote_address: z.string(),
  remote_port: port,
  inode: z.number(),
  uid: z.number(),
  user: z.string(),
  processes: z.array(holder),
  netns: netns.optional(),
})

const publisher = z.looseObject({
  container: z.string().nullable(),
  container_id: z.string().nullable(),
  target: z.string().nullable(),
  rule: z.string().nullable(),
  fix: z.string().nullable(),
})

const otherProtocol = z
  .looseObject({ protocol, message: z.string(), holders: z.array(socket) })
  .nullable()

const otherNamespaces = z
  .array(z.looseObject({ netns, message: z.string(), holders: z.array(socket) }))
  .optional()

export const allocation = z.looseObject({
  id: z.number().int(),
  project: z.string(),
  service: z.string(),
  protocol,
  port,
  created_at: z.string(),
  health_status: z.enum(['unknown', 'healthy', 'unhealthy', 'not_running']),
  last_checked_at: z.string().nullable(),
  health_detail: z.string().nullable(),
  health_check: z.looseObject({ kind: z.string() }).nullable(),
  host: z.string(),
  pid: z.number().int().nullable(),
  worktree: z.string().nullable(),
})

const conflict = z.looseObject({
  kind: z.enum(['registry_conflict', 'system_conflict', 'allocation_mismatch']),
  protocol,
  port,
  verified: z.boolean(),
  message: z.string(),
  resolution: z.string(),
  allocations: z.array(z.looseObject({ project: z.string(), service: z.string() })),
  holders: z.array(socket),
})

const refusal = z.looseObject({
  code: z.string(),
  message: z.string(),
  suggestion: z.string().nullable(),
  command: z.string().nullable(),
  permission: z.boolean(),
})

const freeTarget = z.looseObject({
  pid: z.number().int(),
  name: z.string(),
  ports: z.array(z.string()),
  action: z.enum(['signal', 'refuse']),
  refusal: refusal.nullable(),
  caveats: z.array(z.string()),
})

const freeHeader = {
  outcome: z.enum(['freed', 'not_freed', 'nothing_to_free', 'permission_denied']),
  signal: z.string(),
  wait_ms: z.number(),
  kill_after_ms: z.number().nullable(),
  warnings: z.array(z.string()),
}

/** `list --json` is an array; structured content is an object, so the array is `sockets`. */
export const listingDocument = z.looseObject({ sockets: z.array(socket) })

export const whoDocument = z.looseObject({
  ports: z.array(
    z.looseObject({
      port,
      protocol,
      in_use: z.boolean(),
      message: z.string().nullable(),
      holders: z.array(socket),
      connections: z.number().int(),
      publishers: z.array(publisher),
      other_protocol: otherProtocol,
      other_namespaces: otherNamespaces,
      netns: netns.optional(),
    }),
  ),
})

export const checkDocument = z.looseObject({
  ports: z.array(
    z.looseObject({
      port,
      protocol,
      free: z.boolean(),
      holders: z.array(socket),
      allocation: allocation.nullable(),
      reason: z.enum(['in_use', 'bind_failed', 'published']).nullable(),
      message: z.string().nullable(),
      publishers: z.array(publisher),
      other_protocol: otherProtocol,
      other_namespaces: otherNamespaces,
      warnings: z.array(z.string()),
    }),
  ),
})

export const foundDocument = z.looseObject({ protocol, ports: z.array(port) })

export const allocatedDocument = allocation.extend({ created: z.boolean() })

export const releasedDocument = z.looseObject({ released: z.array(allocation) })

export const statusDocument = z.looseObject({
  registry: z.string(),
  allocations: z.array(allocation.extend({ worktree_gone: z.boolean() })),
  conflicts: z.array(conflict).optional(),
  summary: z
    .looseObject({
      registry_conflict: z.number().int(),
      system_conflict: z.number().int(),
      allocation_mismatch: z.number().int(),
      allocations: z.number().int(),
    })
    .optional(),
})

/** `free --dry-run --json` (no `confirm`) or `free --yes --json` (with it). */
export const freeDocument = z.union([
  z.looseObject({
    dry_run: z.literal(true),
    ...freeHeader,
    ports: z.array(
      z.looseObject({ port, protocol, held: z.boolean(), blockers: z.array(refusal) }),
    ),
    targets: z.array(freeTarget),
  }),
  z.looseObject({
    dry_run: z.literal(false),
    ...freeHeader,
    elapsed_ms: z.number(),
    ports: z.array(
      z.looseObject({
        port,
        protocol,
        status: z.enum(['freed', 'still_held', 'nothing_to_free']),
        message: z.string(),
        refusals: z.array(refusal),
      }),
    ),
    targets: z.array(
      freeTarget.extend({
        outcome: z.string(),
        message: z.string(),
        signals: z.array(z.looseObject({ signal: z.string(), elapsed_ms: z.number() })),
      }),
    ),
  }),
])

const pruneCandidate = z.looseObject({
  pid: z.number().int(),
  name: z.string(),
  ports: z.array(z.string()),
  decision: z.enum(['stop', 'refused', 'not_stale', 'not_ours']),
  why: z.string(),
  ours: z.string().nullable(),
  verdict: z.enum(['stale', 'maybe stale', 'in use']),
  reasons: z.array(z.looseObject({ sign: z.string(), weight: z.string(), text: z.string() })),
})

const pruneHeader = {
  outcome: z.enum(['pruned', 'not_pruned', 'nothing_to_prune', 'permission_denied']),
  project: z.string(),
  roots: z.array(z.string()),
  candidates: z.array(pruneCandidate),
  warnings: z.array(z.string()),
}

/** `prune --dry-run --json` (no `confirm`) or `prune --yes --json` (with it). */
export const pruneDocument = z.union([
  z.looseObject({
    dry_run: z.literal(true),
    ...pruneHeader,
    release: z.array(allocation),
    free: z.looseObject({ dry_run: z.literal(true) }),
  }),
  z.looseObject({
    dry_run: z.literal(false),
    ...pruneHeader,
    released: z.array(allocation),
    tree: z.array(z.looseObject({ pid: z.number().int(), outcome: z.string() })),
    free: z.looseObject({ dry_run: z.literal(false) }),
  }),
])

/** A tool error: the CLI's `--json` error document (`{"error": code, "message", "hint"?}`). */
export const errorDocument = z.looseObject({
  error: z.string(),
  message: z.string(),
  hint: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
})

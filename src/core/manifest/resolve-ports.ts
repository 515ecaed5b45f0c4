import { relative } from 'node:path'
import { PortwardenError, isPortwardenError } from '../errors.js'
import { formatPortSpec } from '../port-spec.js'
import type { PortSpec } from '../port-spec.js'
import { allocate } from '../registry/allocator.js'
import { findFreePorts } from '../registry/find-free.js'
import { findWorktreeRoot } from '../registry/names.js'
import type { Allocation, RegistryStore } from '../registry/types.js'
import type { Protocol } from '../types.js'
import type { Manifest, ManifestPort, ManifestService } from './types.js'

/** One declared port with the number it stands for now. */
export interface ResolvedPort {
  /** The registry name of this port: the service's name for its first port, `web-2` for its second, ... */
  name: string
  protocol: Protocol
  port: number
  from: ManifestPort
}

/**
 * The registry name of the port at `index` (0-based) in a service's `ports`: `web` for the
 * first, `web-2`, `web-3`, ... after it. `"auto"` ports are allocated under this name, so
 * moving an `"auto"` entry within `ports` gives it another allocation.
 */
export function portName(service: string, index: number): string {
  return index === 0 ? service : `${service}-${index + 1}`
}

/** The directory whose processes count as this project's: its git worktree, else the manifest's. */
export function projectRoot(manifest: Manifest): string {
  return findWorktreeRoot(manifest.directory) ?? manifest.directory
}

/**
 * The ports a service gets right now, one per `ports` entry, in order:
 * - a single port is itself;
 * - a range gives the port the registry already records for this project and name when it lies
 *   in the range, else the first port in it that is free to bind and allocated to nobody
 *   (throws `range_exhausted` when there is none);
 * - `"auto"` allocates (idempotently) through the registry for project + `portName(...)`, with
 *   the service's health check on its first port. It needs `store`.
 *
 * Nothing here checks that single ports are free: that is `preflight`'s job.
 */
export async function resolveServicePorts(
  manifest: Manifest,
  service: ManifestService,
  store: RegistryStore | null,
  options: { procRoot?: string } = {},
): Promise<ResolvedPort[]> {
  const resolved: ResolvedPort[] = []
  for (const [index, declared] of service.ports.entries()) {
    const name = portName(service.name, index)
    if (declared.kind === 'auto') {
      if (!store) {
        throw new PortwardenError(
          'invalid_request',
          `${service.name}'s port "${declared.text}" is allocated by the registry, but no registry was given.`,
          { hint: 'Open one with openRegistry() (the CLI does), or declare a fixed port.' },
        )
      }
      const { allocation } = await allocate(
        store,
        {
          project: manifest.project,
          service: name,
          protocol: declared.protocol,
          healthCheck: index === 0 ? (service.health ?? undefined) : undefined,
          worktree: projectRoot(manifest),
        },
        options,
      )
      resolved.push({ name, protocol: declared.protocol, port: allocation.port, from: declared })
    } else if (declared.spec.from === declared.spec.to) {
      resolved.push({
        name,
        protocol: declared.spec.protocol,
        port: declared.spec.from,
        from: declared,
      })
    } else {
      const picked = await pickFromRange(manifest.project, name, declared.spec, store, options)
      if (picked.port === null) {
        throw new PortwardenError(
          'range_exhausted',
          `No free ${declared.spec.protocol.toUpperCase()} port for ${service.name} in ${formatPortSpec(declared.spec)} (${relative(process.cwd(), manifest.path) || manifest.path}): every port there is in use or allocated.`,
          {
            hint: `See who holds them with \`portwarden preflight\`, or widen the range in ${manifest.path}.`,
            details: {
              service: service.name,
              range: `${declared.spec.from}-${declared.spec.to}`,
              protocol: declared.spec.protocol,
            },
          },
        )
      }
      resolved.push({ name, protocol: declared.spec.protocol, port: picked.port, from: declared })
    }
  }
  return resolved
}

/** The allocation the registry holds for this project's port `name`, or null. */
export async function ownAllocation(
  store: RegistryStore | null,
  project: string,
  name: string,
  protocol: Protocol,
): Promise<Allocation | null> {
  if (!store) return null
  const [found] = await store.list({ project, service: name, protocol })
  return found ?? null
}

/**
 * The port a range stands for now: the allocation of `project`'s port `name` inside it, else
 * the first free one (`name` null: no allocation of its own, as for `preflight --port`).
 */
export async function pickFromRange(
  project: string,
  name: string | null,
  spec: PortSpec,
  store: RegistryStore | null,
  options: { procRoot?: string } = {},
): Promise<{ port: number | null; allocation: Allocation | null }> {
  const own = name === null ? null : await ownAllocation(store, project, name, spec.protocol)
  if (own && own.port >= spec.from && own.port <= spec.to)
    return { port: own.port, allocation: own }
  try {
    const { ports } = await findFreePorts({
      protocol: spec.protocol,
      range: { from: spec.from, to: spec.to },
      count: 1,
      store,
      procRoot: options.procRoot,
    })
    return { port: ports[0] ?? null, allocation: null }
  } catch (error) {
    if (isPortwardenError(error) && error.code === 'range_exhausted')
      return { port: null, allocation: null }
    throw error
  }
}

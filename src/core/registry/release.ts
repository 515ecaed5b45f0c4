import { PortwardenError } from '../errors.js'
import type { Protocol } from '../types.js'
import { validateName, validatePort } from './names.js'
import type { Allocation, RegistryStore } from './types.js'

export type ReleaseRequest =
  { project: string; service: string; protocol?: Protocol } | { port: number; protocol: Protocol }

/** Removes allocations; `not_found` when there was nothing to remove. */
export async function release(
  store: RegistryStore,
  request: ReleaseRequest,
): Promise<Allocation[]> {
  let removed: Allocation[]
  let what: string
  if ('port' in request) {
    validatePort(request.port)
    removed = await store.remove({ port: request.port, protocol: request.protocol })
    what = `${request.protocol.toUpperCase()} port ${request.port}`
  } else {
    validateName('project', request.project)
    validateName('service', request.service)
    removed = await store.remove({
      project: request.project,
      service: request.service,
      protocol: request.protocol,
    })
    what = `${request.service} of project ${request.project}`
  }
  if (removed.length === 0) {
    throw new PortwardenError(
      'not_found',
      `Nothing to release: no allocation for ${what} in ${store.location}.`,
      {
        hint: 'See what is allocated with `portwarden status`.',
      },
    )
  }
  return removed
}

/**
 * Releases from the registry at `location`, or, when there is none yet (`store` null), says that
 * nothing can be released there; `hint` says, in the caller's terms, how to see what is allocated.
 */
export function releaseIfRegistry(
  store: RegistryStore | null,
  request: ReleaseRequest,
  location: string,
  hint: string,
): Promise<Allocation[]> {
  if (store) return release(store, request)
  throw new PortwardenError(
    'not_found',
    `Nothing to release: there is no registry at ${location} yet.`,
    { hint },
  )
}

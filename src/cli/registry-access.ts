import type { Allocation, RegistryStore } from '../core/registry/types.js'
import * as registry from '../core/registry/open-registry.js'
import { openRegistry } from '../core/registry/open-registry.js'

export interface RegistryOptions {
  registry?: string
}

/** Opens (creating it when needed) the registry for one command, and always closes it. */
export function withRegistry<T>(
  options: RegistryOptions,
  work: (store: RegistryStore) => Promise<T>,
): Promise<T> {
  return registry.withRegistry({ location: options.registry }, work)
}

/**
 * For commands that only read or remove: a registry file that does not exist yet is not made;
 * `work` gets null instead (nothing is allocated).
 */
export function withExistingRegistry<T>(
  options: RegistryOptions,
  work: (store: RegistryStore | null) => Promise<T>,
): Promise<T> {
  return registry.withExistingRegistry({ location: options.registry }, work)
}

/** The registry when it exists (a PostgreSQL URL always does), else null: looking creates nothing. */
export function openExistingRegistry(options: RegistryOptions): Promise<RegistryStore | null> {
  return openRegistry({ location: options.registry, create: false })
}

/**
 * The existing registry, for commands the socket tables can answer without it: one that cannot
 * be opened is skipped, with the warning `skipped(reason)` words.
 */
export async function consultRegistry(
  options: RegistryOptions,
  skipped: (reason: string) => string,
): Promise<{ store: RegistryStore | null; warnings: string[] }> {
  try {
    return { store: await openExistingRegistry(options), warnings: [] }
  } catch (error) {
    const reason = (error instanceof Error ? error.message : String(error)).replace(/\.$/, '')
    return { store: null, warnings: [skipped(reason)] }
  }
}

/** The existing registry's allocations for the stale evidence; a warning when unreadable. */
export function allocationsForEvidence(
  options: RegistryOptions,
): Promise<{ allocations: Allocation[]; warnings: string[] }> {
  return registry.allocationsForEvidence({ location: options.registry })
}

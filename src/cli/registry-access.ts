import type { RegistryStore } from '../core/registry/types.js'
import { openRegistry } from '../core/registry/open-registry.js'

export interface RegistryOptions {
  registry?: string
}

/** Opens (creating it when needed) the registry for one command, and always closes it. */
export async function withRegistry<T>(
  options: RegistryOptions,
  work: (store: RegistryStore) => Promise<T>,
): Promise<T> {
  const store = await openRegistry({ location: options.registry })
  try {
    return await work(store)
  } finally {
    await store.close()
  }
}

/**
 * For commands that only read or remove: a registry file that does not exist yet is not made;
 * `work` gets null instead (nothing is allocated).
 */
export async function withExistingRegistry<T>(
  options: RegistryOptions,
  work: (store: RegistryStore | null) => Promise<T>,
): Promise<T> {
  const store = await openRegistry({ location: options.registry, create: false })
  try {
    return await work(store)
  } finally {
    await store?.close()
  }
}

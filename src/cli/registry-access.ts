import type { RegistryStore } from '../core/registry/types.js'
import { openRegistry } from '../core/registry/open-registry.js'

export interface RegistryOptions {
  registry?: string
}

/** Opens the registry for one command and always closes it. */
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

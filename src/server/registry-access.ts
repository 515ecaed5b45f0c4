import { openRegistry, resolveRegistryLocation } from '../core/registry/open-registry.js'
import type { RegistryStore } from '../core/registry/types.js'

/**
 * The registry for the server's lifetime, opened on first use. Reads never create it (an
 * absent registry has no allocations); the first create does.
 */
export class RegistryAccess {
  readonly location: string
  private store: Promise<RegistryStore | null> | null = null

  constructor(location?: string) {
    this.location = resolveRegistryLocation(location)
  }

  /** The open registry, or null when it does not exist yet. */
  async existing(): Promise<RegistryStore | null> {
    this.store ??= openRegistry({ location: this.location, create: false })
    const opened = this.store
    try {
      const store = await opened
      if (store === null && this.store === opened) this.store = null
      return store
    } catch (error) {
      if (this.store === opened) this.store = null
      throw error
    }
  }

  /** The registry, created when it does not exist yet. */
  async writable(): Promise<RegistryStore> {
    const store = await this.existing()
    if (store) return store
    this.store ??= openRegistry({ location: this.location })
    return (await this.store) as RegistryStore
  }

  async close(): Promise<void> {
    const opened = this.store
    this.store = null
    const store = await opened?.catch(() => null)
    await store?.close()
  }
}

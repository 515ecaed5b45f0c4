import { listSockets } from '../core/sockets/list-sockets.js'
import type { SocketInventory } from '../core/sockets/list-sockets.js'

/**
 * The listening sockets with their holders, read for many requests at once: a request that
 * arrives while a scan runs waits for the next one (its answer is never older than the request),
 * and every request waiting then shares that scan. Fifty clients cost one scan at a time.
 */
export class InventoryScanner {
  private current: Promise<SocketInventory> | null = null
  private next: Promise<SocketInventory> | null = null

  private readonly onScanned: ((seconds: number) => void) | undefined

  constructor(onScanned?: (seconds: number) => void) {
    this.onScanned = onScanned
  }

  scan(): Promise<SocketInventory> {
    if (this.current === null) {
      this.current = this.run().finally(() => (this.current = null))
      return this.current
    }
    this.next ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.next = null
        return this.scan()
      })
    return this.next
  }

  private async run(): Promise<SocketInventory> {
    const started = performance.now()
    const inventory = await listSockets()
    this.onScanned?.((performance.now() - started) / 1000)
    return inventory
  }
}

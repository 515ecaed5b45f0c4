import { checkPort } from '../core/check-port.js'
import type { PortCheck } from '../core/check-port.js'
import { listSockets } from '../core/sockets/list-sockets.js'
import type { SocketInventory } from '../core/sockets/list-sockets.js'
import type { Protocol } from '../core/types.js'
import { SharedRuns } from './shared-runs.js'

/**
 * The listening sockets with their holders, and port checks, each read once for all the
 * requests waiting for it (see SharedRuns): under load the server costs one scan at a time.
 */
export class InventoryScanner {
  private readonly scans = new SharedRuns<SocketInventory>()
  private readonly checks = new SharedRuns<PortCheck>()
  private readonly onScanned: ((seconds: number) => void) | undefined

  constructor(onScanned?: (seconds: number) => void) {
    this.onScanned = onScanned
  }

  scan(): Promise<SocketInventory> {
    return this.scans.run('listening', async () => {
      const started = performance.now()
      const inventory = await listSockets()
      this.onScanned?.((performance.now() - started) / 1000)
      return inventory
    })
  }

  check(port: number, protocol: Protocol): Promise<PortCheck> {
    // As the CLI's `check`: a free port says what holds it over the other protocol.
    return this.checks.run(`${protocol}:${port}`, () =>
      checkPort(port, protocol, { otherProtocol: true }),
    )
  }
}

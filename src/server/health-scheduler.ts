import { checkHealth } from '../core/health/check-health.js'
import type { RegistryAccess } from './registry-access.js'

/**
 * `serve --health-interval`: re-runs the registry's health checks on a schedule, so statuses stay
 * fresh without a cron job. One run at a time; a run that fails is retried at the next tick.
 */
export class HealthScheduler {
  private timer: NodeJS.Timeout | null = null
  private running: Promise<void> | null = null
  lastError: unknown = null
  runs = 0

  private readonly registry: RegistryAccess
  private readonly intervalMs: number

  constructor(registry: RegistryAccess, intervalMs: number) {
    this.registry = registry
    this.intervalMs = intervalMs
  }

  start(): void {
    if (this.timer !== null) return
    void this.runOnce()
    this.timer = setInterval(() => void this.runOnce(), this.intervalMs)
  }

  /** Checks every allocation now (skipped while a run is in progress). */
  runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        const store = await this.registry.existing()
        if (store) await checkHealth(store)
        this.lastError = null
      } catch (error) {
        this.lastError = error
      } finally {
        this.runs++
        this.running = null
      }
    })()
    return this.running
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
    await this.running
  }
}

/**
 * Starts test/fixtures/hold-port.py, a python3 process that holds a port (options: ignore
 * SIGTERM, answer HTTP with a status, rename itself, UDP ...) and records every signal it gets.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Started } from './processes.js'
import { FIXTURES, PYTHON, startProcess } from './processes.js'

export interface PortHolder {
  pid: number
  port: number
  comm: string
  process: Started
  /** The signals the fixture received, in order. */
  signals: () => string[]
  alive: () => boolean
}

let serial = 0

/** `dir` receives the signal record; stop it with `stopStarted` (helpers/processes.ts). */
export async function startPortHolder(
  dir: string,
  args: readonly string[] = [],
): Promise<PortHolder> {
  const record = join(dir, `signals-${process.pid}-${serial++}.txt`)
  const proc = startProcess(PYTHON, [`${FIXTURES}hold-port.py`, '--record', record, ...args])
  const ready = JSON.parse((await proc.waitForLine(/^READY (.*)$/))[1] as string) as {
    pid: number
    port: number
    comm: string
  }
  return {
    ...ready,
    process: proc,
    signals: () =>
      existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter(Boolean) : [],
    alive: () => !proc.hasExited(),
  }
}

/**
 * P6 and the preflight→bind window (A7): two `run`s for different projects declaring the same
 * port at the same moment: exactly one starts; the other exits 1 with the conflict sentence
 * naming the winner, and leaves nothing running. And a port taken by someone else while the
 * service is still starting: run stops its service and names the newcomer.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import type { Proc } from './run-helpers.js'
import {
  SERVICE_FIXTURE,
  eventually,
  freePort,
  processesInGroup,
  removeTempDirs,
  startCli,
  startProc,
  startTicks,
  stopProcs,
  tempDir,
} from './run-helpers.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

afterEach(stopProcs)
afterAll(removeTempDirs)

const ROUNDS = 12
const node = process.execPath

/** `ready` once run reports the service ready, `exited` if run ends first. */
async function settle(run: Proc): Promise<'ready' | 'exited'> {
  try {
    await run.waitErr(/^portwarden: ready: web on /, 20_000)
    return 'ready'
  } catch (error) {
    if (run.hasExited()) return 'exited'
    throw error
  }
}

describe('P6: two runs race for one port', () => {
  it(`exactly one starts, the other exits 1 naming the winner (${ROUNDS} rounds)`, async () => {
    const state = tempDir()
    const service = [node, SERVICE_FIXTURE, JSON.stringify({ listen: ['PORT'] })]
    for (let round = 0; round < ROUNDS; round++) {
      const port = await freePort()
      const runs = ['alpha', 'beta'].map((project) =>
        startCli(
          ['run', '--project', project, '--name', 'web', '--port', String(port), '--', ...service],
          { state },
        ),
      )
      const outcomes = await Promise.all(runs.map(settle))
      const context = `round ${round}, port ${port}: ${outcomes.join('/')}\n${runs.map((r) => r.err.join('\n')).join('\n---\n')}`
      expect(
        outcomes.filter((o) => o === 'ready'),
        context,
      ).toHaveLength(1)
      const winner = runs[outcomes.indexOf('ready')] as Proc
      const loser = runs[outcomes.indexOf('exited')] as Proc
      const ready = JSON.parse((await winner.waitOut(/^READY (.*)$/))[1] as string) as {
        pid: number
      }
      expect((await loser.waitExit()).code, context).toBe(1)
      expect(loser.err.join('\n'), context).toContain(
        `portwarden: port conflict on ${port}: already in use by node (pid ${ready.pid})`,
      )
      // The loser left nothing behind (its service, if it had started one, is gone).
      expect(processesInGroup(loser.pid), context).toEqual([])
      // The winner runs on, undisturbed, until told to stop.
      expect(winner.hasExited()).toBe(false)
      process.kill(winner.pid, 'SIGTERM')
      expect((await winner.waitExit()).code).toBe(0)
      expect(processesInGroup(winner.pid)).toEqual([])
    }
  })
})

describe('a port taken while the service is starting', () => {
  it('run stops its service and exits 1, naming the process that took the port', async () => {
    const state = tempDir()
    const port = await freePort()
    const record = join(state, 'record.json')
    const run = startCli(
      [
        'run',
        '--name',
        'web',
        '--port',
        String(port),
        '--',
        node,
        SERVICE_FIXTURE,
        JSON.stringify({ listen: ['PORT'], delayMs: 20_000, record }),
      ],
      { state },
    )
    await eventually(() => existsSync(record), 'the service to start')
    const service = JSON.parse(readFileSync(record, 'utf8')) as { pid: number }
    const ticks = startTicks(service.pid)
    // Someone else binds the port while the service is still getting ready.
    const intruder = startProc(node, [SERVICE_FIXTURE, JSON.stringify({ listenPorts: [port] })])
    const intruderPid = (
      JSON.parse((await intruder.waitOut(/^READY (.*)$/))[1] as string) as { pid: number }
    ).pid
    const exit = await run.waitExit(10_000)
    const stderr = run.err.join('\n')
    expect(exit.code, stderr).toBe(1)
    expect(stderr).toContain(
      `portwarden: port conflict on ${port}: already in use by node (pid ${intruderPid})`,
    )
    expect(stderr).toContain(`Stopped web (pid ${service.pid}), which could not take ${port}.`)
    expect(startTicks(service.pid) === ticks).toBe(false)
    expect(intruder.hasExited()).toBe(false)
  })
})

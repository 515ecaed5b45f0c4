/**
 * `free` flags pid 1 of a pid namespace before signalling (issue 16): the kernel drops every
 * signal such an init has no handler for (SIGTERM included), and SIGKILL ends every process in
 * its namespace. The holder is a real python3 run by `unshare -p -f` (root only), which
 * installs no SIGTERM handler.
 */
import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { parseJson, runCli } from './helpers/cli.js'
import { commandExists, isRoot, startSockets, stopStarted } from './helpers/processes.js'

const skip = (() => {
  if (!isRoot()) return 'needs root for unshare -p'
  if (!commandExists('unshare')) return 'unshare (util-linux) is not installed'
  const probe = spawnSync('unshare', ['-p', '-f', '--mount-proc', 'true'], { encoding: 'utf8' })
  return probe.status === 0 ? null : `unshare -p does not work here: ${probe.stderr.trim()}`
})()

interface TargetJson {
  pid: number
  action: string
  caveats: string[]
}

describe.skipIf(skip !== null)(
  `pid 1 of a pid namespace${skip ? ` — skipped: ${skip}` : ''}`,
  () => {
    afterEach(stopStarted)

    it('the plan says SIGTERM is ignored and SIGKILL ends the namespace; SIGTERM leaves it running, exit 1', async () => {
      const fixture = await startSockets(['tcp@127.0.0.1'], {
        wrap: ['unshare', '-p', '-f', '--kill-child'],
      })
      const port = fixture.sockets[0]!.port
      const plan = parseJson<{ targets: TargetJson[] }>(
        await runCli(['free', String(port), '--dry-run', '--json']),
      )
      // The fixture reports its own pid as the namespace sees it (1); the host pid is the holder's.
      const target = plan.targets[0]!
      expect(target.action).toBe('signal')
      expect(target.caveats).toEqual([
        `pid ${target.pid} is pid 1 of its own pid namespace and has no SIGTERM handler: SIGTERM is ignored; SIGKILL ends the whole namespace (every process in it)`,
      ])
      const human = await runCli(['free', String(port), '--dry-run'])
      expect(human.stdout).toContain('note: pid')
      expect(human.stdout).toContain('SIGTERM is ignored')

      const result = await runCli(['free', String(port), '--yes', '--wait', '500ms'])
      expect(result.code, result.stdout + result.stderr).toBe(1)
      expect(result.stdout).toContain('still held')
      expect(fixture.process.hasExited()).toBe(false)
    })

    it('a handler for the signal clears the flag; --kill-after still says what SIGKILL does', async () => {
      const fixture = await startSockets(['tcp@127.0.0.1'], {
        wrap: ['unshare', '-p', '-f', '--kill-child'],
      })
      const port = fixture.sockets[0]!.port
      // python3 handles SIGINT (KeyboardInterrupt): no caveat for it.
      const plan = parseJson<{ targets: TargetJson[] }>(
        await runCli(['free', String(port), '--dry-run', '--json', '--signal', 'INT']),
      )
      expect(plan.targets[0]!.caveats).toEqual([])
      const withKill = parseJson<{ targets: TargetJson[] }>(
        await runCli([
          'free',
          String(port),
          '--dry-run',
          '--json',
          '--signal',
          'INT',
          '--kill-after',
          '1s',
        ]),
      )
      expect(withKill.targets[0]!.caveats).toEqual([
        `pid ${withKill.targets[0]!.pid} is pid 1 of its own pid namespace: SIGKILL ends the whole namespace (every process in it)`,
      ])
    })

    it('an ordinary process has no caveat', async () => {
      const fixture = await startSockets(['tcp@127.0.0.1'])
      const plan = parseJson<{ targets: TargetJson[] }>(
        await runCli([
          'free',
          String(fixture.sockets[0]!.port),
          '--dry-run',
          '--json',
          '--kill-after',
          '1s',
        ]),
      )
      expect(plan.targets[0]).toMatchObject({ pid: fixture.pid, caveats: [] })
    })
  },
)

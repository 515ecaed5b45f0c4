/**
 * Issue 15: a whole-listing watcher on the netlink backend ends a poll early when the dump's
 * bytes equal the last snapshot's, and still never misses a change. Run in an empty network
 * namespace (unshare -n; needs root and the addon), where nothing else opens sockets, so the
 * "unchanged" polls are certain rather than likely.
 */
import { spawnSync } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { nativeAddon } from '../src/core/sockets/native-addon.js'
import { FIXTURES } from './helpers/processes.js'

const skip = (() => {
  if (process.getuid?.() !== 0) return 'needs root (unshare -n)'
  if (!nativeAddon().addon) return 'needs the native addon (the netlink backend)'
  const probe = spawnSync('unshare', ['-n', 'true'])
  return probe.status === 0 ? null : 'unshare -n does not work here'
})()
if (skip) console.warn(`[linux/watch-unchanged] SKIPPING: ${skip}`)

describe('SocketWatcher on an unchanged table', () => {
  it.skipIf(skip !== null)(
    `ends a poll at the dump when nothing changed, and still sees a bind and an unbind${skip ? ` [SKIPPED: ${skip}]` : ''}`,
    () => {
      const run = spawnSync(
        'unshare',
        [
          '-n',
          'sh',
          '-c',
          `ip link set lo up && exec "${process.execPath}" "$0"`,
          `${FIXTURES}watch-unchanged.mjs`,
        ],
        { encoding: 'utf8', timeout: 30_000 },
      )
      expect(run.status, run.stderr).toBe(0)
      const { port, pid, steps } = JSON.parse(run.stdout.trim()) as {
        port: number
        pid: number
        steps: Record<string, { polls: number; unchanged: number } & unknown[]>
      }
      // The baseline, then two polls of the same bytes.
      expect(steps.quiet).toMatchObject({ polls: 3, unchanged: 2 })
      expect(steps.bind).toEqual([['bind', port, [pid]]])
      expect(steps.afterBind).toMatchObject({ polls: 4, unchanged: 2 })
      expect(steps.steady).toMatchObject({ polls: 5, unchanged: 3 })
      expect(steps.unbind).toEqual([['unbind', port]])
      // The rescan of unchanged tables saw the child that took the listener: a new inventory.
      const rescan = steps.rescan as unknown as {
        renewed: boolean
        holders: number[]
        fullRescans: number
        child: number
      }
      expect(rescan.renewed).toBe(true)
      expect(rescan.fullRescans).toBeGreaterThanOrEqual(1)
      expect(rescan.holders).toEqual([pid, rescan.child].sort((a, b) => a - b))
      // One listener's record, the same Buffer while it stands, a new (empty) one once it is gone.
      expect(steps.dumps).toEqual({
        bytes: nativeAddon().addon?.recordSize,
        reused: true,
        renewed: true,
        left: 0,
      })
    },
  )
})

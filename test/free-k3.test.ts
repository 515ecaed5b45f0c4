/**
 * K3 (docs/reliability.md): natural pid reuse while `portwarden free --kill-after` is waiting.
 *
 * Everything runs in a private pid namespace (`unshare -p --mount-proc`, root only) whose
 * pid_max is set to the host's 32768, so nothing else competes for pids and cleanup is one kill:
 * when the namespace's init (the driver below) dies, the kernel kills every process in it.
 * No ns_last_pid: the kernel hands the pid out again by itself, after a wrap of the pid space.
 *
 * The driver starts a holder that ignores SIGTERM, starts the CLI (`free PORT --yes --kill-after`),
 * waits until the holder records SIGTERM, takes a copy of its listening socket (pidfd_getfd, so
 * the port never looks released), allocates ~32k pids (thread creation, ~30k/s, then forks) until
 * the next pid is the holder's, SIGKILLs and reaps the holder, and forks once more: the child gets
 * the holder's pid and becomes the decoy (same exe, comm and uid; only the start time differs),
 * inheriting the socket, recording every catchable signal. The CLI's SIGKILL check then meets
 * the decoy under the recorded pid.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import {
  FIXTURES,
  PYTHON,
  commandExists,
  isRoot,
  startProcess,
  stopStarted,
} from './helpers/processes.js'
import { CLI } from './helpers/cli.js'

vi.setConfig({ testTimeout: 60_000, hookTimeout: 30_000 })

const DRIVER = String.raw`
import ctypes, json, os, signal, socket, subprocess, sys, threading, time

python, fixture, node, cli, work, kill_after, budget = sys.argv[1:8]
deadline = time.monotonic() + float(budget)
libc = ctypes.CDLL(None, use_errno=True)
SYS_PIDFD_GETFD = 438  # x86_64 and aarch64 alike
result = {'reused': False}


def finish(**extra):
    result.update(extra)
    print('RESULT ' + json.dumps(result), flush=True)
    os._exit(0)  # pid 1 of the namespace: the kernel kills everything left in it


def start_ticks(pid):
    with open(f'/proc/{pid}/stat') as f:
        return int(f.read().rsplit(') ', 1)[1].split()[19])


last_tid = [0]


def one_thread():
    last_tid[0] = threading.get_native_id()


def allocate_pid():
    """Allocates (and frees) one pid; returns it."""
    t = threading.Thread(target=one_thread)
    t.start()
    t.join()
    return last_tid[0]


with open('/proc/sys/kernel/pid_max', 'w') as f:  # per namespace since Linux 6.14
    f.write('32768')
with open('/proc/sys/kernel/pid_max') as f:
    result['pidMax'] = int(f.read())
# After a wrap the kernel hands out pids from 300 up: the holder must be above that.
while allocate_pid() < 400:
    pass

holder = subprocess.Popen(
    [python, fixture, '--ignore-term', '--record', f'{work}/holder.txt'],
    stdin=subprocess.PIPE, stdout=subprocess.PIPE)
line = holder.stdout.readline().decode()
if not line.startswith('READY '):
    finish(error=f'holder printed {line!r}')
ready = json.loads(line[6:])
target, port = ready['pid'], ready['port']
result.update(pid=target, port=port, holderStartTicks=start_ticks(target))
free_started = time.monotonic()
free = subprocess.Popen(
    [node, cli, 'free', str(port), '--yes', '--kill-after', kill_after],
    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=work)


def holder_signals():
    try:
        with open(f'{work}/holder.txt') as f:
            return f.read().split()
    except FileNotFoundError:
        return []


while 'SIGTERM' not in holder_signals():
    if time.monotonic() > deadline or free.poll() is not None:
        finish(error='free sent no SIGTERM', freeCode=free.poll())
    time.sleep(0.02)
result['sigtermAfterMs'] = round((time.monotonic() - free_started) * 1000)

# A copy of the holder's listening socket, so that the port stays held throughout.
pidfd = os.pidfd_open(target)
held = None
for fd in os.listdir(f'/proc/{target}/fd'):
    try:
        if not os.readlink(f'/proc/{target}/fd/{fd}').startswith('socket:'):
            continue
    except OSError:
        continue
    copy = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(fd), 0)
    if copy < 0:
        continue
    s = socket.socket(fileno=copy)
    inet = s.family in (socket.AF_INET, socket.AF_INET6)
    if inet and s.getsockname()[1] == port and s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        held = s
        break
    s.close()
os.close(pidfd)
result['socketCopied'] = held is not None

# Natural reuse: allocate pids until the next one handed out is the holder's (it is skipped
# while the holder lives), i.e. until a wrap of the pid space brings us just below it.
loop_started = time.monotonic()
allocated, previous, wrapped = 0, 0, False
while True:
    pid = allocate_pid()
    allocated += 1
    wrapped = wrapped or pid < previous
    previous = pid
    if wrapped and pid >= target - 3:
        break
    if time.monotonic() > deadline or allocated > 100_000:
        finish(error='the pid space did not wrap in time', allocated=allocated, lastPid=pid)

os.kill(target, signal.SIGKILL)  # out of band
holder.wait()  # reaped: the pid is free
killed_at = time.monotonic()

decoy = None
for _ in range(10):
    child = os.fork()
    if child == 0:
        if os.getpid() != target:
            os._exit(0)

        def record(signum, frame):
            fd = os.open(f'{work}/decoy.txt', os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.write(fd, (signal.Signals(signum).name + '\n').encode())
            os.fsync(fd)
            os.close(fd)

        for name in ('SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'):
            signal.signal(getattr(signal, name), record)
        while True:  # holds the inherited socket; only SIGKILL ends it
            signal.pause()
    allocated += 1
    if child == target:
        decoy = child
        break
    os.waitpid(child, 0)
    if child > target:
        break
result.update(allocated=allocated, loopMs=round((killed_at - loop_started) * 1000))
if held is not None:
    held.close()  # the decoy's copy holds the port now
if decoy is None:
    free.kill()
    finish(error=f'the pid {target} was not handed out again', lastPid=child)

result.update(reused=True, decoyStartTicks=start_ticks(decoy))
try:
    out, err = free.communicate(timeout=max(1, deadline - time.monotonic()))
except subprocess.TimeoutExpired:
    free.kill()
    out, err = free.communicate()
time.sleep(0.2)  # a signal sent at the very end would be recorded by now
try:
    with open(f'{work}/decoy.txt') as f:
        decoy_signals = f.read().split()
except FileNotFoundError:
    decoy_signals = []
finish(
    freeCode=free.returncode,
    freeStdout=out.decode(),
    freeStderr=err.decode(),
    freeDoneAfterKillMs=round((time.monotonic() - killed_at) * 1000),
    decoyAlive=os.waitpid(decoy, os.WNOHANG) == (0, 0),
    decoySignals=decoy_signals,
    holderSignals=holder_signals(),
)
`

interface K3Result {
  reused: boolean
  error?: string
  pidMax: number
  pid: number
  port: number
  holderStartTicks: number
  decoyStartTicks: number
  socketCopied: boolean
  allocated: number
  loopMs: number
  sigtermAfterMs: number
  freeCode: number | null
  freeStdout: string
  freeStderr: string
  freeDoneAfterKillMs: number
  decoyAlive: boolean
  decoySignals: string[]
  holderSignals: string[]
}

let dir: string
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pw-free-k3-'))
})
afterEach(stopStarted) // kills unshare's process group; --kill-child takes the namespace with it
afterAll(() => rmSync(dir, { recursive: true, force: true }))

function whyNoNamespace(): string | null {
  if (!isRoot()) return 'needs root for unshare -p and a per-namespace pid_max'
  if (!commandExists('unshare')) return 'unshare (util-linux) is not installed'
  const probe = spawnSync('unshare', [
    '-p',
    '-f',
    '--mount-proc',
    'sh',
    '-c',
    'echo 32768 > /proc/sys/kernel/pid_max',
  ])
  return probe.status === 0
    ? null
    : 'unshare -p --mount-proc with a writable per-namespace pid_max (Linux >= 6.14) is not available here'
}

describe('K3: natural pid reuse during free --kill-after', () => {
  const skip = whyNoNamespace()
  if (skip) console.warn(`[linux/free] SKIPPING K3 natural pid reuse: ${skip}`)

  it.skipIf(skip !== null)(
    'K3 pid reuse, natural (private pid namespace, pid_max 32768, ~32k pid allocations, no ns_last_pid): the holder is SIGKILLed after free sent SIGTERM, a decoy gets its pid and holds the port; free sends it nothing and says "no longer the process that was planned" (fails, not skips, if the pid does not come back)',
    async () => {
      const work = mkdtempSync(join(dir, 'run-'))
      const driver = join(work, 'k3-driver.py')
      writeFileSync(driver, DRIVER)
      const proc = startProcess('unshare', [
        '-p',
        '--kill-child',
        '--mount-proc',
        PYTHON,
        driver,
        PYTHON,
        `${FIXTURES}hold-port.py`,
        process.execPath,
        CLI,
        work,
        '45s', // --kill-after: only the upper bound; free ends ~0.3 s after the holder dies
        '40', // the driver's own budget, in seconds
      ])
      const line = await proc.waitForLine(/^RESULT (.*)$/, 50_000)
      const r = JSON.parse(line[1] as string) as K3Result
      const context = JSON.stringify(r, null, 2)
      console.info(
        `[linux/free] K3: pid ${r.pid} reused after ${r.allocated} pid allocations in ${r.loopMs} ms; free finished ${r.freeDoneAfterKillMs} ms after the holder died`,
      )
      expect(r.error, context).toBeUndefined()
      expect(r.pidMax).toBe(32768)
      expect(r.reused, context).toBe(true)
      expect(r.allocated, context).toBeGreaterThan(30_000) // a real wrap of the pid space
      expect(r.decoyStartTicks, context).not.toBe(r.holderStartTicks)
      expect(r.holderSignals).toEqual(['SIGTERM'])
      // Nothing reached the decoy: alive (no SIGKILL), and no catchable signal recorded.
      expect(r.decoyAlive, context).toBe(true)
      expect(r.decoySignals, context).toEqual([])
      // free noticed: the pid is another process now (or, if it saw the port free, it is gone).
      expect(r.freeStderr, context).not.toMatch(/^\s+at\s/m)
      if (r.socketCopied) {
        // The port never looked released, so free went on to the SIGKILL check and refused.
        expect(r.freeStdout, context).toContain(`Did not signal`)
        expect(r.freeStdout, context).toContain(`pid ${r.pid}`)
        expect(r.freeStdout, context).toContain('is no longer the process that was planned')
        expect(r.freeStdout, context).not.toMatch(/SIGKILL, sent/)
        expect(r.freeStderr, context).toMatch(
          new RegExp(`Did not send SIGKILL to .*\\(pid ${r.pid}\\): pid ${r.pid} is no longer`),
        )
        expect(r.freeCode, context).toBe(1) // not_freed: the decoy still holds the port
      } else {
        expect(r.freeStdout, context).toMatch(/no longer the process that was planned|exited/)
      }
      expect(r.freeDoneAfterKillMs, context).toBeLessThan(10_000)
    },
  )
})

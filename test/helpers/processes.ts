/**
 * Fixture processes for the linux tests: spawned in their own process group, ready when they
 * print their READY line (never after a fixed sleep), and killed by the ids we started them
 * with, in `stopStarted()` (call it from afterEach/afterAll).
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn, spawnSync } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url))

/** The real interpreter behind `python3` (skips pyenv-style shims: faster, and a stable argv). */
export const PYTHON: string = (() => {
  const result = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], {
    encoding: 'utf8',
  })
  const executable = result.stdout?.trim()
  return result.status === 0 && executable ? executable : 'python3'
})()

export interface Started {
  pid: number
  child: ChildProcessWithoutNullStreams
  /** Every stdout line so far. */
  lines: string[]
  stderr: () => string
  /** Resolves with the exit code (or the signal name) once the process has been reaped. */
  exited: Promise<number | string>
  hasExited: () => boolean
  /** Waits for the first stdout line matching `pattern` (already seen lines count). */
  waitForLine: (pattern: RegExp, timeoutMs?: number) => Promise<RegExpExecArray>
}

const started = new Set<Started>()

/**
 * Waiting for a line a child prints, shared by every process starter in the tests: a wait
 * resolves with the first matching line (lines already printed count) and fails, with
 * `describe()` in the message, when the child exits without printing it or the deadline passes.
 * Call `wake()` after each new line and `end()` when the child has exited.
 */
export class LineWaiter {
  private readonly waiters = new Set<() => void>()
  private ended = false
  private readonly describe: () => string

  constructor(describe: () => string) {
    this.describe = describe
  }

  get hasEnded(): boolean {
    return this.ended
  }

  wake(): void {
    for (const waiter of [...this.waiters]) waiter()
  }

  end(): void {
    this.ended = true
    this.wake()
  }

  waitFor(lines: readonly string[], pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        for (const line of lines) {
          const match = pattern.exec(line)
          if (match) {
            finish()
            resolve(match)
            return true
          }
        }
        if (this.ended) {
          finish()
          reject(new Error(`${this.describe()}\nexited before printing ${pattern}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        finish()
        reject(new Error(`${this.describe()}\nprinted no ${pattern} within ${timeoutMs} ms`))
      }, timeoutMs)
      const finish = (): void => {
        clearTimeout(timer)
        this.waiters.delete(listener)
      }
      const listener = (): void => void check()
      if (!check()) this.waiters.add(listener)
    })
  }
}

export function startProcess(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv } = {},
): Started {
  const child = spawn(command, args, {
    cwd: ROOT,
    env: options.env ?? process.env,
    detached: true, // its own process group: stopStarted() kills exactly what we started
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  const lines: string[] = []
  let stderr = ''
  const waiter = new LineWaiter(() => `${command}; stderr:\n${stderr}`)
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (chunk: string) => {
    if (stderr.length < 1 << 16) stderr += chunk
  })
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line)
    waiter.wake()
  })
  const exited = new Promise<number | string>((resolve) => {
    child.once('close', (code, signal) => {
      waiter.end()
      resolve(code ?? signal ?? 'unknown')
    })
  })
  const entry: Started = {
    pid: child.pid,
    child,
    lines,
    stderr: () => stderr,
    exited,
    hasExited: () => waiter.hasEnded,
    waitForLine: (pattern, timeoutMs = 15_000) => waiter.waitFor(lines, pattern, timeoutMs),
  }
  started.add(entry)
  return entry
}

/** Kills (SIGKILL, by process group) every process this file started that is still running. */
export async function stopStarted(): Promise<void> {
  const running = [...started]
  started.clear()
  for (const entry of running) entry.child.stdin.destroy()
  await killGroups(running)
}

/**
 * SIGKILLs the process group of each entry still running (each was started as a group leader,
 * so its children go too) and waits until every one has been reaped.
 */
export async function killGroups(
  entries: readonly { pid: number; hasExited(): boolean; exited: Promise<unknown> }[],
): Promise<void> {
  for (const entry of entries) {
    if (entry.hasExited()) continue
    try {
      process.kill(-entry.pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  await Promise.all(entries.map((entry) => entry.exited))
}

export interface FixtureSocket {
  spec: string
  kind: string
  host: string
  port: number
  /** The socket's inode (fstat of the socket fd: the N of `socket:[N]`); not for timewait. */
  inode?: number
  /** The client end's local address (the kernel's choice of source address). */
  client_host?: string
  client_port?: number
  client_inode?: number
  server_inode?: number
  peer_port?: number
  peer_inode?: number
}

export interface Fixture {
  pid: number
  /** Forked children holding the same sockets (`--fork`). */
  children: number[]
  /** A child that exited and was never reaped (`--zombie`), else null. */
  zombie: number | null
  /** The process name (comm) as the fixture read it back from /proc/self/comm. */
  comm: string
  sockets: FixtureSocket[]
  /** The fixture's argv, as /proc/<pid>/cmdline holds it. */
  argv: string[]
  process: Started
}

/** Starts test/fixtures/sockets.py with these specs and waits for its READY line. */
export async function startSockets(
  specs: readonly string[],
  options: {
    name?: string
    label?: string
    fork?: boolean
    zombie?: boolean
    /** Run the fixture through this command, e.g. ['unshare', '-n']. */
    wrap?: string[]
  } = {},
): Promise<Fixture> {
  const args = [`${FIXTURES}sockets.py`]
  if (options.name !== undefined) args.push('--name', options.name)
  if (options.label !== undefined) args.push('--label', options.label)
  if (options.fork) args.push('--fork')
  if (options.zombie) args.push('--zombie')
  args.push(...specs)
  const wrap = options.wrap ?? []
  const proc =
    wrap.length > 0
      ? startProcess(wrap[0]!, [...wrap.slice(1), PYTHON, ...args])
      : startProcess(PYTHON, args)
  const match = await proc.waitForLine(/^READY (.*)$/)
  const ready = JSON.parse(match[1] as string) as Omit<Fixture, 'argv' | 'process'>
  return { ...ready, argv: [PYTHON, ...args], process: proc }
}

/** The one socket a fixture opened for `spec` (the first, when repeated). */
export function socketOf(fixture: Fixture, spec: string): FixtureSocket {
  const found = fixture.sockets.find((s) => s.spec === spec)
  if (!found) throw new Error(`fixture has no socket for ${spec}`)
  return found
}

export function isRoot(): boolean {
  return process.getuid?.() === 0
}

export function commandExists(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0
}

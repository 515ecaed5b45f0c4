/**
 * Shared by the `run` and `watch` tests: the built CLI (or a fixture) as a real process in its
 * own process group, its stdout and stderr split into lines as they come, waits with deadlines
 * (never fixed sleeps), random free ports, throwaway state directories, and cleanup by the
 * process groups we started.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { spawn } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { CLI } from './helpers/cli.js'
import { FIXTURES, LineWaiter, ROOT, killGroups } from './helpers/processes.js'
import { portIsFree } from './helpers/sockets.js'

export const SERVICE_FIXTURE = `${FIXTURES}run-service.mjs`

export interface Proc {
  pid: number
  child: ChildProcessWithoutNullStreams
  out: string[]
  err: string[]
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  hasExited(): boolean
  /** The first stdout (or stderr) line matching `pattern`, lines already seen included. */
  waitOut(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  waitErr(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>
  /** Resolves with the exit, or rejects after the deadline. */
  waitExit(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

const started = new Set<Proc>()

export function startProc(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Proc {
  const child = spawn(command, args, {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? process.env,
    detached: true, // own process group: cleanup kills exactly what we started
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  if (child.pid === undefined) throw new Error(`could not start ${command}`)
  const out: string[] = []
  const err: string[] = []
  const describe = () =>
    `${command} ${args.join(' ')}\n--- stdout\n${out.join('\n')}\n--- stderr\n${err.join('\n')}`
  const waiter = new LineWaiter(describe)
  createInterface({ input: child.stdout }).on('line', (line) => {
    out.push(line)
    waiter.wake()
  })
  createInterface({ input: child.stderr }).on('line', (line) => {
    err.push(line)
    waiter.wake()
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('close', (code, signal) => {
      resolve({ code, signal })
      waiter.end()
    })
  })
  const proc: Proc = {
    pid: child.pid,
    child,
    out,
    err,
    exited,
    hasExited: () => waiter.hasEnded,
    waitOut: (pattern, timeoutMs = 15_000) => waiter.waitFor(out, pattern, timeoutMs),
    waitErr: (pattern, timeoutMs = 15_000) => waiter.waitFor(err, pattern, timeoutMs),
    waitExit: (timeoutMs = 15_000) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`did not exit within ${timeoutMs} ms:\n${describe()}`)),
          timeoutMs,
        )
        void exited.then((result) => {
          clearTimeout(timer)
          resolve(result)
        })
      }),
  }
  started.add(proc)
  return proc
}

/** `node dist/bin/portwarden.cjs ARGS` with a private registry and state directory. */
export function startCli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; state: string },
): Proc {
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env }
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  env.XDG_STATE_HOME = options.state
  env.PORTWARDEN_REGISTRY ??= join(options.state, 'registry.db')
  return startProc(process.execPath, [CLI, ...args], { cwd: options.cwd, env })
}

/** Runs the CLI to the end. */
export async function cli(
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; state: string; timeoutMs?: number },
) {
  const proc = startCli(args, options)
  proc.child.stdin.end()
  const { code } = await proc.waitExit(options.timeoutMs ?? 20_000)
  return { code, stdout: proc.out.join('\n'), stderr: proc.err.join('\n') }
}

/** SIGKILLs every process group started here that is still running, and reaps them. */
export async function stopProcs(): Promise<void> {
  const running = [...started]
  started.clear()
  await killGroups(running)
}

export { removeTempDirs, tempDir } from './helpers/temp-dirs.js'

/**
 * A port nothing holds (TCP and UDP, any address), from 30000-32599: below the ephemeral range
 * and the registry tests' zones (10000-19999) and the default allocation range (20000-29999).
 * Never the same one twice in a test file; files pick at random, so they rarely meet.
 */
const handedOut = new Set<number>()
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 30000 + Math.floor(Math.random() * 2600)
    if (handedOut.has(port)) continue
    if (await portIsFree(port)) {
      handedOut.add(port)
      return port
    }
  }
  throw new Error('no free port in 30000-32599')
}

/** Start time of a pid (`/proc/<pid>/stat` field 22), or null when there is no such process (or a zombie). */
export function startTicks(pid: number): number | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  if (fields[0] === 'Z') return null
  return Number(fields[19])
}

/** Live processes (zombies excluded) whose process group is `pgid`: what a detached start left running. */
export function processesInGroup(pgid: number): number[] {
  const found: number[] = []
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue
    let text: string
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8')
    } catch {
      continue
    }
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
    if (fields[0] !== 'Z' && Number(fields[2]) === pgid) found.push(Number(name))
  }
  return found
}

/** Resolves when `check()` holds, polling every 20 ms; rejects after the deadline with `what`. */
export async function eventually(
  check: () => boolean,
  what: string,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/**
 * Runs the built CLI (`node dist/bin/portwarden.cjs`, the bundle `npm run build` makes before vitest) as a real
 * child process: optionally as another user (setpriv) or on a pseudo-terminal (script).
 */
import { spawn, spawnSync } from 'node:child_process'
import { accessSync } from 'node:fs'
import { ROOT, commandExists, isRoot } from './processes.js'

export const CLI = `${ROOT}dist/bin/portwarden.cjs`
export const NOBODY = 65534

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
  /** Wall-clock time from spawn to exit, in ms (when the runner measured it). */
  ms?: number
}

export interface CliOptions {
  /** Added to (or, with value undefined, removed from) the environment. */
  env?: Record<string, string | undefined>
  /** Run as this uid (and gid) with no supplementary groups, through setpriv. */
  uid?: number
  timeoutMs?: number
}

export function cliEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // The runner may colour its own output; the CLI under test decides for itself.
  delete env.FORCE_COLOR
  delete env.NO_COLOR
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key]
    else env[key] = value
  }
  return env
}

/** `setpriv` argv that runs `command args` as `uid` (gid the same, no supplementary groups). */
export function asUid(uid: number, command: string, args: readonly string[]): [string, string[]] {
  return ['setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', command, ...args]]
}

export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const [command, argv] =
    options.uid === undefined
      ? [process.execPath, [CLI, ...args]]
      : asUid(options.uid, process.execPath, [CLI, ...args])
  return runCommand(command, argv, { env: cliEnv(options.env), timeoutMs: options.timeoutMs })
}

/** Runs the CLI on a pseudo-terminal (util-linux `script`), where colour is allowed. */
export function runCliOnTty(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const quoted = [process.execPath, CLI, ...args]
    .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
    .join(' ')
  return runCommand('script', ['-qefc', quoted, '/dev/null'], {
    env: cliEnv({ TERM: 'xterm-256color', ...options.env }),
    timeoutMs: options.timeoutMs,
  })
}

export function runCommand(
  command: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {},
): Promise<CliResult & { ms: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 20_000} ms`,
        ),
      )
    }, options.timeoutMs ?? 20_000)
    child.once('error', (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr, ms: performance.now() - started })
    })
  })
}

/** The built CLI with `cwd` as its working directory. */
export function runCliAt(
  cwd: string,
  args: readonly string[],
  options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult & { ms: number }> {
  return runCommand(process.execPath, [CLI, ...args], { ...options, cwd })
}

/** Node prints `    at fn (file:line)` lines for an uncaught error: a user must never see one. */
export function stackTraceLines(text: string): string[] {
  return text.split('\n').filter((line) => /^\s+at\s/.test(line))
}

export function parseJson<T = unknown>(result: CliResult): T {
  try {
    return JSON.parse(result.stdout) as T
  } catch {
    throw new Error(
      `stdout is not one JSON document (exit ${result.code}):\n${result.stdout}\nstderr:\n${result.stderr}`,
    )
  }
}

/**
 * Why the CLI cannot be run as `nobody` here, or null when it can: needs root, setpriv, and a
 * project directory and node binary that `nobody` may read.
 */
export function whyNobodyCannotRun(): string | null {
  if (!isRoot()) return 'needs root to switch to nobody with setpriv'
  if (!commandExists('setpriv')) return 'setpriv (util-linux) is not installed'
  try {
    accessSync(CLI)
  } catch {
    return `${CLI} is missing: run npm run build first`
  }
  const probe = spawnSync(
    'setpriv',
    [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      '--clear-groups',
      process.execPath,
      CLI,
      '--version',
    ],
    { cwd: ROOT, encoding: 'utf8' },
  )
  if (probe.status !== 0) {
    return `nobody cannot run ${process.execPath} ${CLI} (is the project directory readable by others?): ${(probe.stderr ?? '').trim().split('\n')[0]}`
  }
  return null
}

/** Runs `fn` over `items` with at most `limit` in flight (CLI runs are CPU-bound at start-up). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++
      results[index] = await fn(items[index] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

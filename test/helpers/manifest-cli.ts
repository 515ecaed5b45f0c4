/**
 * Shared by the manifest, preflight and doctor tests: throwaway project directories holding a
 * `portwarden.toml`, the CLI run from inside them (the upward search starts at the cwd), and a
 * real HTTP server (python3 -m http.server on a kernel-chosen port) started in a chosen directory.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cliEnv, runCliAt } from './cli.js'
import type { CliResult } from './cli.js'
import type { Started } from './processes.js'
import { PYTHON, startProcess } from './processes.js'
import { removeTempDirs, tempDir } from './temp-dirs.js'

/** A new directory under the temp dir (removed by `removeProjects`), with the manifest when given. */
export function makeProject(manifest?: string, name = 'shop'): string {
  const parent = tempDir('pw-manifest-')
  const dir = join(parent, name)
  mkdirSync(dir)
  if (manifest !== undefined) writeFileSync(join(dir, 'portwarden.toml'), manifest)
  return dir
}

/** Removes the projects with the file's other temporary directories (the one `tempDir`). */
export const removeProjects = removeTempDirs

export interface RunInOptions {
  env?: Record<string, string | undefined>
  timeoutMs?: number
}

/** Runs the built CLI with `cwd` as its working directory; colour off, no inherited registry. */
export function runIn(
  cwd: string,
  args: readonly string[],
  options: RunInOptions = {},
): Promise<CliResult> {
  const env = cliEnv({ PORTWARDEN_REGISTRY: undefined, ...options.env })
  return runCliAt(cwd, args, { env, timeoutMs: options.timeoutMs })
}

export interface HttpServer {
  port: number
  pid: number
  /** /proc/PID/comm, as `who` and `preflight` name the process. */
  comm: string
  /** /proc/PID/cmdline joined by spaces. */
  command: string
  process: Started
}

/**
 * `python3 -m http.server PORT` (default 0: any) in `cwd` (its holder then runs "from" that
 * directory), bound to 127.0.0.1. `sh -c 'cd DIR && exec python3 ...'` keeps the pid we started.
 * Stop it with `stopStarted()` from processes.ts.
 */
export async function startHttpServer(cwd: string, port = 0): Promise<HttpServer> {
  const proc = startProcess('sh', [
    '-c',
    'cd "$1" && exec "$2" -u -m http.server "$3" --bind 127.0.0.1',
    'sh',
    cwd,
    PYTHON,
    String(port),
  ])
  const match = await proc.waitForLine(/^Serving HTTP on \S+ port (\d+)/)
  const pid = proc.pid
  return {
    port: Number(match[1]),
    pid,
    comm: readFileSync(`/proc/${pid}/comm`, 'utf8').trim(),
    command: commandLine(pid),
    process: proc,
  }
}

/** /proc/PID/cmdline joined by spaces, as portwarden shows it. */
export function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0$/, '').split('\0').join(' ')
}

/** The way preflight shows a command line: at most 80 characters. */
export function shownCommand(command: string): string {
  return command.length > 80 ? `${command.slice(0, 79)}…` : command
}

/** Node prints `    at fn (file:line)` lines for an uncaught error: a user must never see one. */
export function hasStackTrace(text: string): boolean {
  return /^\s+at\s.+[:(]/m.test(text)
}

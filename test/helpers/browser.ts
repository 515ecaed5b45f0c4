/**
 * The dashboard's browser tests: Debian's Chromium (never a downloaded build) driven by
 * playwright-core, against a real `portwarden serve` on a random loopback port.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, LaunchOptions } from 'playwright-core'
import { chromium } from 'playwright-core'
import { CLI, cliEnv } from './cli.js'
import type { Started } from './processes.js'
import { ROOT, startProcess } from './processes.js'
import { freeLoopbackPort } from './servers.js'

export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests cannot run here, or null when they can. */
export function whyNoBrowser(): string | null {
  if (!existsSync(CHROMIUM))
    return `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`
  if (!existsSync(`${ROOT}dist/web/index.html`)) return 'dist/web is missing: run npm run build'
  return null
}

export function launchChromium(args: readonly string[] = []): Promise<Browser> {
  const options: LaunchOptions = {
    executablePath: CHROMIUM,
    // Root in CI has no user namespace sandbox; the pages are our own loopback servers.
    args: ['--no-sandbox', ...args],
    timeout: 30_000,
  }
  return chromium.launch(options)
}

export interface Serve {
  /** `http://127.0.0.1:PORT` */
  origin: string
  port: number
  token: string
  /** The link `serve` printed: origin + `/#token=TOKEN`. */
  dashboard: string
  /** The state directory (token) and registry this server uses. */
  stateDir: string
  registry: string
  process: Started
  env: NodeJS.ProcessEnv
}

const stateDirs: string[] = []

/**
 * Starts `portwarden serve` on a free loopback port with its own state directory and registry,
 * ready once it printed its `dashboard: URL#token=…` line (stdout or stderr).
 */
export async function startServe(extraArgs: readonly string[] = []): Promise<Serve> {
  const stateDir = mkdtempSync(join(tmpdir(), 'pw-serve-'))
  stateDirs.push(stateDir)
  const registry = join(stateDir, 'registry.db')
  const env = cliEnv({ XDG_STATE_HOME: stateDir, PORTWARDEN_REGISTRY: registry, NO_COLOR: '1' })
  const port = await freeLoopbackPort()
  const proc = startProcess(
    process.execPath,
    [CLI, 'serve', '--port', String(port), ...extraArgs],
    { env },
  )
  const match = await waitForOutput(proc, /dashboard: (http:\/\/[^\s#]+)\/#token=(\S+)/)
  const origin = match[1] as string
  const token = match[2] as string
  return {
    origin,
    port,
    token,
    dashboard: `${origin}/#token=${token}`,
    stateDir,
    registry,
    process: proc,
    env,
  }
}

/** Waits (bounded) until `pattern` appears in the process's stdout lines or its stderr. */
export async function waitForOutput(
  proc: Started,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const found = pattern.exec(proc.lines.join('\n')) ?? pattern.exec(proc.stderr())
    if (found) return found
    if (proc.hasExited()) {
      throw new Error(
        `the process exited before printing ${pattern}:\n${proc.lines.join('\n')}\n${proc.stderr()}`,
      )
    }
    if (Date.now() > deadline) {
      throw new Error(
        `no ${pattern} within ${timeoutMs} ms:\n${proc.lines.join('\n')}\n${proc.stderr()}`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export function removeStateDirs(): void {
  for (const dir of stateDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

/** The JSON of an API call with the token, for the test's own look at the server's state. */
export async function apiJson<T>(serve: Serve, path: string): Promise<T> {
  const response = await fetch(`${serve.origin}${path}`, {
    headers: { Authorization: `Bearer ${serve.token}` },
  })
  if (!response.ok)
    throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

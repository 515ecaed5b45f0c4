/**
 * The dashboard's browser tests: Debian's Chromium (never a downloaded build) driven by
 * playwright-core, against a real `portwarden serve` (the one `startServe`, test/helpers/serve.ts).
 */
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Browser, LaunchOptions } from 'playwright-core'
import { chromium } from 'playwright-core'
import { ROOT } from './processes.js'
import type { Serve } from './serve.js'
import { tempDir } from './temp-dirs.js'

export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests cannot run here, or null when they can. */
export function whyNoBrowser(): string | null {
  if (!existsSync(CHROMIUM))
    return `${CHROMIUM} is missing: apt-get install chromium (.ci/run does)`
  if (!existsSync(`${ROOT}dist/web/index.html`)) return 'dist/web is missing: run npm run build'
  return null
}

/**
 * `netns`: run Chromium in that network namespace (`ip netns` name), for a server started there
 * (startServe's `netns`). Playwright talks to it over pipes, which nsenter passes on.
 */
export function launchChromium(
  args: readonly string[] = [],
  launch: { netns?: string } = {},
): Promise<Browser> {
  let executablePath = CHROMIUM
  if (launch.netns) {
    executablePath = join(tempDir('pw-chromium-'), 'chromium')
    writeFileSync(
      executablePath,
      `#!/bin/sh\nexec nsenter --net=/run/netns/${launch.netns} ${CHROMIUM} "$@"\n`,
      { mode: 0o755 },
    )
  }
  const options: LaunchOptions = {
    executablePath,
    // Root in CI has no user namespace sandbox; the pages are our own loopback servers.
    args: ['--no-sandbox', ...args],
    timeout: 30_000,
  }
  return chromium.launch(options)
}

/** The JSON of an API call with the token, for the test's own look at the server's state. */
export async function apiJson<T>(serve: Serve, path: string): Promise<T> {
  const response = await fetch(`${serve.url}${path}`, {
    headers: { Authorization: `Bearer ${serve.token}` },
  })
  if (!response.ok)
    throw new Error(`GET ${path} answered ${response.status}: ${await response.text()}`)
  return (await response.json()) as T
}

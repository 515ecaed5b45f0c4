import { existsSync, mkdirSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

/** `$XDG_STATE_HOME/portwarden`, else `~/.local/state/portwarden`: the registry and serve's token. */
export function defaultStateDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const stateHome =
    env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/')
      ? env.XDG_STATE_HOME
      : join(homedir(), '.local', 'state')
  return join(stateHome, 'portwarden')
}

/**
 * `mkdir -p` one level at a time, each new level 0700. Node's recursive mkdir loops for ever
 * where mkdir answers ENOENT under an existing parent (inside /proc, say); here any failure is
 * an error.
 */
export function makeDirectories(directory: string): void {
  const missing: string[] = []
  for (let current = directory; !existsSync(current); current = dirname(current)) {
    missing.unshift(current)
    if (dirname(current) === current) break
  }
  for (const each of missing) mkdirSync(each, { mode: 0o700 })
}

// Shared by the serve benches: `--name value` options and a `portwarden serve` child process.
/* global performance */
import { spawn } from 'node:child_process'
import { get } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../dist/bin/portwarden.cjs', import.meta.url))

/** `--name value` from argv, else `fallback`. */
export function option(name, fallback, args = process.argv.slice(2)) {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}

/**
 * Starts `portwarden serve --port PORT` with its state (token: `dir/state/token`) and registry in
 * `dir`, from this checkout's build or `cli` (another checkout's); resolves at the READY line with
 * the child, its URL and how long it took.
 */
export function startServeCli(dir, port = 0, { cli = CLI } = {}) {
  const started = performance.now()
  const child = spawn(
    process.execPath,
    [cli, 'serve', '--port', String(port), '--registry', join(dir, 'registry.db')],
    {
      env: { ...process.env, PORTWARDEN_STATE_DIR: join(dir, 'state') },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('serve printed no READY line in 20 s')), 20_000)
    child.once('exit', (code) => reject(new Error(`serve exited (${code})`)))
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^portwarden serve: listening on (\S+)$/.exec(line)
      if (match) {
        clearTimeout(timer)
        resolve({ child, url: match[1], readyMs: Math.round(performance.now() - started) })
      }
    })
  })
}

/**
 * GET `url` and read the answer's bytes as they come on the wire (no decompression, as curl
 * without --compressed or autocannon): resolves with the status and the byte count when the last
 * byte has arrived. `fetch` would also gunzip and join the body, which at 100k sockets (42 MB of
 * JSON) costs the client more than the server's whole answer.
 */
export function getRaw(url, headers = {}) {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (response) => {
      let bytes = 0
      response.on('data', (chunk) => (bytes += chunk.length))
      response.on('end', () => resolve({ status: response.statusCode, bytes }))
      response.on('error', reject)
    }).on('error', reject)
  })
}

/** SIGTERM, and wait for the exit. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  await exited
}

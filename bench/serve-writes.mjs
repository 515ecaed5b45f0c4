#!/usr/bin/env node
// S2 and S4, bounded (loopback only): mixed writes through the API while a CLI `alloc` loop
// writes to the same SQLite registry from other processes; with --crash the server is SIGKILLed
// halfway and restarted. Reports 5xx, registry_locked answers, duplicates, integrity_check, and
// the restart time.
//
//   npm run build && node bench/serve-writes.mjs [--seconds 30] [--clients 10] [--crash]
/* global fetch, performance */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import Sqlite from 'better-sqlite3'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const seconds = Math.min(Number(option('seconds', '30')), 300)
const clients = Math.min(Number(option('clients', '10')), 50)
const crash = args.includes('--crash')
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'pw-serve-writes-'))
const registry = join(dir, 'registry.db')
const env = { ...process.env, PORTWARDEN_STATE_DIR: join(dir, 'state') }

function startServe(port = 0) {
  const started = performance.now()
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--port', String(port), '--registry', registry],
    {
      env,
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

const token = () => readFileSync(join(dir, 'state', 'token'), 'utf8').trim()
const counts = { created: 0, deleted: 0, status: {}, connectionErrors: 0, wrong: 0 }
const tally = (status) => (counts.status[status] = (counts.status[status] ?? 0) + 1)

let serve = await startServe()
const port = new URL(serve.url).port
const deadline = Date.now() + seconds * 1000

async function client(n) {
  for (let i = 0; Date.now() < deadline; i++) {
    const headers = { authorization: `Bearer ${token()}`, 'content-type': 'application/json' }
    try {
      const created = await fetch(`${serve.url}/api/allocations`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ project: 's2', service: `c${n}-${i}` }),
      })
      tally(created.status)
      const body = await created.json()
      if (created.status !== 201) continue
      if (body.service !== `c${n}-${i}`) counts.wrong++
      counts.created++
      const removed = await fetch(`${serve.url}/api/allocations/${body.id}`, {
        method: 'DELETE',
        headers,
      })
      tally(removed.status)
      await removed.arrayBuffer()
      if (removed.status === 200) counts.deleted++
    } catch {
      counts.connectionErrors++ // the server is down (S4): an error, never wrong data
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

let cliRuns = 0
let cliFailures = 0
async function cliLoop() {
  for (let i = 0; Date.now() < deadline; i++) {
    const result = await new Promise((resolve) => {
      const child = spawn(
        process.execPath,
        [CLI, 'alloc', `cli-${i}`, '--project', 'cli', '--registry', registry],
        {
          env,
          stdio: 'ignore',
        },
      )
      child.once('exit', (code) => resolve(code))
    })
    cliRuns++
    if (result !== 0) cliFailures++
  }
}

let restartMs = null
async function crashHalfway() {
  await new Promise((resolve) => setTimeout(resolve, (seconds * 1000) / 2))
  counts.createdBeforeCrash = counts.created
  serve.child.kill('SIGKILL')
  await new Promise((resolve) => serve.child.once('exit', resolve))
  const restarted = await startServe(port)
  restartMs = restarted.readyMs
  serve = restarted
}

await Promise.all([
  ...Array.from({ length: clients }, (_, n) => client(n)),
  cliLoop(),
  crash ? crashHalfway() : Promise.resolve(),
])
serve.child.kill('SIGTERM')
await new Promise((resolve) => serve.child.once('exit', resolve))

const db = new Sqlite(registry, { readonly: true })
const integrity = db.pragma('integrity_check', { simple: true })
const duplicates = db
  .prepare(
    'SELECT protocol, port, COUNT(*) AS n FROM allocations GROUP BY host, protocol, port HAVING n > 1',
  )
  .all()
const rows = db.prepare('SELECT COUNT(*) AS n FROM allocations').get().n
db.close()
const sqliteCheck = spawnSync('sqlite3', [registry, 'PRAGMA quick_check;'], { encoding: 'utf8' })
const fiveXx = Object.entries(counts.status)
  .filter(([status]) => Number(status) >= 500)
  .reduce((n, [, c]) => n + c, 0)
console.log(
  JSON.stringify(
    {
      seconds,
      clients,
      crash,
      api: counts,
      fiveXx,
      cli: { runs: cliRuns, failures: cliFailures },
      registry: {
        rows,
        duplicates: duplicates.length,
        integrity,
        sqlite3QuickCheck: sqliteCheck.stdout.trim() || null,
      },
      restartMs,
    },
    null,
    2,
  ),
)
rmSync(dir, { recursive: true, force: true })

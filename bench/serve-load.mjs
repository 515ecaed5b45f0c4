#!/usr/bin/env node
// S1-style bounded load on `portwarden serve` (loopback only): a ~10k-socket population
// (population.mjs --scale medium), one `serve --port 0`, then autocannon against
// GET /api/system/ports (and GET /api/ports/{p}) in equal windows. Reports per window p50/p99,
// requests, errors, timeouts and non-2xx; the server's RSS, heap and open fds after warm-up and
// at the end. Everything it starts it stops by pid.
//
//   npm run build && node bench/serve-load.mjs [--scale medium] [--windows 3] [--window 10]
//                                              [--connections 50] [--route system|port]
/* global fetch */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { SCALES, startPopulation } from './population.mjs'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const scale = option('scale', 'medium')
const windows = Math.min(Number(option('windows', '3')), 10)
const windowSeconds = Math.min(Number(option('window', '10')), 60)
const connections = Math.min(Number(option('connections', '50')), 200)
const route = option('route', 'system')

/**
 * Starts the server (bench/serve-harness.mjs: `serve` through the library, with --expose-gc so
 * memory is read after a full GC) in a temporary state directory; resolves at its READY line.
 */
function startServe(dir) {
  const child = spawn(
    process.execPath,
    ['--expose-gc', fileURLToPath(new URL('serve-harness.mjs', import.meta.url)), dir],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const lines = createInterface({ input: child.stdout })
  const next = (prefix) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${prefix} line in 20 s`)), 20_000)
      const onLine = (line) => {
        if (!line.startsWith(`${prefix} `)) return
        clearTimeout(timer)
        lines.off('line', onLine)
        resolve(JSON.parse(line.slice(prefix.length + 1)))
      }
      lines.on('line', onLine)
    })
  return next('READY').then(({ url }) => ({
    child,
    url,
    /** RSS, heap and open fds after a full GC, in MiB / count. */
    async memory() {
      const reply = next('MEMORY')
      child.stdin.write('memory\n')
      const m = await reply
      return {
        rssMiB: round(m.rss / 2 ** 20),
        heapMiB: round(m.heapUsed / 2 ** 20),
        externalMiB: round(m.external / 2 ** 20),
        fds: m.fds,
      }
    },
  }))
}

const round = (n) => Math.round(n * 10) / 10

function load(url, seconds, conns) {
  return autocannon({ url, connections: conns, duration: seconds, timeout: 10 })
}

const population = await startPopulation(SCALES[scale], { ttl: 60 + windows * windowSeconds * 2 })
const dir = mkdtempSync(join(tmpdir(), 'pw-serve-bench-'))
let serve
try {
  serve = await startServe(dir)
  const target =
    route === 'port'
      ? `${serve.url}/api/ports/${population.info.query.tcp4.port}`
      : `${serve.url}/api/system/ports`
  const probe = await (await fetch(target)).json()
  const listening = probe.listening?.length ?? null
  console.error(
    `population: ${population.info.actual.sockets} sockets; serve ${serve.url}; ${listening ?? '-'} listening in one answer`,
  )
  await load(target, 5, 5) // warm-up
  const warm = await serve.memory()
  const results = []
  for (let i = 0; i < windows; i++) {
    const r = await load(target, windowSeconds, connections)
    results.push({
      window: i + 1,
      requests: r.requests.total,
      rps: Math.round(r.requests.average),
      p50: r.latency.p50,
      p99: r.latency.p99,
      max: r.latency.max,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
    })
    console.error(JSON.stringify(results[i]))
  }
  // Idle keep-alive connections close after 5 s; then count fds.
  await new Promise((resolve) => setTimeout(resolve, 6000))
  const end = await serve.memory()
  const metrics = await (await fetch(`${serve.url}/metrics`)).text()
  const scanFigure = (name) =>
    Number(
      new RegExp(
        `^portwarden_scan_duration_seconds_${name}\\{kind="inventory"\\} (\\S+)$`,
        'm',
      ).exec(metrics)?.[1],
    )
  const scans = {
    count: scanFigure('count'),
    meanMs: round((scanFigure('sum') / scanFigure('count')) * 1000),
  }
  const first = results[0]
  const last = results[results.length - 1]
  const summary = {
    scale,
    sockets: population.info.actual.sockets,
    route: new URL(target).pathname,
    connections,
    windowSeconds,
    results,
    warm,
    end,
    scans,
    load: (await import('node:os')).loadavg().map(round),
    p99Ratio: Number((last.p99 / first.p99).toFixed(2)),
    totals: {
      requests: results.reduce((n, r) => n + r.requests, 0),
      errors: results.reduce((n, r) => n + r.errors, 0),
      timeouts: results.reduce((n, r) => n + r.timeouts, 0),
      non2xx: results.reduce((n, r) => n + r.non2xx, 0),
    },
  }
  console.log(JSON.stringify(summary, null, 2))
} finally {
  if (serve) {
    serve.child.kill('SIGTERM')
    await new Promise((resolve) => serve.child.once('exit', resolve))
  }
  await population.stop()
  rmSync(dir, { recursive: true, force: true })
}

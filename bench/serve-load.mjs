#!/usr/bin/env node
// S1-style bounded load on `portwarden serve` (loopback only): a ~10k-socket population
// (population.mjs --scale medium), one `serve --port 0`, then autocannon against
// GET /api/system/ports (and GET /api/ports/{p}) in equal windows. Reports per window p50/p99,
// requests, errors, timeouts and non-2xx; the server's RSS, heap and open fds after warm-up and
// at the end. Everything it starts it stops by pid.
//
//   npm run build && node bench/serve-load.mjs [--scale medium] [--windows 3] [--window 10]
//                                              [--connections 50] [--route system|port]
//                                              [--tool autocannon|wrk]   (wrk: S5, Debian `wrk`)
//                                              [--gzip]   (send Accept-Encoding: gzip, as browsers do)
//                                              [--checkout DIR]   (serve from another built checkout:
//                                                the "before" of a side-by-side run)
//                                              [--workers N]   (autocannon's worker threads: one
//                                                thread reading 50 answers is the bottleneck itself)
//                                              [--cpu-prof DIR]   (the server writes a V8 CPU profile
//                                                of the whole run there when it stops)
/* global fetch, performance */
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { SCALES, startPopulation } from './population.mjs'
import { getRaw, option } from './serve-common.mjs'

const scale = option('scale', 'medium')
const windows = Math.min(Number(option('windows', '3')), 10)
const windowSeconds = Math.min(Number(option('window', '10')), 60)
const connections = Math.min(Number(option('connections', '50')), 200)
const route = option('route', 'system')
const tool = option('tool', 'autocannon')
const gzip = process.argv.includes('--gzip')
const checkout = option('checkout', fileURLToPath(new URL('..', import.meta.url)))
const headers = gzip ? { 'accept-encoding': 'gzip' } : {}
const cpuProfileDir = option('cpu-prof', null)
const workers = Math.min(Number(option('workers', '1')), 4)

/**
 * Starts the server (bench/serve-harness.mjs: `serve` through the library, with --expose-gc so
 * memory is read after a full GC) in a temporary state directory; resolves at its READY line.
 */
function startServe(dir) {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      ...(cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', cpuProfileDir] : []),
      join(checkout, 'bench/serve-harness.mjs'),
      dir,
    ],
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
    /** The server's own p50/p99 (arrival to last byte written) since the last call, in ms. */
    async timing() {
      const reply = next('TIMING')
      child.stdin.write('timing\n')
      return reply
    },
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

/** The median time of `n` runs of `run` (one at a time), in ms. */
async function medianMs(run, n) {
  const times = []
  for (let i = 0; i < n; i++) {
    const started = performance.now()
    await run()
    times.push(performance.now() - started)
  }
  return round(times.sort((a, b) => a - b)[n >> 1])
}

function load(url, seconds, conns) {
  if (tool === 'wrk') return wrk(url, seconds, conns)
  return autocannon({
    url,
    connections: conns,
    duration: seconds,
    timeout: 10,
    headers,
    ...(workers > 1 ? { workers } : {}),
  })
}

/** S5: the same window with wrk (Debian `wrk`), reported in autocannon's shape. */
function wrk(url, seconds, conns) {
  const result = spawnSync(
    'wrk',
    ['-t2', `-c${conns}`, `-d${seconds}s`, '--timeout', '10s', '--latency', url],
    {
      encoding: 'utf8',
    },
  )
  if (result.status !== 0) throw new Error(`wrk failed: ${result.stderr || result.error}`)
  const out = result.stdout
  const ms = (label) => {
    const match = new RegExp(`^\\s+${label}%\\s+([0-9.]+)(us|ms|s)$`, 'm').exec(out)
    if (!match) return null
    const factor = { us: 0.001, ms: 1, s: 1000 }[match[2]]
    return Math.round(Number(match[1]) * factor)
  }
  const total = Number(/([0-9]+) requests in/.exec(out)?.[1] ?? 0)
  const socket =
    /Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/.exec(out)
  return {
    requests: { total, average: total / seconds },
    latency: { p50: ms('50'), p99: ms('99'), max: null },
    errors: socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0,
    timeouts: socket ? Number(socket[4]) : 0,
    non2xx: Number(/Non-2xx or 3xx responses: ([0-9]+)/.exec(out)?.[1] ?? 0),
  }
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
    await serve.timing() // forget the warm-up's
    const r = await load(target, windowSeconds, connections)
    const server = await serve.timing()
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
      // The server's side of the same requests: a p99 far below the client's means the client
      // (autocannon, on the same cores) is where the time goes.
      serverP50: server.p50,
      serverP99: server.p99,
    })
    console.error(JSON.stringify(results[i]))
  }
  // Idle keep-alive connections close after 5 s; then count fds.
  await new Promise((resolve) => setTimeout(resolve, 6000))
  const end = await serve.memory()
  // The first scrape after the idle wait polls (no snapshot is 2 s young); the rest count from it.
  const metricsFirstMs = await medianMs(() => getRaw(`${serve.url}/metrics`), 1)
  const metricsMs = await medianMs(() => getRaw(`${serve.url}/metrics`), 21)
  // A steady scraper (as Prometheus, here every 3 s): from its fourth scrape on, the server has
  // polled for it a second before it comes (ScrapeAhead). The median of scrapes 4-6.
  const steadyTimes = []
  for (let i = 0; i < 6; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, 3000))
    const started = performance.now()
    await getRaw(`${serve.url}/metrics`)
    steadyTimes.push(performance.now() - started)
  }
  const metricsSteadyMs = round(steadyTimes.slice(3).sort((a, b) => a - b)[1])
  // One request alone, as a dashboard's first load makes it (a poll, the answer cached or not),
  // to its last byte on the wire; then the same with fetch, which also decodes and joins the
  // body (what the figures before 2026-12-03 16:00 UTC measured).
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const singleMs = await medianMs(() => getRaw(target, headers), 1)
  await new Promise((resolve) => setTimeout(resolve, 2500))
  const singleDecodedMs = await medianMs(
    () => fetch(target, { headers }).then((r) => r.arrayBuffer()),
    1,
  )
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
    checkout,
    gzip,
    tool,
    workers,
    metricsFirstMs,
    metricsMedianMs: metricsMs,
    metricsSteadyScraperMs: metricsSteadyMs,
    singleRequestMs: singleMs,
    singleRequestDecodedMs: singleDecodedMs,
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

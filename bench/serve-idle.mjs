#!/usr/bin/env node
// Idle cost (issue 15): CPU time of an idle `portwarden serve` with one event-stream client, and
// of `portwarden watch`, over a window, at a ~10k-socket population (population.mjs --scale
// medium). Reads utime + stime of each process (and its threads) from /proc/PID/stat at the
// start and the end of the window: the share of one core it used. Loopback only; everything it
// starts it stops by pid.
//
//   npm run build && node bench/serve-idle.mjs [--scale medium] [--seconds 60] [--checkout DIR]
/* global fetch, AbortController */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SCALES, startPopulation } from './population.mjs'
import { option, startServeCli, stopChild } from './serve-common.mjs'

const scale = option('scale', 'medium')
const seconds = Math.min(Number(option('seconds', '60')), 600)
const checkout = option('checkout', fileURLToPath(new URL('..', import.meta.url)))
const CLI = join(checkout, 'dist/bin/portwarden.cjs')
const TICKS_PER_SECOND = 100 // USER_HZ on Linux

/** utime + stime of a process and its threads, in clock ticks (/proc/PID/stat fields 14, 15). */
function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return Number(fields[11]) + Number(fields[12])
}

/** The share of one core `pid` used over the window. */
async function measure(pid) {
  const before = cpuTicks(pid)
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  const used = (cpuTicks(pid) - before) / TICKS_PER_SECOND
  return Math.round((used / seconds) * 1000) / 10
}

const population = await startPopulation(SCALES[scale], { ttl: 60 + seconds * 3 })
const dir = mkdtempSync(join(tmpdir(), 'pw-serve-idle-'))
const started = []
try {
  console.error(`population: ${population.info.actual.sockets} sockets; window ${seconds} s`)
  const serve = await startServeCli(dir, 0, { cli: CLI })
  started.push(serve.child)
  const { url } = serve
  const token = readFileSync(join(dir, 'state', 'token'), 'utf8').trim()
  // One event-stream client, as an open dashboard is: read and dropped.
  const controller = new AbortController()
  const stream = await fetch(`${url}/api/events`, {
    headers: { Authorization: `Bearer ${token}` },
    signal: controller.signal,
  })
  const reader = stream.body.getReader()
  void (async () => {
    for (;;) if ((await reader.read().catch(() => ({ done: true }))).done) return
  })()
  await new Promise((resolve) => setTimeout(resolve, 3000)) // baseline taken, warm
  const serveShare = await measure(serve.child.pid)
  controller.abort()
  await stopChild(serve.child)

  const watch = spawn(process.execPath, [CLI, 'watch', '--json'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  started.push(watch)
  await new Promise((resolve) => setTimeout(resolve, 3000))
  const watchShare = await measure(watch.pid)
  await stopChild(watch)

  console.log(
    JSON.stringify(
      {
        scale,
        sockets: population.info.actual.sockets,
        seconds,
        checkout,
        serveWithOneStreamCpuPercent: serveShare,
        watchCpuPercent: watchShare,
      },
      null,
      2,
    ),
  )
} finally {
  for (const child of started) await stopChild(child)
  await population.stop()
  rmSync(dir, { recursive: true, force: true })
}

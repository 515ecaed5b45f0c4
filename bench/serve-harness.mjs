#!/usr/bin/env node
// `portwarden serve` for the serve benches, started through the library so that the bench can
// ask for a full GC before it reads memory: run with `node --expose-gc`. Prints
// `READY {"url", "pid"}`; on each stdin line `memory` it runs gc() and prints
// `MEMORY {"rss", "heapUsed", "external", "fds"}` (bytes, 1.1 s after it); on `timing` it prints
// `TIMING {"count", "p50", "p99"}`: how long the server took per request since the last `timing`,
// from the request's arrival to its last byte handed to the kernel (ms), which tells a slow
// server from a client that is the bottleneck. SIGTERM stops it.
//
//   node --expose-gc bench/serve-harness.mjs STATE_DIR
/* global performance */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { startServer } from '../dist/server/listen.js'
import { loadOrCreateToken } from '../dist/server/token.js'

const stateDir = process.argv[2]
if (!stateDir) throw new Error('usage: node --expose-gc bench/serve-harness.mjs STATE_DIR')
const { token } = loadOrCreateToken(stateDir)
const running = await startServer({
  host: '127.0.0.1',
  port: 0,
  token,
  registry: join(stateDir, 'registry.db'),
})
/** Per request: arrival to the response's end (its last byte written to the socket), ms. */
let served = []
running.server.on('request', (request, response) => {
  const arrived = performance.now()
  response.once('finish', () => served.push(performance.now() - arrived))
})
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
console.log(`READY ${JSON.stringify({ url: running.url, pid: process.pid })}`)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'timing') {
    const sorted = served.sort((a, b) => a - b)
    served = []
    const ms = (q) => (sorted.length ? Math.round(quantile(sorted, q) * 10) / 10 : null)
    console.log(`TIMING ${JSON.stringify({ count: sorted.length, p50: ms(0.5), p99: ms(0.99) })}`)
    return
  }
  if (line.trim() !== 'memory') return
  globalThis.gc?.()
  // The server hands the allocator's free pages back within a second of a full collection
  // (src/server/memory-trim.ts): read what it settles at.
  setTimeout(() => {
    const memory = process.memoryUsage()
    console.log(
      `MEMORY ${JSON.stringify({ rss: memory.rss, heapUsed: memory.heapUsed, external: memory.external, fds: readdirSync('/proc/self/fd').length })}`,
    )
  }, 1100)
})
process.once('SIGTERM', () => void running.close().then(() => process.exit(0)))

#!/usr/bin/env node
// `portwarden serve` for the serve benches, started through the library so that the bench can
// ask for a full GC before it reads memory: run with `node --expose-gc`. Prints
// `READY {"url", "pid"}`; on each stdin line `memory` it runs gc() and prints
// `MEMORY {"rss", "heapUsed", "external", "fds"}` (bytes); SIGTERM stops it.
//
//   node --expose-gc bench/serve-harness.mjs STATE_DIR
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
console.log(`READY ${JSON.stringify({ url: running.url, pid: process.pid })}`)
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== 'memory') return
  globalThis.gc?.()
  const memory = process.memoryUsage()
  console.log(
    `MEMORY ${JSON.stringify({ rss: memory.rss, heapUsed: memory.heapUsed, external: memory.external, fds: readdirSync('/proc/self/fd').length })}`,
  )
})
process.once('SIGTERM', () => void running.close().then(() => process.exit(0)))

#!/usr/bin/env node
// S3, bounded (loopback only): N connections each send one header byte per second; meanwhile a
// fresh request is timed every second. Reports the fresh requests' worst latency and when the
// server closed the slow connections (headersTimeout is 10 s).
//
//   npm run build && node bench/serve-slowloris.mjs [--connections 500] [--seconds 15]
/* global fetch, performance, setInterval, clearInterval */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const connections = Math.min(Number(option('connections', '500')), 1000)
const seconds = Math.min(Number(option('seconds', '15')), 120)
const CLI = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'pw-serve-slowloris-'))

const child = spawn(
  process.execPath,
  [CLI, 'serve', '--port', '0', '--registry', join(dir, 'r.db')],
  {
    env: { ...process.env, PORTWARDEN_STATE_DIR: join(dir, 'state') },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const url = await new Promise((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`serve exited (${code})`)))
  createInterface({ input: child.stdout }).on('line', (line) => {
    const match = /^portwarden serve: listening on (\S+)$/.exec(line)
    if (match) resolve(match[1])
  })
})
const port = Number(new URL(url).port)
const head = `GET /api/allocations HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`
const started = performance.now()
const closedAt = []
const sockets = []
for (let i = 0; i < connections; i++) {
  const socket = connect({ host: '127.0.0.1', port })
  let sent = 0
  const timer = setInterval(() => {
    if (sent < head.length && !socket.destroyed) socket.write(head[sent++])
  }, 1000)
  socket.on('error', () => {})
  socket.on('close', () => {
    clearInterval(timer)
    closedAt.push((performance.now() - started) / 1000)
  })
  sockets.push(socket)
}
const fresh = []
while (performance.now() - started < seconds * 1000) {
  const t = performance.now()
  const response = await fetch(`${url}/api/allocations`)
  await response.arrayBuffer()
  fresh.push({ status: response.status, ms: Math.round(performance.now() - t) })
  await new Promise((resolve) => setTimeout(resolve, 1000))
}
for (const socket of sockets) socket.destroy()
child.kill('SIGTERM')
await new Promise((resolve) => child.once('exit', resolve))
rmSync(dir, { recursive: true, force: true })
const closedByServer = closedAt.filter((t) => t < seconds)
console.log(
  JSON.stringify(
    {
      connections,
      seconds,
      fresh: {
        count: fresh.length,
        worstMs: Math.max(...fresh.map((f) => f.ms)),
        non200: fresh.filter((f) => f.status !== 200).length,
      },
      slowClosedByServer: closedByServer.length,
      firstCloseS: closedByServer.length ? Math.min(...closedByServer).toFixed(1) : null,
      lastCloseS: closedByServer.length ? Math.max(...closedByServer).toFixed(1) : null,
    },
    null,
    2,
  ),
)

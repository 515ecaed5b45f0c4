#!/usr/bin/env node
// H6, the timing half (loopback only, bounded): are wrong tokens answered in the same time
// whatever they share with the right one? Three kinds of wrong token, interleaved at random over
// one keep-alive connection: a short one, a random one of the right length, and the right one
// with its last character changed. Prints the median and p90 of each, in microseconds.
//
//   npm run build && node bench/serve-token-timing.mjs [--rounds 3000]
/* global performance */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { option, startServeCli, stopChild } from './serve-common.mjs'

const rounds = Math.min(Number(option('rounds', '3000')), 20_000)
const dir = mkdtempSync(join(tmpdir(), 'pw-serve-timing-'))
const { child, url } = await startServeCli(dir)
const token = readFileSync(join(dir, 'state', 'token'), 'utf8').trim()
const variants = {
  short: 'x',
  random_same_length: randomBytes(32).toString('base64url'),
  one_char_off: `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`,
}
const agent = new Agent({ keepAlive: true, maxSockets: 1 })

function timedRequest(value) {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    const req = request(
      `${url}/api/allocations/1`,
      { method: 'DELETE', agent, headers: { authorization: `Bearer ${value}` } },
      (res) => {
        res.resume()
        res.on('end', () => {
          if (res.statusCode !== 401) reject(new Error(`expected 401, got ${res.statusCode}`))
          else resolve((performance.now() - started) * 1000)
        })
      },
    )
    req.on('error', reject)
    req.end()
  })
}

const samples = Object.fromEntries(Object.keys(variants).map((name) => [name, []]))
const names = Object.keys(variants)
for (let i = 0; i < 200; i++) await timedRequest(variants.short) // warm-up
for (let i = 0; i < rounds; i++) {
  for (const name of [...names].sort(() => Math.random() - 0.5))
    samples[name].push(await timedRequest(variants[name]))
}
const quantile = (values, q) => {
  const sorted = [...values].sort((a, b) => a - b)
  return Math.round(sorted[Math.floor(q * (sorted.length - 1))])
}
const summary = Object.fromEntries(
  names.map((name) => [
    name,
    { medianUs: quantile(samples[name], 0.5), p90Us: quantile(samples[name], 0.9) },
  ]),
)
console.log(JSON.stringify({ rounds, ...summary }, null, 2))
agent.destroy()
await stopChild(child)
rmSync(dir, { recursive: true, force: true })

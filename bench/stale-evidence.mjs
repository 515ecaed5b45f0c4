#!/usr/bin/env node
// What the stale evidence costs (issue 13): `who PORT` and `list --json` of this build against a
// build from before the evidence (`--before DIR`: a checkout with `npm run build` done), on a
// live loopback population, interleaved round by round so both see the same machine.
//
//   node bench/stale-evidence.mjs --before /path/to/old/checkout [--scale medium] [--runs 15]
//
// Prints the medians and the ratio now / before per command. The evidence is per asked holder
// (a few /proc reads, one registry read when a registry exists), never per socket: `list --json`
// should not move, `who PORT` at most 20%.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { SCALES, machineCounts, startPopulation } from './population.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

function parseArgs(argv) {
  const o = { before: null, scale: 'medium', runs: 15 }
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (flag === '--before') o.before = value
    else if (flag === '--scale') o.scale = value
    else if (flag === '--runs') o.runs = Number(value)
    else usage(`unknown argument ${flag}`)
    i++
  }
  if (!o.before) usage('--before DIR is required (a checkout of the old commit, built)')
  if (!SCALES[o.scale]) usage(`--scale is one of ${Object.keys(SCALES).join(', ')}`)
  if (!Number.isInteger(o.runs) || o.runs < 3 || o.runs > 200) usage('--runs is 3..200')
  return o
}

function usage(message) {
  console.error(`bench/stale-evidence.mjs: ${message}`)
  console.error('usage: node bench/stale-evidence.mjs --before DIR [--scale medium] [--runs 15]')
  process.exit(2)
}

function timeOnce(cli, args, env) {
  const started = performance.now()
  const r = spawnSync(process.execPath, [cli, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 512 * 1024 * 1024,
  })
  const ms = performance.now() - started
  if (r.status !== 0 && r.status !== 1)
    throw new Error(`${cli} ${args.join(' ')}: exit ${r.status}`)
  return ms
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

const o = parseArgs(process.argv.slice(2))
const population = await startPopulation(SCALES[o.scale], { ttl: 1800 })
const work = mkdtempSync(join(tmpdir(), 'pw-bench-stale-'))
try {
  const port = population.info.query.tcp4.port
  const counts = machineCounts()
  // A registry that gives the asked port to a project: the registry sign has something to read.
  const env = { ...process.env, PORTWARDEN_REGISTRY: join(work, 'registry.db'), NO_COLOR: '1' }
  const now = join(ROOT, 'dist/bin/portwarden.cjs')
  const before = join(o.before, 'dist/bin/portwarden.cjs')
  spawnSync(process.execPath, [now, 'alloc', 'bench', '--project', 'bench-project'], { env })
  const commands = [
    ['who PORT', ['who', String(port)]],
    ['list --json', ['list', '--json']],
  ]
  console.log(
    `# ${o.scale}: ${counts.sockets} sockets, ${counts.procs} processes; ${o.runs} interleaved runs each`,
  )
  console.log('| command | before (ms, median) | now (ms, median) | now ÷ before |')
  console.log('|---|---:|---:|---:|')
  for (const [name, args] of commands) {
    for (const cli of [before, now]) timeOnce(cli, args, env) // warm-up
    const times = { before: [], now: [] }
    for (let i = 0; i < o.runs; i++) {
      times.before.push(timeOnce(before, args, env))
      times.now.push(timeOnce(now, args, env))
    }
    const [b, n] = [median(times.before), median(times.now)]
    console.log(`| \`${name}\` | ${b.toFixed(1)} | ${n.toFixed(1)} | ${(n / b).toFixed(2)} |`)
  }
} finally {
  rmSync(work, { recursive: true, force: true })
  await population.stop()
}

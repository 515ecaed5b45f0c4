#!/usr/bin/env node
// Socket-population generator for the benchmarks (loopback only, bounded, cleans up by pid).
//
// Library:  import { startPopulation, SCALES } from './population.mjs'
//           const pop = await startPopulation(SCALES.medium, { ttl: 900 })
//           pop.info.query.tcp4.port ... await pop.stop()
// CLI:      node bench/population.mjs --scale medium --ttl 600
//           node bench/population.mjs --procs 10 --listeners 4 --udp 5 --established 3 --ttl 60
//
// The work is done by bench/population.c, compiled on first use with `cc` into bench/.work/.
// One C parent forks P tiny children (copy-on-write) that hold the sockets; the parent prints
// `READY {json}` once they are all up, and kills exactly the pids it forked when the ttl runs
// out, when it gets SIGTERM/SIGINT/SIGHUP, or when our stdin pipe closes (this process died).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
export const WORK_DIR = join(here, '.work')
const SOURCE = join(here, 'population.c')
const BINARY = join(WORK_DIR, 'population')

// The three populations of issue 2/4 (kernel-facts.md): ~200 sockets / ~130 processes /
// ~1.3k fds, ~10k / ~600 / ~24k, ~100k / ~2k / ~158k, counting the ~75 processes and ~500 fds
// the machine has without us. Every child also holds a few non-socket fds (pipes, /dev/null),
// as real daemons do, so the /proc/<pid>/fd walk costs what it costs on a real machine.
export const SCALES = {
  small: { procs: 55, listeners: 2, udp: 40, established: 25, extraFds: 10 },
  medium: { procs: 540, listeners: 12, udp: 1100, established: 1200, extraFds: 22 },
  large: { procs: 1925, listeners: 44, udp: 8000, established: 3650, extraFds: 27 },
}

/** Compile population.c into bench/.work/ unless an up-to-date binary is there. */
export function ensureBuilt() {
  mkdirSync(WORK_DIR, { recursive: true })
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= statSync(SOURCE).mtimeMs) return BINARY
  const cc = process.env.CC || 'cc'
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', BINARY, SOURCE], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error(`${cc} failed to build ${SOURCE} (status ${r.status})`)
  return BINARY
}

function argsFor(p, ttl) {
  const a = ['--procs', p.procs, '--listeners', p.listeners, '--udp', p.udp]
  a.push('--established', p.established, '--extra-fds', p.extraFds ?? 0, '--ttl', ttl)
  if (p.v6Every !== undefined) a.push('--v6-every', p.v6Every)
  if (p.portBase !== undefined) a.push('--port-base', p.portBase)
  if (p.queryBase !== undefined) a.push('--query-base', p.queryBase)
  a.push('--stdin-eof')
  return a.map(String)
}

/**
 * Start a population and resolve once it is up.
 * @returns {Promise<{info: object, pid: number, stop: () => Promise<void>}>}
 */
export function startPopulation(params, { ttl = 600, setupTimeoutMs = 300_000 } = {}) {
  const bin = ensureBuilt()
  // stdin is a pipe that we never write to: when this process dies, the generator sees EOF and
  // cleans up even if nobody calls stop().
  const child = spawn(bin, argsFor(params, ttl), { stdio: ['pipe', 'pipe', 'inherit'] })
  let exited = false
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = true
      resolve({ code, signal })
    })
  })
  const stop = async () => {
    if (exited) return
    child.kill('SIGTERM') // our own child: the C parent, which then kills its own children
    const t = setTimeout(() => {
      if (!exited) child.kill('SIGKILL')
    }, 15_000)
    await exitPromise
    clearTimeout(t)
  }
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => {
      stop().then(() => reject(new Error('population did not become ready in time')))
    }, setupTimeoutMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      buf += d
      const nl = buf.indexOf('\n')
      if (nl < 0) return
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (!line.startsWith('READY ')) return
      clearTimeout(timer)
      let info
      try {
        info = JSON.parse(line.slice(6))
      } catch (e) {
        stop().then(() => reject(e))
        return
      }
      resolve({ info, pid: child.pid, stop, exited: exitPromise })
    })
    exitPromise.then(({ code, signal }) => {
      clearTimeout(timer)
      reject(new Error(`population exited before it was ready (code ${code}, signal ${signal})`))
    })
  })
}

/** What the whole machine holds right now: socket table rows, processes, open fds. */
export function machineCounts() {
  let sockets = 0
  for (const f of ['tcp', 'tcp6', 'udp', 'udp6']) {
    try {
      const lines = readFileSync(`/proc/net/${f}`, 'latin1').split('\n')
      sockets += lines.filter((l) => l.trim() !== '').length - 1
    } catch {
      // table missing (no IPv6): count nothing
    }
  }
  let procs = 0
  let fds = 0
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    procs++
    try {
      fds += readdirSync(`/proc/${name}/fd`).length
    } catch {
      // gone, or not ours to read
    }
  }
  return { sockets, procs, fds }
}

function parseCli(argv) {
  const out = { ttl: 600 }
  let params = { ...SCALES.small }
  const num = (name, v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} needs a whole number, got ${v}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const v = argv[i + 1]
    const keys = {
      '--procs': 'procs',
      '--listeners': 'listeners',
      '--udp': 'udp',
      '--established': 'established',
      '--extra-fds': 'extraFds',
    }
    if (a === '--scale') {
      if (!SCALES[v]) throw new Error(`--scale is one of ${Object.keys(SCALES).join(', ')}`)
      params = { ...SCALES[v] }
      i++
    } else if (keys[a]) {
      params[keys[a]] = num(a.slice(2), v)
      i++
    } else if (a === '--ttl') {
      out.ttl = num('ttl', v)
      if (out.ttl < 1 || out.ttl > 86400) throw new Error('--ttl is 1..86400 seconds')
      i++
    } else {
      throw new Error(
        `unknown argument ${a}; usage: population.mjs [--scale small|medium|large] [--procs P] ` +
          '[--listeners L] [--udp U] [--established E] [--extra-fds N] [--ttl SECONDS]',
      )
    }
  }
  return { params, ...out }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  let cli
  try {
    cli = parseCli(process.argv.slice(2))
  } catch (e) {
    console.error(String(e.message))
    process.exit(2)
  }
  const pop = await startPopulation(cli.params, { ttl: cli.ttl })
  const counts = machineCounts()
  console.log(`READY ${JSON.stringify({ ...pop.info, machine: counts })}`)
  console.error(
    `population up: ${pop.info.actual.sockets} sockets in ${pop.info.actual.procs} processes ` +
      `(machine: ${counts.sockets} sockets, ${counts.procs} processes, ${counts.fds} fds); ` +
      `query TCP ${pop.info.query.tcp4.port} (pid ${pop.info.query.tcp4.pid}); ` +
      `exits by itself in ${cli.ttl} s, Ctrl-C to stop now`,
  )
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      pop.stop().then(() => process.exit(0))
    })
  }
  const { code } = await pop.exited
  process.exit(code ?? 0)
}

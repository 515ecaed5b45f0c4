#!/usr/bin/env node
// Network namespaces (issue 12): `portwarden list --all-namespaces` against running
// `ss -tuanpH -N NS` once per namespace, on 100 `ip netns` namespaces × 100 loopback listeners,
// and the single-namespace paths of this build against a build from before the netns work.
//
//   node bench/netns.mjs [--namespaces 100] [--listeners 100] [--udp 5] [--runs 9] [--warmup 1]
//                        [--population one|per-ns] [--compare-population]
//                        [--before DIR] [--before-runs 15] [--idle-wait 5] [--md FILE]
//
// Root only (ip netns add, setns); as anyone else it prints a skip line and exits 0.
// 1. Creates N namespaces `pwb-<random>-<i>` (lo up) and fills each with L TCP listeners
//    (127.0.0.1 and every 10th on [::1]) and U bound UDP sockets, from bench/netns-population.py:
//    `one` = a single python3 that setns(2)s into each namespace in turn (a socket stays in the
//    namespace it was made in); `per-ns` = one python3 per namespace under `ip netns exec`.
//    --compare-population builds both once and reports their set-up time and memory.
// 2. Checks, per namespace, that portwarden's JSON has as many sockets as `ss -tuanH -N NS`
//    prints lines (and as the population made); a mismatch is printed loudly (exit 1 at the end).
// 3. Times, in interleaved rounds after --warmup rounds: `list --all-namespaces --json`, the
//    table, `who PORT --all-namespaces`, a `sh` loop running `ss -tuanpH -N NS` for every
//    namespace (as a user's script would), the same without -p, and the host-only rows
//    (`ss -tuanpH`, `list --json`, `list`). Medians and ratios; the bar of issue 12 is
//    all-namespaces ≤ 2x the ss loop.
// 4. With --before DIR (a checkout of the commit before the netns work, with its native addon
//    and `npm run build` done): deletes the namespaces, starts the medium population
//    (~10k sockets in the host namespace, bench/population.mjs) and times host-only `list --json`,
//    `list` and `who PORT` of both builds, interleaved run by run.
//
// Cleans up after itself, also on Ctrl-C, SIGTERM and errors: it kills exactly the processes it
// started (by pid) and deletes exactly the namespaces it created.
import { spawn, spawnSync } from 'node:child_process'
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { randomBytes } from 'node:crypto'
import { setImmediate as turn } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { SCALES, WORK_DIR, machineCounts, startPopulation } from './population.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = join(ROOT, 'dist/bin/portwarden.cjs')
const POPULATION_PY = join(ROOT, 'bench/netns-population.py')
const PORT_BASE = 20000
const SPAWN_TIMEOUT_MS = 300_000

// ---------------------------------------------------------------------------------------------
// options

function parseArgs(argv) {
  const o = {
    namespaces: 100,
    listeners: 100,
    udp: 5,
    runs: 9,
    warmup: 1,
    population: 'one',
    comparePopulation: false,
    before: null,
    beforeRuns: 15,
    idleWait: 5,
    md: null,
  }
  const int = (flag, v, min, max) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < min || n > max)
      usage(`${flag} is a whole number ${min}..${max}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, value] = [argv[i], argv[i + 1]]
    if (flag === '-h' || flag === '--help') usage()
    else if (flag === '--compare-population') {
      o.comparePopulation = true
      continue
    } else if (value === undefined) usage(`${flag} needs a value`)
    else if (flag === '--namespaces') o.namespaces = int(flag, value, 1, 500)
    else if (flag === '--listeners') o.listeners = int(flag, value, 1, 1000)
    else if (flag === '--udp') o.udp = int(flag, value, 0, 1000)
    else if (flag === '--runs') o.runs = int(flag, value, 3, 200)
    else if (flag === '--warmup') o.warmup = int(flag, value, 0, 20)
    else if (flag === '--before-runs') o.beforeRuns = int(flag, value, 3, 200)
    else if (flag === '--idle-wait') o.idleWait = int(flag, value, 0, 600)
    else if (flag === '--before') o.before = value
    else if (flag === '--md') o.md = value
    else if (flag === '--population') {
      if (value !== 'one' && value !== 'per-ns') usage('--population is one or per-ns')
      o.population = value
    } else usage(`unknown argument ${flag}`)
    i++
  }
  if (o.before && !existsSync(join(o.before, 'dist/bin/portwarden.cjs')))
    usage(`--before ${o.before}: no dist/bin/portwarden.cjs there (run npm run build in it)`)
  return o
}

function usage(message) {
  if (message) console.error(`bench/netns.mjs: ${message}`)
  console.error(
    'usage: node bench/netns.mjs [--namespaces N] [--listeners L] [--udp U] [--runs N] [--warmup N]\n' +
      '                            [--population one|per-ns] [--compare-population]\n' +
      '                            [--before DIR] [--before-runs N] [--idle-wait SECONDS] [--md FILE]',
  )
  process.exit(message ? 2 : 0)
}

// ---------------------------------------------------------------------------------------------
// what we started, and taking it all down again (synchronous: it also runs from signal handlers)

const createdNamespaces = new Set()
const startedPids = new Set()
let hostPopulation = null

function killStarted() {
  for (const pid of startedPids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  startedPids.clear()
}

function deleteNamespaces() {
  for (const name of createdNamespaces) {
    const r = spawnSync('ip', ['netns', 'delete', name], { encoding: 'utf8' })
    if (r.status !== 0) console.error(`could not delete namespace ${name}: ${r.stderr.trim()}`)
  }
  createdNamespaces.clear()
}

function cleanUpNow() {
  killStarted()
  deleteNamespaces()
  if (scriptCopy) rmSync(dirname(scriptCopy), { recursive: true, force: true })
  scriptCopy = null
  // The C population also goes when our stdin pipe closes; SIGTERM makes it go now.
  if (hostPopulation) {
    try {
      process.kill(hostPopulation.pid, 'SIGTERM')
    } catch {
      // already gone
    }
  }
}

for (const [sig, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
  ['SIGHUP', 129],
]) {
  process.on(sig, () => {
    console.error(`\n${sig}: cleaning up (namespaces, processes) ...`)
    cleanUpNow()
    process.exit(code)
  })
}
process.on('exit', cleanUpNow)

// ---------------------------------------------------------------------------------------------
// the population in the namespaces

function run(cmd, args, what) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: SPAWN_TIMEOUT_MS })
  if (r.status !== 0)
    throw new Error(`${what ?? `${cmd} ${args.join(' ')}`}: ${r.error?.message ?? r.stderr.trim()}`)
  return r.stdout
}

function createNamespaces(n) {
  const tag = randomBytes(3).toString('hex')
  const names = []
  const t0 = performance.now()
  for (let i = 0; i < n; i++) {
    const name = `pwb-${tag}-${i}`
    run('ip', ['netns', 'add', name])
    createdNamespaces.add(name)
    run('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    names.push(name)
  }
  return { names, ms: performance.now() - t0 }
}

let scriptCopy = null

/** The population script, copied out of the checkout (see startPyPopulation). */
function populationScript() {
  if (!scriptCopy) {
    const dir = mkdtempSync(join(tmpdir(), 'pw-bench-netns-'))
    scriptCopy = join(dir, 'netns-population.py')
    copyFileSync(POPULATION_PY, scriptCopy)
  }
  return scriptCopy
}

function python() {
  // Debian's, not a pyenv shim (a shell script that costs ~50 ms per start).
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3'
}

/** Start one population process; resolves with its READY document once every socket is bound. */
function startPyPopulation(argv, timeoutMs = 120_000) {
  // cwd / and the script copied to a temp dir: a holder whose cwd or command line is in a git
  // worktree makes `who` run git once per answer for the stale evidence (100 answers: 100 runs),
  // which is not what this compares.
  const child = spawn(argv[0], argv.slice(1), { cwd: '/', stdio: ['pipe', 'pipe', 'inherit'] })
  startedPids.add(child.pid)
  return new Promise((resolve, reject) => {
    let buf = ''
    const timer = setTimeout(() => reject(new Error('population not ready in time')), timeoutMs)
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      buf += d
      const line = buf.split('\n').find((l) => l.startsWith('READY '))
      if (!line) return
      clearTimeout(timer)
      resolve({ child, info: JSON.parse(line.slice(6)) })
    })
    child.on('exit', (code, signal) => {
      startedPids.delete(child.pid)
      clearTimeout(timer)
      reject(new Error(`population exited before READY (code ${code}, signal ${signal})`))
    })
  })
}

/** `one`: a single python3 for every namespace; `per-ns`: one per namespace, via ip netns exec. */
async function startNamespacePopulation(mode, names, o) {
  const config = (namespaces) =>
    JSON.stringify({
      namespaces,
      listeners: o.listeners,
      udp: o.udp,
      port_base: PORT_BASE,
      v6_every: 10,
      ttl: 1800,
    })
  const t0 = performance.now()
  const procs =
    mode === 'one'
      ? [await startPyPopulation([python(), populationScript(), config(names)])]
      : await Promise.all(
          names.map((name) =>
            startPyPopulation([
              'ip',
              'netns',
              'exec',
              name,
              python(),
              POPULATION_PY,
              config([null]),
            ]),
          ),
        )
  const ms = performance.now() - t0
  const rssKiB = procs.reduce((sum, p) => sum + rssOf(p.child.pid), 0)
  const stop = async () => {
    await Promise.all(
      procs.map(
        (p) =>
          new Promise((resolve) => {
            if (p.child.exitCode !== null || p.child.signalCode !== null) return resolve()
            p.child.once('exit', resolve)
            p.child.stdin.end() // EOF: it exits and the kernel closes its sockets
            setTimeout(() => p.child.kill('SIGKILL'), 5000).unref()
          }),
      ),
    )
  }
  return { mode, procs, pids: procs.map((p) => p.child.pid), ms, rssKiB, stop }
}

function rssOf(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

// ---------------------------------------------------------------------------------------------
// timing

/** CPU time of the whole machine so far (USER_HZ = 100), to see other load on a shared machine. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'latin1').split('\n')[0].trim().split(/\s+/).slice(1)
  const n = f.map(Number)
  const total = n.reduce((a, b) => a + b, 0)
  return { busy: total - n[3] - (n[4] ?? 0), total }
}

async function waitIdle(maxS) {
  const busyOver = async (ms) => {
    const a = cpuTimes()
    await new Promise((r) => setTimeout(r, ms))
    const b = cpuTimes()
    return b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0
  }
  const deadline = performance.now() + maxS * 1000
  let busy = await busyOver(500)
  while (busy > 0.25 && performance.now() < deadline) busy = await busyOver(1000)
  return busy
}

function timeOnce(argv, ok = [0]) {
  const t0 = performance.now()
  const r = spawnSync(argv[0], argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 512 * 1024 * 1024,
    timeout: SPAWN_TIMEOUT_MS,
  })
  const ms = performance.now() - t0
  if (r.error || !ok.includes(r.status))
    throw new Error(
      `${argv.join(' ').slice(0, 200)}: ${r.error?.message ?? `exit ${r.status}`} ${String(r.stderr).slice(0, 500)}`,
    )
  return { ms, stdout: r.stdout }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

/** Interleaved rounds: every command once per round, so all of them see the same machine. */
let idleWaitS = 5

async function timeRows(rows, runs, warmup) {
  for (let w = 0; w < warmup; w++)
    for (const row of rows) {
      timeOnce(row.argv, row.ok)
      await turn()
    }
  const times = rows.map(() => [])
  let busiest = 0
  for (let i = 0; i < runs; i++) {
    // On a shared machine: wait (bounded: --idle-wait per round) for other work to quieten.
    if (idleWaitS > 0) busiest = Math.max(busiest, await waitIdle(idleWaitS))
    for (const [k, row] of rows.entries()) {
      times[k].push(timeOnce(row.argv, row.ok).ms)
      // spawnSync blocks the event loop: let a pending SIGINT/SIGTERM handler run between runs.
      await turn()
    }
    process.stderr.write(`  round ${i + 1}/${runs}\r`)
  }
  process.stderr.write('\n')
  return {
    busiest,
    results: rows.map((row, k) => ({
      ...row,
      median: median(times[k]),
      min: Math.min(...times[k]),
      runs: times[k].length,
    })),
  }
}

const f1 = (ms) => ms.toFixed(1)
const ratio = (a, b) => `${(a / b).toFixed(2)}x`

// ---------------------------------------------------------------------------------------------
// the correctness check: portwarden's sockets per namespace against ss -N's lines

function checkCounts(names, info, pids) {
  const doc = JSON.parse(timeOnce(['node', CLI, 'list', '--all-namespaces', '--json']).stdout)
  const byName = new Map()
  const others = new Set()
  const wrongHolder = []
  for (const s of doc) {
    const name = s.netns?.name ?? null
    if (name === null || !createdNamespaces.has(name)) {
      others.add(s.netns ? `${s.netns.host ? 'host' : (name ?? s.netns.inode)}` : 'untagged')
      continue
    }
    byName.set(name, (byName.get(name) ?? 0) + 1)
    if (!s.processes?.some((p) => pids.includes(p.pid))) wrongHolder.push(`${name} ${s.local_port}`)
  }
  const mismatches = []
  for (const name of names) {
    const ssLines = run('ss', ['-tuanH', '-N', name])
      .split('\n')
      .filter((l) => l.trim() !== '').length
    const made = info[name] ? info[name].tcp + info[name].udp : null
    const pw = byName.get(name) ?? 0
    if (pw !== ssLines || (made !== null && pw !== made))
      mismatches.push(`${name}: portwarden ${pw}, ss -N ${ssLines}, made ${made}`)
  }
  return { mismatches, wrongHolder, others: [...others], total: doc.length }
}

function beforeHead(dir) {
  const r = spawnSync('git', ['-C', dir, 'log', '--format=%h %s', '-1'], { encoding: 'utf8' })
  const line = r.stdout?.trim() || dir
  return line.length > 70 ? `${line.slice(0, 70)}…` : line
}

/** A port nothing on the host holds (the kernel's choice, then let go). */
function freeHostPort() {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

/** The same commands of the old build and of this one, interleaved run by run. */
async function beforeAfter(say, beforeCli, commands, runs) {
  say('| command | before (ms, median) | now (ms, median) | now ÷ before | other load |')
  say('|---|---:|---:|---:|---:|')
  for (const [name, args, ok] of commands) {
    const pair = [
      { id: 'before', argv: ['node', beforeCli, ...args], ok },
      { id: 'now', argv: ['node', CLI, ...args], ok },
    ]
    const t = await timeRows(pair, runs, 1)
    const [b, n] = t.results.map((r) => r.median)
    const busy = `${(t.busiest * 100).toFixed(0)}%`
    say(`| \`${name}\` | ${f1(b)} | ${f1(n)} | ${(n / b).toFixed(2)} | ${busy} |`)
  }
}

// ---------------------------------------------------------------------------------------------
// main

function machineLine() {
  const ssVersion = spawnSync('ss', ['-V'], { encoding: 'utf8' })
    .stdout.trim()
    .split(/[\s-]+/)
    .pop()
  return (
    `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
    `Linux ${release()}, Node ${process.version}, iproute2 ${ssVersion}`
  )
}

async function main() {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    console.log(
      'bench/netns.mjs: SKIPPED: needs root on Linux (ip netns add, and entering namespaces with setns)',
    )
    return 0
  }
  const o = parseArgs(process.argv.slice(2))
  idleWaitS = o.idleWait
  if (!existsSync(CLI)) usage('no dist/bin/portwarden.cjs: run npm run build first')
  for (const [tool, args] of [
    ['ip', ['-V']],
    ['ss', ['-V']],
    [python(), ['-V']],
  ])
    if (spawnSync(tool, args).status !== 0) usage(`${tool} is needed (Debian: iproute2, python3)`)
  mkdirSync(WORK_DIR, { recursive: true })
  const md = []
  const say = (line = '') => {
    console.log(line)
    md.push(line)
  }
  const started = new Date()
  const sockets = o.listeners + o.udp
  say(
    `## Network namespaces (issue 12), ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  )
  say()
  say(
    `Machine: ${machineLine()}; load average before ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}.`,
  )
  say(
    `Population: ${o.namespaces} namespaces × (${o.listeners} TCP listeners + ${o.udp} UDP) = ` +
      `${o.namespaces * sockets} sockets in the namespaces; ${o.runs} interleaved rounds after ${o.warmup} warm-up.`,
  )
  say()

  const ns = createNamespaces(o.namespaces)
  say(`- \`ip netns add\` + \`lo up\` for ${o.namespaces} namespaces: ${f1(ns.ms)} ms`)
  let pop
  if (o.comparePopulation) {
    const other = o.population === 'one' ? 'per-ns' : 'one'
    const first = await startNamespacePopulation(other, ns.names, o)
    say(
      `- population \`${other}\`: ${first.pids.length} process(es), up in ${f1(first.ms)} ms, ` +
        `RSS ${(first.rssKiB / 1024).toFixed(1)} MiB`,
    )
    await first.stop()
  }
  pop = await startNamespacePopulation(o.population, ns.names, o)
  say(
    `- population \`${o.population}\` (used below): ${pop.pids.length} process(es), up in ${f1(pop.ms)} ms, ` +
      `RSS ${(pop.rssKiB / 1024).toFixed(1)} MiB`,
  )
  const counts = machineCounts()
  say(
    `- host namespace: ${counts.sockets} socket table rows; machine: ${counts.procs} processes, ${counts.fds} fds`,
  )

  const info = Object.assign(
    {},
    ...pop.procs.map((p, i) =>
      p.info.counts[''] ? { [ns.names[i]]: p.info.counts[''] } : p.info.counts,
    ),
  )
  const check = checkCounts(ns.names, info, pop.pids)
  if (check.mismatches.length > 0 || check.wrongHolder.length > 0) {
    console.error('\n!!!!!!!!!! MISMATCH between portwarden and ss -N !!!!!!!!!!')
    for (const m of check.mismatches.slice(0, 20)) console.error(`!!! ${m}`)
    for (const m of check.wrongHolder.slice(0, 20))
      console.error(`!!! holder not the population: ${m}`)
    console.error('!!!!!!!!!!\n')
  }
  say(
    `- correctness: ${check.mismatches.length === 0 ? 'every' : `**${check.mismatches.length} MISMATCHED**, every other`} ` +
      `namespace has as many sockets in \`list --all-namespaces --json\` as \`ss -tuanH -N NS\` lines ` +
      `(${sockets} each), ${check.wrongHolder.length === 0 ? 'all held by the population' : `**${check.wrongHolder.length} with the wrong holder**`}; ` +
      `portwarden also listed ${check.total - o.namespaces * sockets} socket(s) of other namespaces: ${check.others.join(', ') || 'none'}`,
  )
  say()

  const pw = (...args) => ['node', CLI, ...args]
  const loop = (ssArgs) => [
    'sh',
    '-c',
    `for n in "$@"; do ss ${ssArgs} -N "$n"; done`,
    'sh',
    ...ns.names,
  ]
  const rows = [
    {
      id: 'all-json',
      label: '`portwarden list --all-namespaces --json`',
      argv: pw('list', '--all-namespaces', '--json'),
    },
    {
      id: 'all-table',
      label: '`portwarden list --all-namespaces`',
      argv: pw('list', '--all-namespaces'),
    },
    {
      id: 'who-all',
      label: `\`portwarden who ${PORT_BASE} --all-namespaces\``,
      argv: pw('who', String(PORT_BASE), '--all-namespaces'),
      ok: [0, 1],
    },
    {
      id: 'ss-loop',
      label: `\`ss -tuanpH -N NS\` × ${o.namespaces} (sh loop)`,
      argv: loop('-tuanpH'),
    },
    {
      id: 'ss-loop-nop',
      label: `\`ss -tuanH -N NS\` × ${o.namespaces} (no -p)`,
      argv: loop('-tuanH'),
    },
    { id: 'host-json', label: '`portwarden list --json` (host only)', argv: pw('list', '--json') },
    { id: 'host-table', label: '`portwarden list` (host only)', argv: pw('list') },
    { id: 'ss-host', label: '`ss -tuanpH` (host only)', argv: ['ss', '-tuanpH'] },
    { id: 'node', label: '`node -e 0`', argv: ['node', '-e', '0'] },
  ]
  console.error(`timing ${rows.length} commands, ${o.runs} rounds ...`)
  const timed = await timeRows(rows, o.runs, o.warmup)
  const by = Object.fromEntries(timed.results.map((r) => [r.id, r]))
  say('| command | median (ms) | min (ms) | ÷ ss loop | ÷ ss host |')
  say('|---|---:|---:|---:|---:|')
  for (const r of timed.results)
    say(
      `| ${r.label} | ${f1(r.median)} | ${f1(r.min)} | ${ratio(r.median, by['ss-loop'].median)} | ${ratio(r.median, by['ss-host'].median)} |`,
    )
  say()
  const bar = by['all-json'].median / by['ss-loop'].median
  say(
    `Bar of issue 12: \`list --all-namespaces --json\` ÷ the ${o.namespaces} \`ss -N\` runs = ` +
      `**${bar.toFixed(2)}x** (≤ 2.00: ${bar <= 2 ? 'met' : 'NOT met'}); the table ` +
      `${ratio(by['all-table'].median, by['ss-loop'].median)}. Host only: \`list --json\` ÷ \`ss -tuanpH\` = ` +
      `${ratio(by['host-json'].median, by['ss-host'].median)}. Busiest other load during a round: ` +
      `${(timed.busiest * 100).toFixed(0)}% of the machine.`,
  )
  say()
  if (o.before) {
    const free = PORT_BASE + o.listeners + 500
    say(
      `### Single namespace with the ${o.namespaces} namespaces present, before/after (host-only commands)`,
    )
    say()
    say(
      `Port ${PORT_BASE} is free in the host namespace and held in every one of ours; ${free} is free everywhere. ` +
        `${o.beforeRuns} runs, interleaved before/now; before = \`${beforeHead(o.before)}\`.`,
    )
    say()
    await beforeAfter(
      say,
      join(o.before, 'dist/bin/portwarden.cjs'),
      [
        ['list --json', ['list', '--json'], [0]],
        [`who ${PORT_BASE} (held elsewhere)`, ['who', String(PORT_BASE)], [0, 1]],
        [`who ${free} (free everywhere)`, ['who', String(free)], [0, 1]],
        [`check ${PORT_BASE}`, ['check', String(PORT_BASE)], [0, 1]],
      ],
      o.beforeRuns,
    )
    say()
  }
  await pop.stop()
  deleteNamespaces()

  if (o.before) {
    console.error(
      `before/after at the medium host population, ${o.beforeRuns} interleaved runs ...`,
    )
    hostPopulation = await startPopulation(SCALES.medium, { ttl: 1800 })
    try {
      const port = hostPopulation.info.query.tcp4.port
      const c = machineCounts()
      const before = join(o.before, 'dist/bin/portwarden.cjs')
      const free = await freeHostPort()
      say(
        `### Single namespace, before/after (host: ${c.sockets} sockets, ${c.procs} processes, ${c.fds} fds; ` +
          `no other namespaces of ours)`,
      )
      say()
      say(
        `PORT ${port} is held by one population process; ${free} is free (kernel-chosen). ` +
          `${o.beforeRuns} runs, interleaved before/now; before = \`${beforeHead(o.before)}\`.`,
      )
      say()
      await beforeAfter(
        say,
        before,
        [
          ['list --json', ['list', '--json'], [0]],
          ['list', ['list'], [0]],
          ['who PORT', ['who', String(port)], [0]],
          ['who FREE', ['who', String(free)], [0, 1]],
          ['check FREE', ['check', String(free)], [0, 1]],
        ],
        o.beforeRuns,
      )
      say()
    } finally {
      await hostPopulation.stop()
      hostPopulation = null
    }
  }
  const file = join(WORK_DIR, `netns-${started.toISOString().replace(/[:.]/g, '-')}.md`)
  writeFileSync(file, `${md.join('\n')}\n`)
  if (o.md) writeFileSync(o.md, `${md.join('\n')}\n`)
  console.error(`written to ${file}${o.md ? ` and ${o.md}` : ''}`)
  return check.mismatches.length > 0 || check.wrongHolder.length > 0 ? 1 : 0
}

let code = 1
try {
  code = await main()
} catch (e) {
  console.error(`bench/netns.mjs: ${e.stack ?? e}`)
} finally {
  cleanUpNow()
}
process.exit(code)

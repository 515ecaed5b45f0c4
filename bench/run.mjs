#!/usr/bin/env node
// portwarden benchmark: `list --json`, `who PORT`, `check PORT` against ss, lsof, fuser, netstat,
// find-process and pid-port, side by side in one run, on live loopback socket populations.
//
//   node bench/run.mjs [--scale small|medium|large|all] [--runs N] [--warmup N]
//                      [--cap SECONDS] [--budget SECONDS] [--only REGEX] [--skip REGEX]
//                      [--md FILE] [--no-npm]
//
// For each scale: start the population (bench/population.mjs), probe every command once under
// /usr/bin/time (warm-up, exit code, "did it name the holder's pid?", peak RSS), then time it with
// hyperfine (whole-process wall clock; `node` timing loop if hyperfine is missing). A command
// whose probe takes longer than --cap is skipped; slow commands get fewer runs (>= 3) so that
// each stays within --budget seconds. Prints a table with medians, mins and ratios against
// `ss -tulpnH`, `lsof -nP -i :PORT` and `node -e 0`, then the same as Markdown (also written to
// bench/.work/results-<time>.md, and to --md FILE if given) for bench/RESULTS.md.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, release, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { SCALES, WORK_DIR, machineCounts, startPopulation } from './population.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CLI = 'dist/bin/portwarden.cjs'
const TIME_BIN = '/usr/bin/time'
const OUT_CAP = 64 * 1024 * 1024 // bytes of probe output kept for the "holder found" check

// ---------------------------------------------------------------------------------------------
// options

function parseArgs(argv) {
  const o = {
    scales: ['small', 'medium'],
    runs: 10,
    warmup: 1,
    capS: 30,
    budgetS: 60,
    only: null,
    skip: null,
    md: null,
    npm: true,
    idleWaitS: 60,
  }
  const need = (i) => {
    if (argv[i + 1] === undefined) usage(`${argv[i]} needs a value`)
    return argv[i + 1]
  }
  const posInt = (name, v, max) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 1 || n > max) usage(`${name} must be a whole number 1..${max}`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--scale') {
      const v = need(i++)
      if (v === 'all') o.scales = Object.keys(SCALES)
      else {
        o.scales = v.split(',')
        for (const s of o.scales) if (!SCALES[s]) usage(`unknown scale ${s}`)
      }
    } else if (a === '--runs') o.runs = posInt('--runs', need(i++), 1000)
    else if (a === '--warmup') o.warmup = Math.max(0, Number(need(i++)) | 0)
    else if (a === '--cap') o.capS = posInt('--cap', need(i++), 3600)
    else if (a === '--budget') o.budgetS = posInt('--budget', need(i++), 36000)
    else if (a === '--only') o.only = new RegExp(need(i++))
    else if (a === '--skip') o.skip = new RegExp(need(i++))
    else if (a === '--md') o.md = need(i++)
    else if (a === '--no-npm') o.npm = false
    else if (a === '--idle-wait') o.idleWaitS = Math.max(0, Number(need(i++)) | 0)
    else if (a === '-h' || a === '--help') usage()
    else usage(`unknown argument ${a}`)
  }
  return o
}

function usage(msg) {
  if (msg) console.error(`run.mjs: ${msg}`)
  console.error(
    'usage: node bench/run.mjs [--scale small|medium|large|all|a,b] [--runs N] [--warmup N]\n' +
      '                          [--cap SECONDS] [--budget SECONDS] [--only REGEX] [--skip REGEX]\n' +
      '                          [--md FILE] [--no-npm] [--idle-wait SECONDS]',
  )
  process.exit(msg ? 2 : 0)
}

// ---------------------------------------------------------------------------------------------
// the npm competitors, installed into bench/.work/node_modules and called from tiny scripts

function ensureNpmHelpers(allowInstall) {
  const have = (p) => existsSync(join(WORK_DIR, 'node_modules', p, 'package.json'))
  if (!have('find-process') || !have('pid-port')) {
    if (!allowInstall) return false
    console.error('installing find-process and pid-port into bench/.work/node_modules ...')
    const r = spawnSync(
      'npm',
      ['install', '--prefix', WORK_DIR, '--no-audit', '--no-fund', '--loglevel=error'].concat([
        'find-process',
        'pid-port',
      ]),
      { stdio: 'inherit', timeout: 300_000 },
    )
    if (r.status !== 0 || !have('find-process') || !have('pid-port')) {
      console.error('npm install failed: find-process and pid-port are skipped')
      return false
    }
  }
  writeFileSync(
    join(WORK_DIR, 'find-process.mjs'),
    "import find from 'find-process'\n" +
      "const list = await find('port', Number(process.argv[2]))\n" +
      "console.log(list.map((p) => `${p.pid} ${p.name}`).join('\\n'))\n" +
      'process.exit(list.length > 0 ? 0 : 1)\n',
  )
  writeFileSync(
    join(WORK_DIR, 'pid-port.mjs'),
    "import { portToPid } from 'pid-port'\n" +
      'const pid = await portToPid(Number(process.argv[2]))\n' +
      'console.log(pid)\n' +
      'process.exit(pid ? 0 : 1)\n',
  )
  return true
}

function versionOf(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 })
  if (r.error) return null
  const first = `${r.stdout}${r.stderr}`.split('\n').find((l) => l.trim() !== '') ?? ''
  return first.trim().split(/\s+/).pop()
}

// ---------------------------------------------------------------------------------------------
// the commands

const word = (n) => new RegExp(`(^|[^0-9])${n}([^0-9]|$)`, 'm')

function commandsFor(port, pid, { npm, cli }) {
  const holder = word(pid)
  const pw = (args) => `node ${CLI} ${args}`
  // portwarden with each backend: auto (netlink + the addon's holder scan: the BPF iterator as
  // root, else its fd walk), netlink with the fd walk forced, the /proc/net tables (+ the
  // addon's scan), pure TypeScript (the addon turned off: /proc/net + the JS walk on a worker
  // thread), and lsof.
  const backends = [
    { id: '', label: '', prefix: '', flag: '' },
    {
      id: '-walk',
      label: ' (fd walk, no BPF)',
      prefix: 'env PORTWARDEN_FD_SCAN=readlink ',
      flag: '',
    },
    { id: '-proc', label: ' --backend proc', prefix: '', flag: ' --backend proc' },
    {
      id: '-ts',
      label: ' (pure TS)',
      prefix: 'env PORTWARDEN_NO_NATIVE=1 ',
      flag: ' --backend proc',
    },
    { id: '-lsof', label: ' --backend lsof', prefix: '', flag: ' --backend lsof' },
  ]
  const c = []
  for (const [id, label, args, ok] of [
    ['list', 'list --json', 'list --json', [0]],
    ['who', 'who PORT', `who ${port}`, [0]],
    ['check', 'check PORT', `check ${port}`, [1]],
  ]) {
    for (const b of backends)
      c.push({
        id: `pw-${id}${b.id}`,
        label: `portwarden ${label}${b.label}`,
        cmd: `${b.prefix}${pw(args)}${b.flag}`,
        pw: true,
        ok,
      })
  }
  c.push(
    { id: 'pw-list-text', label: 'portwarden list', cmd: pw('list'), pw: true },
    { id: 'ss-p', label: 'ss -tulpnH', cmd: 'ss -tulpnH' },
    {
      id: 'ss',
      label: 'ss -tulnH',
      desc: 'netlink dump alone, no -p',
      cmd: 'ss -tulnH',
      expect: `:${port} `,
    },
    { id: 'lsof-all', label: 'lsof -nP -i', cmd: 'lsof -nP -i' },
    { id: 'lsof-port', label: 'lsof -nP -i :PORT', cmd: `lsof -nP -i :${port}` },
    { id: 'fuser', label: 'fuser PORT/tcp', cmd: `fuser ${port}/tcp` },
    { id: 'netstat', label: 'netstat -tulpn', cmd: 'netstat -tulpn', expect: `${pid}/` },
    {
      id: 'find-process',
      label: 'find-process PORT',
      desc: 'npm find-process, via a 4-line script',
      cmd: `node bench/.work/find-process.mjs ${port}`,
      npm: true,
    },
    {
      id: 'pid-port',
      label: 'pid-port PORT',
      desc: 'npm pid-port, via a 4-line script',
      cmd: `node bench/.work/pid-port.mjs ${port}`,
      npm: true,
    },
    { id: 'node', label: 'node -e 0', cmd: 'node -e 0', expect: null },
  )
  for (const x of c) {
    x.ok ??= [0]
    if (x.expect === undefined) x.expect = holder
    else if (typeof x.expect === 'string') x.expect = new RegExp(escapeRe(x.expect), 'm')
    if (x.npm && !npm) x.unavailable = 'npm packages not installed'
    if (x.pw && !cli) x.unavailable = `${CLI} missing (npm run build)`
  }
  return c
}

const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

// ---------------------------------------------------------------------------------------------
// running things

/** CPU time of the whole machine so far, in seconds summed over cores (USER_HZ = 100). */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'latin1')
    .split('\n')[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number)
  const total = f.reduce((a, b) => a + b, 0)
  const idle = f[3] + (f[4] ?? 0)
  return { busyS: (total - idle) / 100, totalS: total / 100 }
}

/** Share of CPU time not idle over `ms`, from /proc/stat (all cores). */
async function cpuBusy(ms) {
  const a = cpuTimes()
  await new Promise((r) => setTimeout(r, ms))
  const b = cpuTimes()
  const total = b.totalS - a.totalS
  return total > 0 ? (b.busyS - a.busyS) / total : 0
}

/** On a shared machine: wait (bounded) until other work has quietened down. */
async function waitIdle(maxS) {
  const deadline = performance.now() + maxS * 1000
  let busy = await cpuBusy(500)
  while (busy > 0.25 && performance.now() < deadline) busy = await cpuBusy(1000)
  return busy
}

/** Run once, in its own process group (so a cap can stop all of it), under /usr/bin/time. */
function probe(cmd, capMs) {
  const argv = cmd.split(' ')
  const haveTime = existsSync(TIME_BIN)
  const timeFile = join(WORK_DIR, `time-${process.pid}.txt`)
  rmSync(timeFile, { force: true })
  const [bin, ...args] = haveTime ? [TIME_BIN, '-f', '%e %M', '-o', timeFile, ...argv] : argv
  return new Promise((resolve) => {
    const t0 = performance.now()
    const child = spawn(bin, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    const chunks = []
    let size = 0
    const keep = (d) => {
      if (size < OUT_CAP) {
        chunks.push(d)
        size += d.length
      }
    }
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    let timedOut = false
    let hwm = 0
    const timer = setTimeout(() => {
      timedOut = true
      try {
        process.kill(-child.pid, 'SIGKILL') // the group we started: the command and its children
      } catch {
        // already gone
      }
    }, capMs)
    // Without /usr/bin/time: sample the child's VmHWM while it runs (its own peak only).
    const sample = () => {
      if (haveTime || child.exitCode !== null) return
      try {
        const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))
        if (m) hwm = Math.max(hwm, Number(m[1]))
      } catch {
        // exited between checks
      }
      sampler = setTimeout(sample, 5)
    }
    let sampler = haveTime ? null : setTimeout(sample, 1)
    child.on('error', (e) => {
      clearTimeout(timer)
      clearTimeout(sampler)
      resolve({ error: e.message, ms: 0, code: null, out: '', rssKiB: null, timedOut: false })
    })
    child.on('close', (code, signal) => {
      const ms = performance.now() - t0
      clearTimeout(timer)
      clearTimeout(sampler)
      let rssKiB = hwm || null
      let exit = code
      if (haveTime) {
        try {
          const lines = readFileSync(timeFile, 'utf8').trim().split('\n')
          const last = lines[lines.length - 1].trim().split(' ')
          rssKiB = Number(last[1]) || null
          const m = /exited with non-zero status (\d+)/.exec(lines.join('\n'))
          exit = m ? Number(m[1]) : /terminated by signal/.test(lines.join('\n')) ? null : code
        } catch {
          // time was killed before writing
        }
      }
      resolve({
        ms,
        code: exit,
        signal,
        timedOut,
        rssKiB,
        out: Buffer.concat(chunks).toString('utf8'),
      })
    })
  })
}

/** Time with hyperfine: whole-process wall clock, no shell, output to a pipe. */
function hyperfine(cmd, name, warmup, runs, limitMs) {
  const json = join(WORK_DIR, `hyperfine-${process.pid}.json`)
  rmSync(json, { force: true })
  const args = ['-N', '--style', 'none', '--output', 'pipe', '-i', '--warmup', String(warmup)]
  args.push('--runs', String(runs), '--export-json', json, '-n', name, cmd)
  return new Promise((resolve) => {
    const child = spawn('hyperfine', args, {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }, limitMs)
    child.on('close', (code) => {
      clearTimeout(timer)
      try {
        const r = JSON.parse(readFileSync(json, 'utf8')).results[0]
        resolve({
          times: r.times.map((t) => t * 1000),
          exitCodes: r.exit_codes,
          cpuS: (r.user + r.system) * (warmup + runs), // ours, children included
        })
      } catch {
        resolve({ error: `hyperfine failed (${code}): ${err.trim().split('\n').pop()}` })
      }
    })
  })
}

/** Fallback timing loop when hyperfine is missing: one spawn per run, wall clock. */
async function nodeLoop(cmd, warmup, runs, capMs) {
  const times = []
  const exitCodes = []
  for (let i = 0; i < warmup + runs; i++) {
    const r = await probe(cmd, capMs)
    if (r.timedOut || r.error) return { error: r.error ?? 'timed out' }
    if (i >= warmup) {
      times.push(r.ms)
      exitCodes.push(r.code)
    }
  }
  return { times, exitCodes }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}

async function measure(c, opts, useHyperfine) {
  const capMs = opts.capS * 1000
  const p = await probe(c.cmd, capMs)
  const r = { ...c, probeMs: p.ms, rssKiB: p.rssKiB, exitCode: p.code }
  if (p.error) return { ...r, status: 'failed', note: p.error }
  if (p.timedOut) return { ...r, status: 'skipped', note: `> ${opts.capS} s cap (one run)` }
  r.found = c.expect ? c.expect.test(p.out) : null
  if (!c.ok.includes(p.code)) {
    const first = p.out.trim().split('\n')[0]?.slice(0, 120) ?? ''
    return { ...r, status: 'failed', note: `exit ${p.code}: ${first}` }
  }
  const runs = Math.max(
    3,
    Math.min(opts.runs, Math.floor((opts.budgetS * 1000) / Math.max(p.ms, 1))),
  )
  const warmup = p.ms * (opts.warmup + runs) > opts.budgetS * 1000 * 1.5 ? 0 : opts.warmup
  const limitMs = (warmup + runs + 2) * capMs
  const cpu0 = cpuTimes()
  const w0 = performance.now()
  const t = useHyperfine
    ? await hyperfine(c.cmd, c.label, warmup, runs, limitMs)
    : await nodeLoop(c.cmd, warmup, runs, capMs)
  if (t.error) return { ...r, status: 'failed', note: t.error }
  // CPU used by everything else on the machine meanwhile (a shared machine skews figures).
  // Only over windows of 1 s or more: /proc/stat counts in 10 ms ticks, and hyperfine's own
  // start-up is not in its figures.
  const wallS = (performance.now() - w0) / 1000
  if (t.cpuS !== undefined && wallS >= 1) {
    r.otherCores = Math.max(0, cpuTimes().busyS - cpu0.busyS - t.cpuS) / wallS
  }
  r.runs = t.times.length
  r.warmup = warmup
  r.medianMs = median(t.times)
  r.minMs = Math.min(...t.times)
  r.maxMs = Math.max(...t.times)
  const bad = t.exitCodes.filter((x) => !c.ok.includes(x)).length
  if (bad) r.note = `${bad} run(s) exited otherwise`
  // Peak RSS of portwarden: the max over the probe and two more runs.
  if (c.pw) {
    for (let i = 0; i < 2; i++) {
      const q = await probe(c.cmd, capMs)
      if (q.rssKiB) r.rssKiB = Math.max(r.rssKiB ?? 0, q.rssKiB)
    }
  }
  r.status = 'ok'
  return r
}

// ---------------------------------------------------------------------------------------------
// reporting

const fmtMs = (ms) =>
  ms === undefined
    ? ''
    : ms >= 1000
      ? `${(ms / 1000).toFixed(2)} s`
      : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
const fmtRatio = (a, b) => (a === undefined || b === undefined ? '' : `${(a / b).toFixed(2)}x`)
const fmtRss = (kib) => (kib ? `${(kib / 1024).toFixed(0)} MiB` : '')
const fmtInt = (n) => n.toLocaleString('en-US')

function rows(results) {
  const ref = (id) => results.find((x) => x.id === id && x.status === 'ok')?.medianMs
  const ss = ref('ss-p')
  const lp = ref('lsof-port')
  const fu = ref('fuser')
  const node = ref('node')
  return results.map((r) => ({
    command: r.label,
    median: r.status === 'ok' ? fmtMs(r.medianMs) : r.status,
    min: r.status === 'ok' ? fmtMs(r.minMs) : '',
    runs: r.status === 'ok' ? String(r.runs) : '',
    vsSs: r.status === 'ok' ? fmtRatio(r.medianMs, ss) : '',
    vsLsofPort: r.status === 'ok' ? fmtRatio(r.medianMs, lp) : '',
    vsFuser: r.status === 'ok' ? fmtRatio(r.medianMs, fu) : '',
    vsNode: r.status === 'ok' ? fmtRatio(r.medianMs, node) : '',
    rss: fmtRss(r.rssKiB),
    found: r.found === true ? 'yes' : r.found === false ? 'NO' : '-',
    note: [
      r.desc,
      r.note,
      r.otherCores > 0.2 ? `other processes used ${r.otherCores.toFixed(1)} cores meanwhile` : '',
    ]
      .filter(Boolean)
      .join('; '),
  }))
}

const HEAD = ['command', 'median', 'min', 'runs', '/ ss -tulpnH', '/ lsof -i :PORT', '/ fuser']
HEAD.push('/ node -e 0')
HEAD.push('peak RSS', 'holder found', 'note')
const KEYS = [
  'command',
  'median',
  'min',
  'runs',
  'vsSs',
  'vsLsofPort',
  'vsFuser',
  'vsNode',
  'rss',
  'found',
  'note',
]

function textTable(rs) {
  const cells = [HEAD, ...rs.map((r) => KEYS.map((k) => r[k]))]
  const w = HEAD.map((_, i) => Math.max(...cells.map((row) => row[i].length)))
  return cells
    .map((row) =>
      row.map((c, i) => (i === 0 || i >= 9 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  '),
    )
    .join('\n')
}

function mdTable(rs) {
  const lines = [
    `| ${HEAD.join(' | ')} |`,
    `|${HEAD.map((_, i) => (i === 0 || i >= 9 ? '---' : '---:')).join('|')}|`,
  ]
  for (const r of rs)
    lines.push(`| ${KEYS.map((k) => (k === 'command' ? `\`${r[k]}\`` : r[k])).join(' | ')} |`)
  return lines.join('\n')
}

/** The performance bars of issue 2 (inventory) and issue 4 (fast path), where they apply. */
function targets(scale, results) {
  const m = (id) => results.find((x) => x.id === id && x.status === 'ok')?.medianMs
  const rss = results.find((x) => x.id === 'pw-list')?.rssKiB
  const t = []
  const add = (issue, text, a, b, factor) => {
    if (a === undefined || b === undefined)
      t.push({ issue, text, verdict: 'n/a', detail: 'not measured' })
    else
      t.push({
        issue,
        text,
        verdict: a <= b * factor ? 'PASS' : 'FAIL',
        detail: `${fmtMs(a)} vs ${fmtMs(b)}: ${(a / b).toFixed(2)}x${factor !== 1 ? `, bar ${+factor.toFixed(2)}x` : ''}`,
      })
  }
  if (scale === 'small') {
    add(2, '`list --json` within 2x of `node -e 0`', m('pw-list'), m('node'), 2)
    add(2, '`who PORT` within 2x of `node -e 0`', m('pw-who'), m('node'), 2)
    add(4, '`list --json` within 1.5x of `node -e 0`', m('pw-list'), m('node'), 1.5)
    add(4, '`who PORT` within 1.5x of `node -e 0`', m('pw-who'), m('node'), 1.5)
    add(4, '`list` within 1.5x of `node -e 0`', m('pw-list-text'), m('node'), 1.5)
  } else if (scale === 'medium') {
    add(2, '`who PORT` faster than `lsof -nP -i :PORT`', m('pw-who'), m('lsof-port'), 1)
    add(2, '`list --json` within 1.5x of `ss -tulpnH`', m('pw-list'), m('ss-p'), 1.5)
    add(4, '`list --json` faster than `ss -tulpnH`', m('pw-list'), m('ss-p'), 1)
    add(4, '`who PORT` faster than `fuser PORT/tcp`', m('pw-who'), m('fuser'), 1)
  } else if (scale === 'large') {
    add(2, '`list --json` faster than `ss -tulpnH`', m('pw-list'), m('ss-p'), 1)
    add(4, '`list --json` at least 3x faster than `ss -tulpnH`', m('pw-list'), m('ss-p'), 1 / 3)
    add(4, '`who PORT` at least 2x faster than `fuser PORT/tcp`', m('pw-who'), m('fuser'), 1 / 2)
    add(
      4,
      '`who PORT` at least 5x faster than `lsof -nP -i :PORT`',
      m('pw-who'),
      m('lsof-port'),
      1 / 5,
    )
    if (rss)
      t.push({
        issue: 4,
        text: 'peak RSS of `list --json` under 150 MiB',
        verdict: rss < 150 * 1024 ? 'PASS' : 'FAIL',
        detail: fmtRss(rss),
      })
  }
  return t
}

function scaleMarkdown(s) {
  const out = []
  const a = s.population.actual
  const mc = s.machine
  out.push(
    `### ${s.scale}: ${fmtInt(mc.sockets)} sockets, ${fmtInt(mc.procs)} processes, ${fmtInt(mc.fds)} fds on the machine`,
  )
  out.push('')
  out.push(
    `Generator: ${fmtInt(a.procs)} processes holding ${fmtInt(a.tcp_listeners)} TCP listeners, ` +
      `${fmtInt(a.udp)} UDP sockets, ${fmtInt(a.established_pairs)} established pairs and 3 query sockets ` +
      `(set up in ${s.population.setup_ms} ms). PORT = ${s.port} (TCP 127.0.0.1, pid ${s.pid}). ` +
      `Load average before: ${s.loadBefore.map((x) => x.toFixed(2)).join(' ')}, after: ${s.loadAfter.map((x) => x.toFixed(2)).join(' ')}.`,
  )
  out.push('')
  out.push(mdTable(rows(s.results)))
  const t = targets(s.scale, s.results)
  if (t.length) {
    out.push('')
    out.push('Targets at this scale:')
    out.push('')
    for (const x of t) out.push(`- issue ${x.issue}: ${x.text}: **${x.verdict}** (${x.detail})`)
  }
  return out.join('\n')
}

// ---------------------------------------------------------------------------------------------
// main

let current = null
async function shutdown(code) {
  if (current) await current.stop()
  process.exit(code)
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => shutdown(130))

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  mkdirSync(WORK_DIR, { recursive: true })
  const cli = existsSync(join(ROOT, CLI))
  if (!cli)
    console.error(`warning: ${CLI} not found (run \`npm run build\`): portwarden rows skipped`)
  const npm = ensureNpmHelpers(opts.npm)
  const useHyperfine = versionOf('hyperfine', ['--version']) !== null
  if (!useHyperfine) console.error('hyperfine not found: timing with a node loop instead')

  const env = {
    date: new Date().toISOString(),
    cpu: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    tools: {
      hyperfine: useHyperfine ? versionOf('hyperfine', ['--version']) : null,
      ss: versionOf('ss', ['-V']),
      lsof: lsofVersion(),
      fuser: versionOf('fuser', ['-V']),
      netstat: versionOf('netstat', ['--version']),
      'find-process': npm ? pkgVersion('find-process') : null,
      'pid-port': npm ? pkgVersion('pid-port') : null,
    },
    uid: process.getuid?.(),
    options: { runs: opts.runs, warmup: opts.warmup, capS: opts.capS, budgetS: opts.budgetS },
  }
  console.error(`${env.date}  ${env.cpu}, ${env.memGiB} GiB, Linux ${env.kernel}, node ${env.node}`)

  const scales = []
  for (const scale of opts.scales) {
    const t0 = performance.now()
    console.error(`\n== ${scale}: starting population ...`)
    current = await startPopulation(SCALES[scale], { ttl: 3600 })
    const info = current.info
    const machine = machineCounts()
    const port = info.query.tcp4.port
    const pid = info.query.tcp4.pid
    console.error(
      `   ${fmtInt(info.actual.sockets)} sockets in ${info.actual.procs} processes (machine: ` +
        `${fmtInt(machine.sockets)} sockets, ${fmtInt(machine.procs)} processes, ${fmtInt(machine.fds)} fds); ` +
        `PORT ${port} held by pid ${pid}`,
    )
    const loadBefore = loadavg()
    const results = []
    for (const c of commandsFor(port, pid, { npm, cli })) {
      if (
        (opts.only && !opts.only.test(c.id) && !opts.only.test(c.label)) ||
        opts.skip?.test(c.id) ||
        opts.skip?.test(c.label)
      )
        continue
      if (c.unavailable) {
        results.push({ ...c, status: 'skipped', note: c.unavailable })
        continue
      }
      process.stderr.write(`   ${c.label.padEnd(40)} `)
      const busy = opts.idleWaitS > 0 ? await waitIdle(opts.idleWaitS) : null
      const r = await measure(c, opts, useHyperfine)
      if (busy !== null && busy > 0.25)
        r.note = [r.note, `machine ${Math.round(busy * 100)}% busy before`]
          .filter(Boolean)
          .join('; ')
      results.push(r)
      console.error(
        r.status === 'ok'
          ? `${fmtMs(r.medianMs).padStart(9)} median, ${fmtMs(r.minMs)} min, ${r.runs} runs, ${fmtRss(r.rssKiB)}${r.found === false ? ', HOLDER NOT FOUND' : ''}`
          : `${r.status}: ${r.note}`,
      )
    }
    const loadAfter = loadavg()
    await current.stop()
    current = null
    const s = { scale, population: info, machine, port, pid, loadBefore, loadAfter, results }
    s.seconds = Math.round((performance.now() - t0) / 1000)
    scales.push(s)
    console.log(
      `\n${scale}: ${fmtInt(machine.sockets)} sockets, ${fmtInt(machine.procs)} processes, ${fmtInt(machine.fds)} fds, PORT ${port}\n`,
    )
    console.log(textTable(rows(results)))
    for (const x of targets(scale, results))
      console.log(`  issue ${x.issue}: ${x.text.replace(/`/g, '')}: ${x.verdict} (${x.detail})`)
  }

  const md = [
    `## Run of ${env.date}`,
    '',
    `Machine: ${env.cpu}, ${env.memGiB} GiB, Linux ${env.kernel}, Node ${env.node}, uid ${env.uid}. ` +
      `Whole-process wall-clock times by ${useHyperfine ? `hyperfine ${env.tools.hyperfine}` : 'a node timing loop'} ` +
      `(no shell, output to a pipe) after ${opts.warmup} warm-up run(s) and one probe run; up to ${opts.runs} runs ` +
      `(fewer, at least 3, for commands over ${opts.budgetS} s in total); commands over ${opts.capS} s skipped. ` +
      'Peak RSS from `/usr/bin/time -f %M` (max of 3 runs for portwarden, includes children it waits for).',
    '',
    `Tools: ${Object.entries(env.tools)
      .filter(([, v]) => v)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
    '',
    ...scales.map((s) => scaleMarkdown(s) + '\n'),
  ].join('\n')
  const stamp = env.date.replace(/[:.]/g, '-')
  const mdFile = join(WORK_DIR, `results-${stamp}.md`)
  writeFileSync(mdFile, md + '\n')
  writeFileSync(
    join(WORK_DIR, `results-${stamp}.json`),
    JSON.stringify({ env, scales }, jsonRe, 2) + '\n',
  )
  if (opts.md) writeFileSync(opts.md, md + '\n')
  console.log('\n---- Markdown (for bench/RESULTS.md) ----\n')
  console.log(md)
  console.error(`\nwritten: ${mdFile}${opts.md ? ` and ${opts.md}` : ''}`)
}

function jsonRe(_k, v) {
  return v instanceof RegExp ? String(v) : v
}

function lsofVersion() {
  const r = spawnSync('lsof', ['-v'], { encoding: 'utf8', timeout: 10_000 })
  return /revision:\s*(\S+)/.exec(`${r.stdout}${r.stderr}`)?.[1] ?? null
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(WORK_DIR, 'node_modules', name, 'package.json'), 'utf8'))
      .version
  } catch {
    return null
  }
}

main().catch(async (e) => {
  console.error(e?.stack ?? String(e))
  await shutdown(1)
})
